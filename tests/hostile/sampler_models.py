"""Small ONNX files built by hand (no torch) for the sampler's hostile suite: image-to-image models that copy their
input (so an output shows exactly what the sampler read), integer and fixed-batch inputs, a classifier, and a
conditional generator whose class embedding has a known size."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save_graph(path, nodes, inputs, outputs, inits=(), metadata=None):
    """A one-graph opset-17 ONNX file at `path` with these nodes and metadata."""
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in (metadata or {}).items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(model, str(path))
    return path


def copy_model(path, channels=1, side=4, batch="batch", in_type=TensorProto.FLOAT, task="superres"):
    """image [batch, C, side, side] → the same image as float in [-1, 1]: an integer input is read as 0..255
    pixels. Its outputs are what the sampler fed it, so a test can compare them with what training reads."""
    shape = [batch, channels, side, side]
    if in_type == TensorProto.FLOAT:
        nodes = [helper.make_node("Identity", ["image_in"], ["image"])]
        inits = []
    else:
        nodes = [helper.make_node("Cast", ["image_in"], ["f"], to=TensorProto.FLOAT),
                 helper.make_node("Div", ["f", "half"], ["d"]), helper.make_node("Sub", ["d", "one"], ["image"])]
        inits = [numpy_helper.from_array(np.array(127.5, np.float32), "half"),
                 numpy_helper.from_array(np.array(1.0, np.float32), "one")]
    return save_graph(path, nodes, [helper.make_tensor_value_info("image_in", in_type, shape)],
                 [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)], inits,
                 {"gan.task": task, "gan.input_shape": f"[{channels}, {side}, {side}]"})


def classifier(path, classes=10):
    """image [batch, 1, 4, 4] → logits [batch, classes]: takes an image, makes no image."""
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((16, classes)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(classes, np.float32), "b")
    nodes = [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Gemm", ["f", "w", "b"], ["logits"])]
    return save_graph(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, 4, 4])],
                 [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])], [w, b])


def conditional_generator(path, classes=3, claimed=None, latent=6, shape=(1, 4, 4), batch="batch"):
    """z [batch, latent] + label [batch] int64 → image, via an embedding of exactly `classes` rows (a label out of
    range fails in ORT); gan.num_classes says `claimed` (default: the truth)."""
    rng = np.random.default_rng(0)
    size = int(np.prod(shape))
    inits = [numpy_helper.from_array(rng.standard_normal((classes, latent)).astype(np.float32), "emb"),
             numpy_helper.from_array(rng.standard_normal((latent, size)).astype(np.float32), "w"),
             numpy_helper.from_array(np.zeros(size, np.float32), "b"),
             numpy_helper.from_array(np.array([-1, *shape], np.int64), "s")]
    nodes = [helper.make_node("Gather", ["emb", "label"], ["e"], axis=0), helper.make_node("Add", ["z", "e"], ["h0"]),
             helper.make_node("Gemm", ["h0", "w", "b"], ["h"]), helper.make_node("Reshape", ["h", "s"], ["r"]),
             helper.make_node("Tanh", ["r"], ["image"])]
    meta = {"gan.latent_dim": str(latent), "gan.image_shape": ",".join(map(str, shape)), "gan.output_range": "-1,1",
            "gan.task": "conditional", "gan.num_classes": str(claimed if claimed is not None else classes)}
    return save_graph(path, nodes, [helper.make_tensor_value_info("z", TensorProto.FLOAT, [batch, latent]),
                               helper.make_tensor_value_info("label", TensorProto.INT64, [batch])],
                 [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, *shape])], inits, meta)


def with_external_data(path, data_name="weights.bin"):
    """The tiny generator with its weights in a separate file next to it (as large exports are saved)."""
    from tests.engine.test_ondevice import tiny_generator

    tiny_generator(path)
    model = onnx.load(str(path))
    onnx.save(model, str(path), save_as_external_data=True, location=data_name, size_threshold=0)
    return path
