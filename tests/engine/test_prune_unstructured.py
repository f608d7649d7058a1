"""Weight pruning: the sparsity equals the amount, per layer or globally, and the masks are made permanent."""

import pytest
import torch

from engine.models import build_generator, default_specs
from engine.prune.layers import prunable_layers
from engine.prune.unstructured import lamp_scores, prune_weights, sparsity


def _generator():
    torch.manual_seed(0)
    spec = default_specs("dcgan", (1, 28, 28), latent_dim=16)[0]
    return build_generator({**spec, "widths": [32, 16]})


@pytest.mark.parametrize("method", ["l1-unstructured", "random-unstructured", "lamp-unstructured"])
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_sparsity_equals_amount(method, scope):
    G = _generator()
    layers = prunable_layers(G, structural=False)
    prune_weights(layers, method, 0.7, scope)
    per_layer, total = sparsity(layers)
    assert total == pytest.approx(0.7, abs=1e-4)
    if scope == "layer":
        assert all(s == pytest.approx(0.7, abs=2e-3) for s in per_layer.values())
    # prune.remove() ran: plain weights in the state dict, no masks left behind
    assert not any(k.endswith(("weight_orig", "weight_mask")) for k in G.state_dict())
    assert G(torch.randn(2, 16)).shape == (2, 1, 28, 28)


def test_l1_keeps_the_largest_weights_and_a_second_round_reaches_the_total():
    G = _generator()
    layers = prunable_layers(G, structural=False)
    w = layers[1][1].weight.detach().clone()
    prune_weights(layers, "l1-unstructured", 0.5, "layer")
    kept = layers[1][1].weight.detach() != 0
    assert w.abs()[kept].min() >= w.abs()[~kept].max()
    prune_weights(layers, "random-unstructured", 0.8, "layer")  # already-zero weights count towards the 80%
    assert sparsity(layers)[1] == pytest.approx(0.8, abs=1e-4)


def test_lamp_scores_are_largest_for_the_largest_weight_and_equal_one_there():
    w = torch.tensor([0.1, -3.0, 0.5, 2.0])
    s = lamp_scores(w)
    assert torch.argmax(s) == 1 and float(s[1]) == pytest.approx(1.0)
    assert float(s[0]) == pytest.approx(0.01 / (0.01 + 0.25 + 4 + 9))
