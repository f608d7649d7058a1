"""Schedules: the cubic AGP amounts, and the lottery ticket's rewind of the surviving weights to step k."""

import pytest
import torch

from engine.models import build_generator, default_specs
from engine.prune.layers import prunable_layers
from engine.prune.schedules import agp_amounts, relative_step, rewind, snapshot
from engine.prune.unstructured import make_permanent, prune_weights, sparsity


def test_agp_reaches_the_final_amount_fast_first():
    a = agp_amounts(0.8, 4)
    assert a[-1] == pytest.approx(0.8) and all(x < y for x, y in zip(a, a[1:], strict=False))
    assert a[0] - 0 > a[-1] - a[-2]  # big steps first, gentle at the end
    # removing the relative steps one after another leaves 1 - total of the channels
    left = 1.0
    for done, total in zip([0.0] + a[:-1], a, strict=True):
        left *= 1 - relative_step(done, total)
    assert left == pytest.approx(0.2)


def test_lottery_rewind_resets_survivors_to_their_step_k_values():
    torch.manual_seed(0)
    spec = default_specs("mlp", (1, 8, 8), latent_dim=8)[0]
    G = build_generator({**spec, "widths": [16, 32]})
    layers = prunable_layers(G, structural=False)
    theta_k = snapshot(layers)  # the weights at the early step k
    with torch.no_grad():  # "training" after step k moves every weight
        for _, m in layers:
            m.weight.add_(torch.randn_like(m.weight))
    masks = prune_weights(layers, "l1-unstructured", 0.6, "global", permanent=False)
    rewind(layers, masks, theta_k)
    make_permanent(G)
    for name, m in layers:
        keep = masks[name].bool()
        assert torch.equal(m.weight[keep], theta_k[name][keep])
        assert bool((m.weight[~keep] == 0).all())
    assert sparsity(layers)[1] == pytest.approx(0.6, abs=1e-3)


def test_lottery_schedule_through_the_stage_keeps_step_k_weights_and_reaches_the_amount(tmp_path):
    from engine.events import CancelToken
    from engine.stages.prune.config import PruneConfig
    from engine.stages.prune.run import run_prune
    from tests.engine.tiny import dense_workspace

    ws = dense_workspace(tmp_path / "ws", "mlp", latent_dim=8, g_widths=(16, 32), d_widths=(32, 16))
    cfg = PruneConfig(method="l1-unstructured", amount=0.75, scope="global", schedule="lottery", rounds=2,
                      finetune_steps=2, rewind_step=1, batch_size=8, device="cpu")
    list(run_prune(cfg, ws, CancelToken()))
    assert ws.load_checkpoint("rewind")["step"] == 1
    pruned = ws.load_checkpoint("pruned")["generator"]
    weights = [pruned[f"net.{i}.weight"] for i in (0, 2, 4)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    assert zeros / sum(w.numel() for w in weights) == pytest.approx(0.75, abs=1e-3)
    assert ws.read_manifest()["pruning"][-1]["schedule"] == "lottery"
