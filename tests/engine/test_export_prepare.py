"""Before export: BatchNorm folds exactly into the conv before it, and pruning masks become plain weights."""

import torch
import torch.nn as nn
from torch.nn.utils import prune

from engine.export.onnx import fold_batchnorm, make_pruning_permanent, prepare_for_export
from engine.models import build_generator, default_specs


def _tiny(arch="dcgan", **extra):
    torch.manual_seed(1)
    G = build_generator({**default_specs(arch, (1, 28, 28), latent_dim=8)[0], **extra})
    G.train()
    with torch.no_grad():
        G(torch.randn(16, 8))
    return G.eval()


def test_batchnorm_folds_exactly_into_conv_transpose():
    G = _tiny(widths=[16, 8])
    folded = prepare_for_export(G)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in G.modules())  # the original is untouched
    z = torch.randn(4, 8)
    with torch.no_grad():
        assert (folded(z) - G(z)).abs().max().item() < 1e-5


def test_resnet_folds_only_bn_after_conv():
    G = _tiny("resnet", channels=[16, 8, 8], blocks=[[8], [4], []])
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in G.modules())
    m = prepare_for_export(G)
    left = sum(isinstance(x, nn.BatchNorm2d) for x in m.modules())
    assert 0 < left < n_bn  # pre-activation BN (after a residual sum) cannot fold
    assert fold_batchnorm(m) == 0
    z = torch.randn(3, 8)
    with torch.no_grad():
        assert (m(z) - G(z)).abs().max().item() < 1e-5


def test_pruning_masks_become_permanent():
    G = _tiny(widths=[16, 8])
    prune.l1_unstructured(G.net[3], "weight", amount=0.5)
    m = prepare_for_export(G)
    assert not prune.is_pruned(m) and prune.is_pruned(G)
    conv = m.net[3]
    assert "weight_orig" not in dict(conv.named_parameters())
    assert (conv.weight == 0).float().mean().item() >= 0.5
    assert make_pruning_permanent(m) == 0
    z = torch.randn(2, 8)
    with torch.no_grad():
        assert (m(z) - G(z)).abs().max().item() < 1e-5
