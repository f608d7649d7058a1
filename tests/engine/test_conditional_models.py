"""The conditional DCGAN pair: G takes (z, class), D projects the class; pruning keeps both consistent."""

import pytest
import torch

from engine.config import ModelConfig
from engine.errors import ConfigError, WorkspaceError
from engine.models import build_pair, default_specs, num_classes
from engine.models.conditional import default_labels
from engine.prune.structured import prune_channels
from engine.workspace import load_checkpoint_file
from tests.conditional_workspace import conditional_dense_workspace


def _pair(classes=10):
    torch.manual_seed(0)
    g, d = default_specs("dcgan", (1, 28, 28), latent_dim=16, num_classes=classes)
    g["widths"], d["widths"] = [32, 16], [16, 32]
    return build_pair({"generator": g, "discriminator": d})


def test_the_class_changes_the_image_and_the_default_labels_take_turns():
    G, D = _pair()
    G.eval()
    z = torch.randn(4, 16)
    assert G(z, torch.tensor([3, 3, 3, 3])).shape == (4, 1, 28, 28)
    assert not torch.allclose(G(z, torch.full((4,), 3)), G(z, torch.full((4,), 7)))
    assert default_labels(12, 10).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert torch.equal(G(z), G(z, default_labels(4, 10)))  # no labels: 0, 1, 2, 3
    x = torch.randn(4, 1, 28, 28)
    assert not torch.allclose(D.logits(x, torch.full((4,), 1)), D.logits(x, torch.full((4,), 2)))
    assert G.spec()["num_classes"] == 10 and G.spec()["embed_dim"] == 16 and G.latent_dim == 16
    assert D.spec()["num_classes"] == 10 and num_classes(G) == 10 and G.task == "conditional"


def test_labels_of_the_wrong_shape_are_refused():
    G, _ = _pair()
    with pytest.raises(ConfigError, match=r"one class id per sample \(4\), got shape \[2\]"):
        G(torch.randn(4, 16), torch.tensor([1, 2]))


@pytest.mark.parametrize("method", ["channel-l1", "channel-bn", "channel-taylor"])
def test_channel_pruning_cuts_the_projection_with_the_last_layer_and_leaves_the_class_input(method):
    G, D = _pair()
    x, y = torch.randn(3, 1, 28, 28), torch.tensor([1, 5, 9])
    prune_channels(G, method, 0.5)
    prune_channels(D, method, 0.5)
    assert G.spec()["widths"] == [16, 8] and G.embed.weight.shape == (10, 16)  # the class input is whole
    assert D.spec()["widths"] == [8, 16] and D.project.weight.shape == (10, 16)  # follows D's last layer
    G2, D2 = build_pair({"generator": G.spec(), "discriminator": D.spec()})
    G2.load_state_dict(G.state_dict())
    D2.load_state_dict(D.state_dict())
    assert torch.allclose(D2.eval().logits(x, y), D.eval().logits(x, y))


def test_the_task_needs_a_dcgan_and_a_known_name():
    with pytest.raises(ConfigError, match=r"^The conditional task needs --arch dcgan \(got mlp\)\.$"):
        ModelConfig(arch="mlp", task="conditional").validate()
    with pytest.raises(ConfigError, match=r"^model.task must be one of unconditional, conditional"):
        ModelConfig(task="colour").validate()
    assert ModelConfig().task == "unconditional"


def test_a_checkpoint_whose_task_does_not_fit_its_model_is_refused(tmp_path):
    ws = conditional_dense_workspace(tmp_path / "ws")
    path = ws.checkpoint_path("dense")
    ckpt = load_checkpoint_file(path)
    assert ckpt["task"] == "conditional"
    for edit, words in ((dict(task="unconditional"), "'task' is unconditional but arch.generator takes 10 classes"),
                        (dict(task="paint"), "'task' must be one of"),):
        torch.save({**ckpt, **edit}, tmp_path / "edited.pt")
        with pytest.raises(WorkspaceError, match=words):
            load_checkpoint_file(tmp_path / "edited.pt")
    d_spec = {**ckpt["arch"]["discriminator"], "num_classes": 7}
    torch.save({**ckpt, "arch": {**ckpt["arch"], "discriminator": d_spec}}, tmp_path / "edited.pt")
    with pytest.raises(WorkspaceError, match="arch.generator takes 10 classes but arch.discriminator 7"):
        load_checkpoint_file(tmp_path / "edited.pt")
