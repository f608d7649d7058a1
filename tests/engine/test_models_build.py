"""Every arch of the catalogue x image shape builds, runs forward/backward, and rebuilds from spec + state_dict."""

import pytest
import torch
import torch.nn as nn

from engine.archs import ARCHS, archs_for
from engine.errors import ConfigError
from engine.models import arch_code, build_discriminator, build_generator, default_specs, image_specs
from engine.tasks import IMAGE, NOISE, TASKS

SHAPES = [(1, 28, 28), (3, 32, 32)]
NOISE_ARCHS = [a.name for a in ARCHS.values() if a.trainable and a.kind == NOISE]
IMAGE_ARCHS = [a.name for a in ARCHS.values() if a.trainable and a.kind == IMAGE]


def test_every_catalogued_arch_has_code_of_its_kind():
    """The catalogue (torch-free) and the code it names agree: a noise arch makes specs from a latent size, an image
    arch from an input shape; every task can be trained by at least one arch."""
    for arch in ARCHS.values():
        code = arch_code(arch.name)
        assert callable(code.generator) and callable(code.discriminator) and callable(code.check), arch.name
        assert (code.image_defaults is not None) == (arch.kind == IMAGE), arch.name
        assert (code.noise_defaults is not None) == (arch.kind == NOISE), arch.name
    assert all(archs_for(task) for task in TASKS), {t: archs_for(t) for t in TASKS}


@pytest.mark.parametrize("arch", [a.name for a in ARCHS.values() if a.trainable and a.conditional])
def test_every_conditional_arch_builds_its_class_pair(arch):
    gspec, dspec = default_specs(arch, (1, 28, 28), latent_dim=16, num_classes=10)
    G, D = build_generator(gspec).eval(), build_discriminator(dspec).eval()
    assert G.num_classes == D.num_classes == 10
    assert G.spec() == gspec and D.spec() == dspec


@pytest.mark.parametrize("arch", IMAGE_ARCHS)
def test_every_image_arch_round_trips_its_spec(arch):
    torch.manual_seed(0)
    gspec, dspec = image_specs(arch, (1, 8, 8), (1, 16, 16), residual=True)
    G, D = build_generator(gspec).eval(), build_discriminator(dspec).eval()
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    assert G(x).shape == (2, 1, 16, 16)
    assert G.spec() == gspec and D.spec() == dspec
    G2 = build_generator(G.spec()).eval()
    G2.load_state_dict(G.state_dict())
    assert torch.equal(G(x), G2(x))


@pytest.mark.parametrize("arch", NOISE_ARCHS)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_backward_and_spec_round_trip(arch, shape):
    torch.manual_seed(0)
    gspec, dspec = default_specs(arch, shape, latent_dim=100)
    G, D = build_generator(gspec), build_discriminator(dspec)
    x = G(torch.randn(3, 100))
    assert x.shape == (3, *shape) and x.min() >= -1 and x.max() <= 1
    logits = D.logits(x)
    assert logits.shape == (3,)
    logits.sum().backward()
    assert all(p.grad is not None for p in G.parameters())
    assert G.spec() == gspec and D.spec() == dspec
    G2 = build_generator(G.spec())
    G2.load_state_dict(G.state_dict())
    G.eval(), G2.eval()
    z = torch.randn(2, 100)
    assert torch.equal(G(z), G2(z))


def test_mlp_is_the_reference_exactly():
    gspec, dspec = default_specs("mlp", (1, 28, 28))
    G, D = build_generator(gspec), build_discriminator(dspec)
    g_layers = [(type(m).__name__, getattr(m, "in_features", None), getattr(m, "out_features", None))
                for m in G.net]
    assert g_layers == [("Linear", 100, 256), ("LeakyReLU", None, None), ("Linear", 256, 512),
                        ("LeakyReLU", None, None), ("Linear", 512, 1024), ("LeakyReLU", None, None),
                        ("Linear", 1024, 784), ("Tanh", None, None)]
    assert all(m.negative_slope == 0.2 for m in G.net if isinstance(m, nn.LeakyReLU))
    linears = [(m.in_features, m.out_features) for m in D.net if isinstance(m, nn.Linear)]
    assert linears == [(784, 1024), (1024, 512), (512, 256), (256, 1)]
    assert [m.p for m in D.net if isinstance(m, nn.Dropout)] == [0.3, 0.3, 0.3]
    D.eval()
    x = torch.randn(2, 1, 28, 28)
    assert torch.allclose(D(x), torch.sigmoid(D.net(x.flatten(1))).squeeze(1))


def test_widths_come_from_the_spec_not_the_code():
    gspec, _ = default_specs("dcgan", (1, 28, 28))
    gspec["widths"] = [40, 24]
    G = build_generator(gspec)
    assert G(torch.randn(2, 100)).shape == (2, 1, 28, 28)
    assert G.spec()["widths"] == [40, 24]


def test_resnet_blocks_can_be_removed_whole():
    gspec, _ = default_specs("resnet", (1, 28, 28))
    G = build_generator(gspec).eval()
    names = G.block_names()
    assert len(names) == 4
    G.remove_blocks(names[:3])
    assert G(torch.randn(2, 100)).shape == (2, 1, 28, 28)
    assert sum(len(b) for b in G.spec()["blocks"]) == 1
    with pytest.raises(ConfigError, match="Unknown block"):
        G.remove_blocks(["stages.9.9"])


def test_unsupported_image_size_is_a_clear_error():
    with pytest.raises(ConfigError, match="Image size 30 is not supported"):
        default_specs("dcgan", (1, 30, 30))
    with pytest.raises(ConfigError, match="Unknown architecture 'vit'"):
        default_specs("vit", (1, 28, 28))
    with pytest.raises(ConfigError, match="turns an image into an image"):
        default_specs("unet", (1, 28, 28))
    with pytest.raises(ConfigError, match="does not take an image in"):
        image_specs("dcgan", (1, 8, 8), (1, 16, 16), residual=True)
