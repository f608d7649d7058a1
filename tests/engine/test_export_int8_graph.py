"""int8 stays int8 between layers: in the graph ONNX Runtime runs, no value leaves int8 only to come back.

"Stand-alone Q/DQ" is defined in engine.export.graph.stray_qdq: DequantizeLinear → data-movement ops →
QuantizeLinear (a reshape/crop/shuffle done in float between int8 layers) or QuantizeLinear → DequantizeLinear.
"""

import onnx
import pytest
import torch
from onnx import TensorProto, helper

from engine.export.graph import merge_slices, optimized_graph, stray_qdq
from engine.export.onnx import export_generator
from engine.export.quantize import quantize_int8_static
from engine.models import build_generator, default_specs


@pytest.fixture(scope="module")
def int8_dcgan(tmp_path_factory):
    torch.manual_seed(0)
    G = build_generator({**default_specs("dcgan", (1, 28, 28), latent_dim=8)[0], "widths": [8, 4]})
    G.train()
    with torch.no_grad():
        G(torch.randn(16, 8))  # BatchNorm statistics, so folding produces real scales
    G.eval()
    tmp = tmp_path_factory.mktemp("int8")
    fp32 = export_generator(G, tmp / "g.subpixel.onnx", {}, subpixel=True)
    return fp32, quantize_int8_static(fp32, tmp / "g.int8.onnx", calibration=16)


def test_sub_pixel_export_shuffles_once(int8_dcgan):
    # latent projection, then the two stride-2 layers as convs over phases (engine.export.phases): the only
    # DepthToSpace is the last node, and its crop fits exactly (no Slice).
    ops = [n.op_type for n in onnx.load(str(int8_dcgan[0])).graph.node]
    assert ops == ["Gemm", "Relu", "Reshape", "Conv", "Relu", "Mul", "Conv", "Tanh", "DepthToSpace"]


def test_int8_graph_has_no_stand_alone_quantize_or_dequantize(int8_dcgan, tmp_path):
    ran = optimized_graph(int8_dcgan[1], tmp_path / "ran.onnx")
    ops = [n.op_type for n in ran.graph.node]
    assert stray_qdq(ran) == []
    # One QuantizeLinear for the latent, one DequantizeLinear before tanh; every layer an int8 kernel.
    assert (ops.count("QuantizeLinear"), ops.count("DequantizeLinear")) == (1, 1)
    assert ops.count("QLinearConv") == 2 and ops.count("QGemm") == 1 and ops.count("QLinearMul") == 1
    assert not {"Conv", "Gemm", "MatMul"} & set(ops)


def _chain(*ops):
    """x → ops[0] → ops[1] → ... → y, every tensor [1, 4] float or uint8 as the op needs."""
    scale = helper.make_tensor("s", TensorProto.FLOAT, [], [0.1])
    zero = helper.make_tensor("zp", TensorProto.UINT8, [], [128])
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [1, 4])
    nodes, prev = [], "x"
    for i, op in enumerate(ops):
        out = "y" if i == len(ops) - 1 else f"t{i}"
        inputs = {"QuantizeLinear": [prev, "s", "zp"], "DequantizeLinear": [prev, "s", "zp"],
                  "Reshape": [prev, "shape"]}.get(op, [prev])
        nodes.append(helper.make_node(op, inputs, [out], name=f"{op}{i}"))
        prev = out
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [scale, zero, shape])
    return helper.make_model(graph)


def test_stray_qdq_names_each_float_detour():
    assert stray_qdq(_chain("QuantizeLinear", "DequantizeLinear", "Relu")) == ["QuantizeLinear0 -> DequantizeLinear1"]
    assert stray_qdq(_chain("QuantizeLinear", "DequantizeLinear", "Reshape", "QuantizeLinear", "DequantizeLinear")) \
        == ["QuantizeLinear0 -> DequantizeLinear1", "DequantizeLinear1 -> Reshape2 -> QuantizeLinear3",
            "QuantizeLinear3 -> DequantizeLinear4"]
    # A float op between them is real work, not a detour; only data movement counts.
    assert stray_qdq(_chain("Relu", "QuantizeLinear", "Reshape", "DequantizeLinear", "Tanh")) == []


def test_merge_slices_makes_one_crop_over_both_axes():
    args = [helper.make_tensor(n, TensorProto.INT64, [1], [v]) for n, v in
            (("one", 1), ("three", 3), ("two", 2), ("axis3", 3), ("step", 1))]
    nodes = [helper.make_node("Slice", ["x", "one", "three", "two", "step"], ["a"], name="a"),
             helper.make_node("Slice", ["a", "one", "three", "axis3", "step"], ["y"], name="b")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 2, 2])], args)
    model = helper.make_model(graph)
    assert merge_slices(model) == 1
    (node,) = model.graph.node
    values = {i.name: list(onnx.numpy_helper.to_array(i)) for i in model.graph.initializer}
    assert [values[name] for name in node.input[1:]] == [[1, 1], [3, 3], [2, 3], [1, 1]]
