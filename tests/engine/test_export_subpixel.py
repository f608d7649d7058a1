"""The sub-pixel rewrite (ConvTranspose → Conv + depth-to-space) computes the same function."""

import pytest
import torch
import torch.nn as nn

from engine.export.onnx import prepare_for_export
from engine.export.subpixel import SubPixelConvTranspose2d, to_subpixel
from engine.models import build_generator, default_specs


@pytest.mark.parametrize("k,s,p", [(4, 2, 1), (4, 2, 0), (3, 1, 1), (6, 2, 2), (3, 3, 0)])
@pytest.mark.parametrize("side", [1, 5])
def test_single_layer_is_exact(k, s, p, side):
    torch.manual_seed(0)
    ct = nn.ConvTranspose2d(6, 4, k, s, p, bias=True)
    x = torch.randn(3, 6, side, side)
    with torch.no_grad():
        assert (SubPixelConvTranspose2d(ct)(x) - ct(x)).abs().max().item() < 1e-5


@pytest.mark.parametrize("arch,shape,extra", [
    ("dcgan", (1, 28, 28), {"widths": [16, 8]}),
    ("dcgan", (3, 32, 32), {"widths": [16, 8, 8]}),
    ("resnet", (1, 28, 28), {"channels": [16, 8, 8], "blocks": [[8], [4], []]}),
])
def test_generator_rewrite_matches_original(arch, shape, extra):
    torch.manual_seed(0)
    spec = {**default_specs(arch, shape, latent_dim=16)[0], **extra}
    G = build_generator(spec)
    G.train()
    with torch.no_grad():
        G(torch.randn(8, 16))  # non-trivial BatchNorm statistics, so folding is really tested
    G.eval()
    sub = to_subpixel(G)
    folded_sub = prepare_for_export(G, subpixel=True)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in sub.modules())
    z = torch.randn(5, 16)
    with torch.no_grad():
        ref = G(z)
        assert (sub(z) - ref).abs().max().item() < 1e-5
        assert (folded_sub(z) - ref).abs().max().item() < 1e-5
