"""ONNX files for gan-sample and the studio's Generate page: wrong or missing gan.* metadata, files that are not
generators, bad --out paths. Always one line naming the file and key, exit 2, and no image written."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from tests.engine.test_ondevice import tiny_generator
from tests.hostile.conftest import assert_refused, run_cli, snapshot
from tests.hostile.inprocess import gan_sample
from tests.hostile.sampler_models import save_graph


def _with_metadata(path, **changes):
    """tiny_generator (z [batch, 6] → image [batch, 1, 4, 4], tanh) with some gan.* values replaced or removed."""
    tiny_generator(path)
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    for key, value in changes.items():
        key = "gan." + key
        props.pop(key, None) if value is None else props.__setitem__(key, value)
    del model.metadata_props[:]
    for k, v in props.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(model, str(path))
    return path


def _identity(path):
    return save_graph(path, [helper.make_node("Identity", ["z"], ["image"])],
                  [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 6])],
                  [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 6])],
                  metadata={"gan.latent_dim": "6", "gan.image_shape": "1,4,4", "gan.output_range": "-1,1"})


def _nan_maker(path):
    """z → z * NaN → reshaped into 1x2x3 images: a generator whose weights were damaged."""
    nan = helper.make_tensor("nan", TensorProto.FLOAT, [], [float("nan")])
    shape = helper.make_tensor("s", TensorProto.INT64, [4], [-1, 1, 2, 3])
    return save_graph(path, [helper.make_node("Mul", ["z", "nan"], ["m"]), helper.make_node("Reshape", ["m", "s"],
                                                                                       ["image"])],
                  [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 6])],
                  [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 2, 3])], [nan, shape])


def _dynamic_latent(path):
    """A latent input of unknown size and no gan.latent_dim: nothing says how long z is."""
    return save_graph(path, [helper.make_node("Identity", ["z"], ["image"])],
                  [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", "latent"])],
                  [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 4, 4])])


# name: (build the model file at path, words the one line must contain)
BAD_MODELS = {
    "identity graph": (_identity, ["g.onnx", "not an image generator"]),
    "latent_dim is text": (lambda p: _with_metadata(p, latent_dim="abc"), ["g.onnx", "gan.latent_dim", "'abc'"]),
    "latent_dim differs from z": (lambda p: _with_metadata(p, latent_dim="7"),
                                  ["g.onnx", "gan.latent_dim", "7", "takes latents of size 6"]),
    "latent_dim zero": (lambda p: _with_metadata(p, latent_dim="0"), ["gan.latent_dim", "above 0"]),
    "image_shape not numbers": (lambda p: _with_metadata(p, image_shape="x,y"), ["g.onnx", "gan.image_shape",
                                                                                 "'x,y'"]),
    "image_shape differs from output": (lambda p: _with_metadata(p, image_shape="1,8,8"),
                                        ["gan.image_shape", "'1,8,8'", "makes images of 1,4,4"]),
    "image_shape 2 channels": (lambda p: _with_metadata(p, image_shape="2,4,4"), ["gan.image_shape", "1 or 3"]),
    "output_range empty": (lambda p: _with_metadata(p, output_range="1,1"), ["g.onnx", "gan.output_range", "'1,1'",
                                                                             "low below high"]),
    "output_range reversed": (lambda p: _with_metadata(p, output_range="1,-1"), ["gan.output_range", "'1,-1'"]),
    "output_range infinite": (lambda p: _with_metadata(p, output_range="-1,inf"), ["gan.output_range"]),
    "output_range text": (lambda p: _with_metadata(p, output_range="tanh"), ["gan.output_range", "'tanh'"]),
    "latent of unknown size": (_dynamic_latent, ["g.onnx", "no latent size"]),
    "NaN output": (_nan_maker, ["g.onnx", "NaN"]),
    "not ONNX at all": (lambda p: p.write_text("this is a text file, not a model") or p,
                        ["g.onnx", "not a readable ONNX model"]),
    "a folder named like a model": (lambda p: p.mkdir() or p, ["g.onnx", "is a folder"]),
    "an empty file": (lambda p: p.write_bytes(b"") or p, ["g.onnx", "not a readable ONNX model"]),
}


@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_gan_sample_refuses_a_wrong_model_and_writes_no_image(tmp_path, capsys, case):
    build, words = BAD_MODELS[case]
    build(tmp_path / "g.onnx")
    before = snapshot(tmp_path)
    r = gan_sample(capsys, str(tmp_path / "g.onnx"), "--n", "4", "--out", str(tmp_path / "grid.png"),
                   "--separate", str(tmp_path / "each"))
    assert_refused(r, "gan-sample: error:", *words)
    assert snapshot(tmp_path) == before and not (tmp_path / "each").exists()


@pytest.mark.parametrize("case", ["latent_dim is text", "output_range empty", "identity graph"])
def test_the_generate_page_gets_the_same_sentence(tmp_path, case):
    from desktop_app.facade import EngineFacade
    from engine.errors import UserError

    build, words = BAD_MODELS[case]
    build(tmp_path / "g.onnx")
    with pytest.raises(UserError) as e:
        EngineFacade().load_onnx(tmp_path / "g.onnx")
    assert all(w.lower() in str(e.value).lower() for w in words) and "\n" not in str(e.value)


@pytest.mark.parametrize("out, words", [
    ("folder", ["--out", "is a folder", "grid.png"]),
    ("missing/grid.png", ["does not exist", "missing"]),
    ("grid.jpg", ["must end in .png"]),
    ("afile/grid.png", ["afile", "is a file, not a folder"]),
])
def test_bad_out_paths_are_refused(tmp_path, capsys, out, words):
    tiny_generator(tmp_path / "g.onnx")
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    before = snapshot(tmp_path)
    r = gan_sample(capsys, str(tmp_path / "g.onnx"), "--out", str(tmp_path / out))
    assert_refused(r, *words)
    assert snapshot(tmp_path) == before and not (tmp_path / "missing").exists()


@pytest.mark.parametrize("flags, words", [
    (["--seed", "-1"], ["--seed", "(got -1)"]),
    (["--n", "10000000"], ["--n", "65,536"]),
    (["--nrow", "0"], ["--nrow", "(got 0)"]),
    (["--threads", "-2"], ["--threads", "(got -2)"]),
])
def test_bad_numbers_are_refused(tmp_path, capsys, flags, words):
    tiny_generator(tmp_path / "g.onnx")
    before = snapshot(tmp_path)
    r = gan_sample(capsys, str(tmp_path / "g.onnx"), "--out", str(tmp_path / "grid.png"), *flags)
    assert_refused(r, *words)
    assert snapshot(tmp_path) == before


def test_missing_metadata_falls_back_on_the_graph_with_one_note(tmp_path, capsys):
    tiny_generator(tmp_path / "g.onnx", latent=5, shape=(1, 2, 2), metadata=False)
    r = gan_sample(capsys, str(tmp_path / "g.onnx"), "--n", "4", "--nrow", "2", "--out", str(tmp_path / "grid.png"))
    assert r.code == 0 and len(r.err_lines) == 1, r.err
    assert r.err_lines[0] == ("gan-sample: note: g.onnx: no gan.latent_dim: using the input's size 5; no "
                              "gan.image_shape: using the output's shape 1,2,2; no gan.output_range: assuming -1,1 "
                              "(a tanh output).")
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (2 * 4 + 2, 2 * 4 + 2) and grid.std() > 0  # real images, not a flat grid


def test_a_real_process_refuses_an_empty_output_range_without_writing(tmp_path):
    _with_metadata(tmp_path / "g.onnx", output_range="1,1")
    r = run_cli(str(tmp_path / "g.onnx"), "--out", str(tmp_path / "grid.png"), module="engine.sample_cli")
    assert_refused(r, "g.onnx", "gan.output_range", "'1,1'")
    assert not (tmp_path / "grid.png").exists()
