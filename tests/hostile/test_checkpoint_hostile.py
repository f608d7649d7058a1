"""Checkpoints edited by hand: one line naming the file and the key, exit 2, the workspace unchanged."""

from __future__ import annotations

import io

import pytest
import torch

from tests.hostile.conftest import assert_consistent, assert_refused, set_at, snapshot
from tests.hostile.inprocess import gan_prune


def _edit(ws, change) -> None:
    """Rewrite checkpoints/dense.pt with one hand edit (plain torch.save, as a person would)."""
    path = ws.checkpoint_path("dense")
    ckpt = torch.load(io.BytesIO(path.read_bytes()), weights_only=True)
    change(ckpt)
    torch.save(ckpt, path)


def _drop(*keys):
    def change(ckpt):
        d = ckpt
        for k in keys[:-1]:
            d = d[k]
        del d[keys[-1]]
    return change


def _nan_weight(ckpt):
    ckpt["generator"]["net.0.weight"][0, 0, 0, 0] = float("nan")


def _extra_layer(ckpt):
    ckpt["generator"]["net.99.weight"] = torch.zeros(3)


# (the edit, words the one line must contain besides the file name)
EDITS = {
    "no arch": (_drop("arch"), ["'arch'", "missing"]),
    "arch is text": (set_at("arch", "dcgan"), ["'arch' must be a table"]),
    "negative width": (set_at("arch", "generator", "widths", [32, -16]), ["arch.generator.widths[1]", "(got -16)"]),
    "zero width": (set_at("arch", "discriminator", "widths", [0, 32]), ["arch.discriminator.widths[0]", "(got 0)"]),
    "width is text": (set_at("arch", "generator", "widths", "abc"), ["arch.generator.widths", "'abc'"]),
    "huge latent": (set_at("arch", "generator", "latent_dim", 10**12), ["arch.generator.latent_dim", "1000000000000"]),
    "no latent": (_drop("arch", "generator", "latent_dim"), ["arch.generator", "'latent_dim'"]),
    "bad image shape": (set_at("arch", "generator", "image_shape", "x,y"), ["arch.generator.image_shape"]),
    "unknown arch": (set_at("arch", "generator", "arch", "vit"), ["arch.generator.arch", "'vit'"]),
    "G and D differ": (set_at("arch", "discriminator", "image_shape", [3, 28, 28]), ["arch.discriminator",
                                                                                  "not one model"]),
    "step is text": (set_at("step", "abc"), ["'step'", "'abc'"]),
    "negative step": (set_at("step", -5), ["'step'", "-5"]),
    "no generator state": (_drop("generator"), ["'generator'", "missing"]),
    "no discriminator state": (_drop("discriminator"), ["'discriminator'", "missing"]),
    "weights do not fit the arch": (set_at("arch", "generator", "widths", [16, 16]),
                                    ["generator['net.0.weight']", "shape [16, 32, 7, 7]", "[16, 16, 7, 7]"]),
    "an extra layer": (_extra_layer, ["generator['net.99.weight']", "not a layer"]),
    "NaN weights": (_nan_weight, ["generator['net.0.weight']", "NaN"]),
    "data is text": (set_at("data", "mnist"), ["'data' must be a table"]),
    "data.image_shape is a number": (set_at("data", {"image_shape": 5}), ["data.image_shape", "5"]),
    "unknown loss": (set_at("loss", "wasserstein"), ["'loss'", "'wasserstein'"]),
    "optimizer state of another model": (set_at("optim", {"g": {"state": {}, "param_groups": [{"params": [0, 1]}]},
                                                        "d": {"state": {}, "param_groups": []}}),
                                         ["optim.g", "is for 2 tensors but the model has"]),
    "random state is text": (set_at("rng", {"noise": "abc"}), ["rng.noise", "uint8"]),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_info_refuses_a_hand_edited_checkpoint(tiny_ws, capsys, edit):
    change, words = EDITS[edit]
    _edit(tiny_ws, change)
    before = snapshot(tiny_ws.root)
    r = gan_prune(capsys, "info", "-w", str(tiny_ws.root))
    assert_refused(r, "checkpoints/dense.pt", "edited or damaged", *words)
    assert snapshot(tiny_ws.root) == before
    assert_consistent(tiny_ws.root)


@pytest.mark.parametrize("command", [
    ["prune", "--method", "channel-l1", "--amount", "0.5"],
    ["export", "--precision", "fp32"],
    ["layers"],
])
def test_later_stages_refuse_it_before_writing(tiny_ws, capsys, command):
    _edit(tiny_ws, set_at("arch", "generator", "widths", [32, -1]))
    before = snapshot(tiny_ws.root)
    r = gan_prune(capsys, command[0], "-w", str(tiny_ws.root), *command[1:])
    assert_refused(r, "checkpoints/dense.pt", "arch.generator.widths[1]", "(got -1)")
    assert snapshot(tiny_ws.root) == before
    assert_consistent(tiny_ws.root)


def test_a_sound_checkpoint_still_loads(tiny_ws, capsys):
    r = gan_prune(capsys, "info", "-w", str(tiny_ws.root), "--json")
    assert r.code == 0, r.err
    assert '"step": 0' in r.out and r.err == ""
