"""The teacher recipe's settings: a separate D learning rate (TTUR) and the R1 penalty on D at real data."""

import pytest
import torch

from engine.config import TrainConfig
from engine.errors import ConfigError
from engine.events import CancelToken
from engine.gan_step import r1_penalty
from engine.models import build_pair, default_specs
from engine.optim import make_optimizers
from engine.stages.train.run import run_train
from engine.workspace import Workspace, load_checkpoint_file


def test_lr_d_sets_only_the_discriminator_learning_rate():
    G, D = build_pair(dict(zip(("generator", "discriminator"), default_specs("mlp", (1, 28, 28), 16))))
    opt_g, opt_d = make_optimizers(G, D, TrainConfig(lr=1e-4, lr_d=4e-4))
    assert opt_g.param_groups[0]["lr"] == 1e-4 and opt_d.param_groups[0]["lr"] == 4e-4
    opt_g, opt_d = make_optimizers(G, D, TrainConfig(lr=3e-4))
    assert opt_d.param_groups[0]["lr"] == 3e-4  # unset: D follows lr, as before


@pytest.mark.parametrize("bad", [{"lr_d": 0.0}, {"lr_d": -1e-4}, {"r1": -1.0}, {"r1": "high"}])
def test_bad_recipe_values_are_refused_in_one_sentence(bad):
    with pytest.raises(ConfigError, match=r"train\.(lr_d|r1) must be"):
        TrainConfig(**bad).validate()


def test_r1_is_the_squared_gradient_norm_of_the_logit():
    D = torch.nn.Linear(4, 1)
    D.logits = lambda x: D(x).squeeze(1)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[1.0, 2.0, 0.0, -2.0]]))
    assert r1_penalty(D, torch.randn(8, 4)).item() == pytest.approx(9.0)  # |w|^2 for a linear D


def test_training_with_r1_and_ttur_runs_and_changes_d(tmp_path, tiny_cfg):
    plain, r1 = Workspace(tmp_path / "a"), Workspace(tmp_path / "b")
    list(run_train(tiny_cfg("dcgan", steps=4, lr_d=4e-4), plain, CancelToken()))
    list(run_train(tiny_cfg("dcgan", steps=4, lr_d=4e-4, r1=10.0), r1, CancelToken()))
    a = load_checkpoint_file(plain.checkpoint_path("dense"))
    b = load_checkpoint_file(r1.checkpoint_path("dense"))
    assert b["optim"]["d"]["param_groups"][0]["lr"] == 4e-4
    first = next(iter(a["discriminator"]))
    assert torch.isfinite(b["discriminator"][first]).all()
    assert not torch.equal(a["discriminator"][first], b["discriminator"][first])  # the penalty took part
