"""Channel pruning removes channels for real in every arch, G and D, keeps the output, and round-trips via spec."""

import copy

import pytest
import torch

from engine.models import build_pair, default_specs, discriminator_from_checkpoint, generator_from_checkpoint
from engine.prune.layers import output_layer, pick_layers
from engine.prune.structured import prune_channels, widths
from engine.workspace import Workspace


def small_specs(arch, shape):
    """Default layouts at a quarter of the widths: the same graph shapes, a fraction of the compute."""
    gspec, dspec = default_specs(arch, shape, latent_dim=16)
    for spec in (gspec, dspec):
        for key in ("widths", "channels"):
            if key in spec:
                spec[key] = [w // 4 for w in spec[key]]
        if "blocks" in spec:
            spec["blocks"] = [[w // 4 for w in ws] for ws in spec["blocks"]]
    return gspec, dspec


CASES = [("mlp", (1, 28, 28), "channel-l1"), ("dcgan", (1, 28, 28), "channel-l2"),
         ("dcgan", (3, 32, 32), "channel-bn"), ("resnet", (1, 28, 28), "channel-taylor")]


@pytest.mark.parametrize("arch,shape,method", CASES)
def test_every_hidden_width_shrinks_by_the_amount(arch, shape, method, tmp_path):
    torch.manual_seed(0)
    gspec, dspec = small_specs(arch, shape)
    G, D = build_pair({"generator": gspec, "discriminator": dspec})
    for model, x in ((G, torch.randn(2, 16)), (D, torch.randn(2, *shape))):
        before, out_shape = widths(model), model(x).shape
        teacher = copy.deepcopy(model)
        prune_channels(model, method, 0.5, round_to=4, teacher=teacher)
        after = widths(model)
        out = output_layer(model)
        assert after[out] == before[out]
        for name, w in before.items():
            if name != out:  # half of the channels, rounded down to a multiple of 4 (at least 4 when possible)
                assert after[name] == max(4, int(w * 0.5) // 4 * 4), name
        assert model(x).shape == out_shape
    assert G.latent_dim == 16
    ws = Workspace(tmp_path / "ws")
    ws.save_checkpoint("pruned", {"arch": {"generator": G.spec(), "discriminator": D.spec()},
                                  "generator": G.state_dict(), "discriminator": D.state_dict()})
    ckpt = ws.load_checkpoint("pruned")
    G2, D2 = generator_from_checkpoint(ckpt), discriminator_from_checkpoint(ckpt)
    z = torch.randn(3, 16)
    assert torch.allclose(G2(z), G.eval()(z), atol=1e-6)
    assert widths(D2) == widths(D)


def test_a_chosen_residual_layer_takes_its_coupled_layers_along():
    torch.manual_seed(0)
    gspec, dspec = small_specs("resnet", (1, 28, 28))
    G, _ = build_pair({"generator": gspec, "discriminator": dspec})
    prune_channels(G, "channel-l1", 0.5, layers=pick_layers(G, ["stem.0"], True, "G"))
    w = widths(G)
    assert w["stem.0"] == w["stages.0.0.body.5"] == w["stages.0.1.body.5"] == 16
    assert w["stages.0.0.body.2"] == 32 and w["ups.0.2"] == 16  # not coupled: untouched
    assert G(torch.randn(2, 16)).shape == (2, 1, 28, 28)


def test_an_amount_that_would_empty_a_layer_keeps_one_channel_and_warns():
    torch.manual_seed(0)
    gspec, dspec = default_specs("mlp", (1, 28, 28), latent_dim=8)
    gspec["widths"] = [3, 6]
    G, _ = build_pair({"generator": gspec, "discriminator": dspec})
    notes = prune_channels(G, "channel-l1", 0.9)
    assert widths(G)["net.0"] == 1 and any("net.0" in n for n in notes)
