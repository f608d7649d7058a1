"""Small ONNX graph edits made after export: fewer nodes for ONNX Runtime to run, and the opset/IR a device needs.

A generator of a few million MACs runs in tens of microseconds at batch 1, where every node costs a fixed
2-4 us; so a no-op Reshape of the input and a crop written as one Slice per axis are worth removing.
`stray_qdq` is the check behind "int8 stays int8 between layers": it reads the graph ORT really runs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads where a graph is edited, not when the CLI reads DEFAULT_OPSET
    import numpy as np

DATA_MOVEMENT = ("Reshape", "Transpose", "Slice", "DepthToSpace", "SpaceToDepth", "Pad", "Squeeze", "Unsqueeze",
                 "Flatten", "Concat", "Split", "Gather", "Identity", "Expand", "Tile")
# ONNX Runtime 1.14 reads IR <= 8 and opset <= 18; these files should load there unless a user asks for newer.
DEFAULT_OPSET = 17
OPSET_RANGE = (14, 21)  # the ONNX version converter steps the exporter's graph down to 14 at most


def _constants(model) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    out = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            out[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return out


def _consumers(model) -> dict[str, list]:
    uses: dict[str, list] = {}
    for n in model.graph.node:
        for name in n.input:
            uses.setdefault(name, []).append(n)
    return uses


def _rename_input(model, old: str, new: str) -> None:
    for n in model.graph.node:
        for i, name in enumerate(n.input):
            if name == old:
                n.input[i] = new


def drop_input_reshape(model) -> int:
    """Remove Reshape(z, [-1, latent]) on a [batch, latent] input: a copy that changes nothing."""
    if len(model.graph.input) != 1:
        return 0
    z = model.graph.input[0]
    dims = z.type.tensor_type.shape.dim
    if len(dims) != 2 or not dims[1].dim_value:
        return 0
    consts, dropped = _constants(model), 0
    for n in list(model.graph.node):
        shape = consts.get(n.input[1]) if n.op_type == "Reshape" and len(n.input) > 1 else None
        if (n.input[0] == z.name and shape is not None and shape.tolist() in ([-1, dims[1].dim_value],
                                                                             [0, dims[1].dim_value])
                and n.output[0] not in {o.name for o in model.graph.output}):
            _rename_input(model, n.output[0], z.name)
            model.graph.node.remove(n)
            dropped += 1
    return dropped


def merge_slices(model) -> int:
    """Slice(Slice(x, axis a), axis b) with constant arguments and a ≠ b → one Slice over both axes."""
    from onnx import helper, numpy_helper

    merged = 0
    while True:
        consts, uses = _constants(model), _consumers(model)
        outputs = {o.name for o in model.graph.output}
        pair = None
        for second in model.graph.node:
            if second.op_type != "Slice":
                continue
            first = next((n for n in model.graph.node if n.op_type == "Slice" and second.input[0] in n.output), None)
            if first is None or len(uses.get(first.output[0], [])) != 1 or first.output[0] in outputs:
                continue
            args = [[consts.get(name) for name in n.input[1:]] for n in (first, second)]
            if all(len(a) == 4 and all(v is not None for v in a) for a in args):
                pair = first, second, args
                break
        if pair is None:
            return merged
        first, second, args = pair
        if set(args[0][2].tolist()) & set(args[1][2].tolist()):
            return merged  # the same axis twice: not worth composing
        names = []
        for k, what in enumerate(("starts", "ends", "axes", "steps")):
            import numpy as np

            value = np.concatenate([args[0][k], args[1][k]]).astype(np.int64)
            name = f"{second.name or second.output[0]}_{what}_merged"
            model.graph.initializer.append(numpy_helper.from_array(value, name))
            names.append(name)
        node = helper.make_node("Slice", [first.input[0], *names], list(second.output), name=second.name)
        index = list(model.graph.node).index(first)
        model.graph.node.remove(first)
        model.graph.node.remove(second)
        model.graph.node.insert(index, node)
        merged += 1


def drop_unused_initializers(model) -> None:
    used = {name for n in model.graph.node for name in n.input}
    for init in [i for i in model.graph.initializer if i.name not in used]:
        model.graph.initializer.remove(init)


def simplify(model) -> None:
    drop_input_reshape(model)
    merge_slices(model)
    drop_unused_initializers(model)


def sort_nodes(model) -> None:
    """Put nodes in topological order (the fp16 converter appends its Casts at the end; the checker refuses)."""
    ready = {i.name for i in model.graph.input} | {i.name for i in model.graph.initializer} | {""}
    pending, ordered = list(model.graph.node), []
    while pending:
        still = [n for n in pending if not all(name in ready for name in n.input)]
        if len(still) == len(pending):  # a cycle or a dangling input: leave the rest as it was
            ordered += still
            break
        for n in pending:
            if n not in still:
                ordered.append(n)
                ready.update(n.output)
        pending = still
    copies = [type(n)() for n in ordered]
    for c, n in zip(copies, ordered, strict=True):
        c.CopyFrom(n)
    del model.graph.node[:]
    model.graph.node.extend(copies)


# ---- opset / IR for older runtimes ---------------------------------------------------------------------------------
def retarget(model, opset: int):
    """The model at ai.onnx `opset` with the lowest IR version that allows it (what older runtimes check)."""
    import onnx
    from onnx import helper, version_converter

    sort_nodes(model)
    current = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), opset)
    if current != opset:
        model = version_converter.convert_version(model, opset)
    versions = [helper.make_opsetid(o.domain, o.version) for o in model.opset_import]
    model.ir_version = helper.find_min_ir_version_for(versions, ignore_unknown=True)
    onnx.checker.check_model(model)
    return model


def opset_of(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


# ---- the int8 check ------------------------------------------------------------------------------------------------
def optimized_graph(path: str | os.PathLike, out_path: str | os.PathLike):
    """The graph ONNX Runtime runs for a file on this CPU, after its fusions (QDQ → QLinearConv and so on)."""
    import onnx
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3  # ORT warns that the saved graph is machine-specific; here that is the point
    opts.optimized_model_filepath = str(out_path)
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return onnx.load(str(out_path))


def stray_qdq(model) -> list[str]:
    """Places where int8 data leaves int8 only to come back: in the graph ORT runs (see `optimized_graph`),

    - DequantizeLinear → (data-movement ops only) → QuantizeLinear: a reshape/crop/shuffle done in float
      between two int8 layers, and
    - QuantizeLinear → DequantizeLinear: a value quantized and immediately turned back into float.

    Each is named as "A -> ... -> B"; an empty list means the int8 part runs in int8 from end to end.
    """
    uses = _consumers(model)
    found = []
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear":
            found += [f"{n.name} -> {m.name}" for m in uses.get(n.output[0], []) if m.op_type == "DequantizeLinear"]
        if n.op_type != "DequantizeLinear":
            continue
        frontier = [(n, [n.name])]
        while frontier:
            node, path = frontier.pop()
            for m in uses.get(node.output[0], []):
                if m.op_type == "QuantizeLinear":
                    found.append(" -> ".join([*path, m.name]))
                elif m.op_type in DATA_MOVEMENT:
                    frontier.append((m, [*path, m.name]))
    return found
