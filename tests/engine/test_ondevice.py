"""The torch-free sampler: metadata, sampling, grids, latent walks, benchmarks and clear errors."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine.ondevice import GeneratorModel, OnDeviceError, grid, slerp


# ---- tiny hand-built ONNX models (no torch); tests/cli/test_gan_sample.py uses them too --------------------------
def tiny_generator(path, latent=6, shape=(1, 4, 4), metadata=True, seed=0):
    """z [batch, latent] → Gemm → Reshape [batch, C, H, W] → Tanh, optionally with our gan.* metadata."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    w = numpy_helper.from_array(rng.standard_normal((latent, size)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(size, np.float32), "b")
    s = numpy_helper.from_array(np.array([-1, *shape], np.int64), "s")
    nodes = [helper.make_node("Gemm", ["z", "w", "b"], ["h"]), helper.make_node("Reshape", ["h", "s"], ["r"]),
             helper.make_node("Tanh", ["r"], ["image"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent])],
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", *shape])],
                              [w, b, s])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata:
        for k, v in {"gan.latent_dim": str(latent), "gan.image_shape": ",".join(map(str, shape)),
                     "gan.output_range": "-1,1", "gan.precision": "fp32"}.items():
            p = model.metadata_props.add()
            p.key, p.value = k, v
    onnx.save(model, str(path))
    return path


def image_classifier(path):
    """Not a generator: takes a 4-D image."""
    nodes = [helper.make_node("ReduceMean", ["x"], ["y"], keepdims=0)]
    graph = helper.make_graph(nodes, "c", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path



def test_sample_is_uint8_nhwc_and_seeded(tmp_path):
    m = GeneratorModel(tiny_generator(tmp_path / "g.onnx", latent=6, shape=(3, 4, 4)))
    assert (m.latent_dim, m.image_shape, m.output_range) == (6, (3, 4, 4), (-1.0, 1.0))
    a = m.sample(5, seed=3)
    assert a.shape == (5, 4, 4, 3) and a.dtype == np.uint8
    assert np.array_equal(a, m.sample(5, seed=3)) and not np.array_equal(a, m.sample(5, seed=4))
    assert m.warnings == []


def test_grid_and_interpolation_shapes(tmp_path):
    m = GeneratorModel(tiny_generator(tmp_path / "g.onnx", shape=(1, 4, 4)))
    g = grid(m.sample(5), nrow=2)
    assert g.shape == (3 * 6 + 2, 2 * 6 + 2, 1) and g.dtype == np.uint8
    strip = m.interpolate(steps=4, seed=1)
    assert strip.shape == (6 + 2, 4 * 6 + 2, 1)
    a, b = np.random.default_rng(0).standard_normal((2, 6))
    assert np.allclose(slerp(a, b, 0.0), a) and np.allclose(slerp(a, b, 1.0), b)


def test_bench_reports_each_batch(tmp_path):
    m = GeneratorModel(tiny_generator(tmp_path / "g.onnx"))
    times = m.bench((1, 3), runs=2, warmup=1)
    assert set(times) == {1, 3} and all(t > 0 for t in times.values())


def test_model_without_metadata_falls_back_with_one_note(tmp_path):
    m = GeneratorModel(tiny_generator(tmp_path / "g.onnx", latent=5, shape=(1, 2, 2), metadata=False))
    assert (m.latent_dim, m.image_shape) == (5, (1, 2, 2)) and len(m.warnings) == 3
    assert m.note() == ("g.onnx: no gan.latent_dim: using the input's size 5; no gan.image_shape: using the output's "
                        "shape 1,2,2; no gan.output_range: assuming -1,1 (a tanh output).")
    assert m.sample(2).shape == (2, 2, 2, 1)


def test_bad_files_raise_one_clear_sentence(tmp_path):
    with pytest.raises(OnDeviceError, match="does not exist"):
        GeneratorModel(tmp_path / "missing.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"\x00not an onnx model")
    with pytest.raises(OnDeviceError, match="not a readable ONNX model"):
        GeneratorModel(tmp_path / "bad.onnx")
    with pytest.raises(OnDeviceError, match="not a generator"):
        GeneratorModel(image_classifier(tmp_path / "c.onnx"))
    with pytest.raises(OnDeviceError, match="above 0"):
        GeneratorModel(tiny_generator(tmp_path / "g.onnx")).sample(0)
