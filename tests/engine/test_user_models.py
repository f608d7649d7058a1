"""Imported generators of any Conv/ConvTranspose/Linear/BatchNorm shape: channel pruning through the dependency
graph, a rebuild from the spec (file + hash + pruned layer shapes) that gives the same images, and refusals."""

import sys

import pytest
import torch

from engine.errors import ConfigError
from engine.models import build_generator
from engine.models.user import UserDiscriminator, UserGenerator, UserImageGenerator, tensor_shapes
from engine.models.user_probe import find_final_sigmoid, probe_generator
from engine.models.user_source import build_class, file_sha256
from engine.prune.structured import prune_channels
from engine.stages.prune.run import measure
from tests.engine.user_model import FIXTURE

ZOO = FIXTURE.parent / "user_zoo.py"


def imported(cls: str, path=ZOO) -> UserGenerator | UserImageGenerator:
    sha = file_sha256(path)
    torch.manual_seed(0)
    net = build_class(path, cls, {}, sha)
    built = tensor_shapes(net)
    sig = probe_generator(net, path, cls)
    spec = {"arch": "user", "role": "generator", "source": str(path), "sha256": sha, "class": cls, "args": {},
            "image_shape": list(sig.image_shape)}
    if sig.input_shape:
        return UserImageGenerator({**spec, "input_shape": list(sig.input_shape), "task": "superres"}, net, built)
    spec.update(latent_dim=sig.latent_dim, latent_layout=sig.latent_layout)
    return UserGenerator({**spec, "num_classes": sig.num_classes} if sig.num_classes else spec, net, built)


@pytest.mark.parametrize("cls, latent, layout, macs_left, resized", [
    ("MLPGen", 32, "flat", 53248, ["body.0", "body.1", "body.3", "body.5"]),
    ("ProjGen", 32, "flat", 54880, ["up.3", "up.4", "up.7"]),  # the Linear→view projection stays whole
    ("ResGen", 16, "map", 257936, ["stem", "block.a", "block.dw", "block.bn", "up1", "up2"]),
])
def test_pruned_channels_rebuild_from_the_spec_to_the_same_images(cls, latent, layout, macs_left, resized):
    G = imported(cls)
    assert (G.latent_dim, G.latent_layout, G.image_shape) == (latent, layout, (1, 28, 28))
    dense_macs = measure(G)["macs"]
    prune_channels(G, "channel-l1", 0.5)
    assert measure(G)["macs"] == macs_left < dense_macs
    spec = G.spec()
    assert list(spec["resized"]) == resized
    rebuilt = build_generator(spec)
    rebuilt.load_state_dict(G.state_dict())
    z = torch.randn(3, latent, generator=torch.Generator().manual_seed(1))
    assert torch.equal(rebuilt.eval()(z), G.eval()(z))


def test_a_forward_that_fixes_a_width_is_refused_when_pruning_would_break_it():
    G = imported("FixedViewGen")
    with pytest.raises(ConfigError, match=r"broke the forward of FixedViewGen .*invalid for input.*\(--layers\)"):
        prune_channels(G, "channel-l1", 0.5)


def test_a_slim_student_cannot_be_made_of_an_imported_class():
    spec = dict(imported("ResGen").spec(), widths=[8, 4])
    with pytest.raises(ConfigError, match="imported model, whose widths come from pruning only"):
        build_generator(spec)


def test_the_discriminators_last_sigmoid_is_found_and_left_out():
    sha = file_sha256(FIXTURE)
    net = build_class(FIXTURE, "TinyDiscriminator", {}, sha)
    images = torch.rand(4, 1, 28, 28) * 2 - 1
    probabilities = net.eval()(images)
    assert find_final_sigmoid(net, images, FIXTURE, "TinyDiscriminator") == "main.6"
    D = UserDiscriminator({"source": str(FIXTURE), "sha256": sha, "class": "TinyDiscriminator", "args": {},
                           "image_shape": [1, 28, 28], "sigmoid_layer": "main.6"}, net)
    assert torch.allclose(torch.sigmoid(D.eval().logits(images)), probabilities, atol=1e-6)
    assert D.spec()["sigmoid_layer"] == "main.6" and D.spec()["resized"] == {}


def test_a_file_imports_helpers_from_its_own_folder_as_when_its_author_runs_it(tmp_path):
    (tmp_path / "gan_user_blocks_for_test.py").write_text(
        "import torch.nn as nn\n\ndef up(a, b):\n"
        "    return nn.Sequential(nn.ConvTranspose2d(a, b, 4, 2, 1), nn.Tanh())\n")
    (tmp_path / "gen.py").write_text(
        "import torch.nn as nn\nfrom gan_user_blocks_for_test import up\n\n"
        "class G(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.main = nn.Sequential(nn.ConvTranspose2d(8, 4, 4), up(4, 1))\n\n"
        "    def forward(self, z):\n        return self.main(z)\n")
    G = imported("G", tmp_path / "gen.py")
    assert (G.latent_dim, G.latent_layout, G.image_shape) == (8, "map", (1, 8, 8))
    assert str(tmp_path) not in sys.path  # the folder is on the path only while the file runs


def test_a_conditional_generator_is_read_from_its_forward_and_its_embedding():
    G = imported("CondGen")
    assert (G.latent_dim, G.latent_layout, G.num_classes, G.task) == (16, "flat", 10, "conditional")
    z, labels = torch.randn(4, 16, generator=torch.Generator().manual_seed(2)), torch.tensor([3, 3, 7, 0])
    before = G.eval()(z, labels)
    assert not torch.allclose(before[0], G(z, torch.tensor([4, 3, 7, 0]))[0])  # the label is used
    prune_channels(G, "channel-l1", 0.5)
    spec = G.spec()
    assert spec["num_classes"] == 10 and list(spec["resized"]) == ["main.0", "main.1", "main.3", "main.4", "main.6"]
    rebuilt = build_generator(spec)
    rebuilt.load_state_dict(G.state_dict())
    assert torch.equal(rebuilt.eval()(z, labels), G.eval()(z, labels))


def test_an_image_to_image_generator_prunes_through_its_skip_concatenation():
    G = imported("TinyUNet")
    assert (G.input_shape, G.image_shape) == ((1, 14, 14), (1, 28, 28))
    assert not hasattr(G, "latent_dim")  # the stages feed it images, not latents
    x = torch.rand(3, 1, 14, 14, generator=torch.Generator().manual_seed(3)) * 2 - 1
    dense_macs = measure(G)["macs"]
    prune_channels(G, "channel-l1", 0.5)
    assert measure(G)["macs"] < 0.4 * dense_macs
    spec = G.spec()
    assert spec["resized"]["out.0"]["tensors"]["weight"] == [16, 1, 4, 4]  # 8 up + 8 skip channels in
    rebuilt = build_generator(spec)
    rebuilt.load_state_dict(G.state_dict())
    assert torch.equal(rebuilt.eval()(x), G.eval()(x))
