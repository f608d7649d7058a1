"""Export a generator to a single-file ONNX with our metadata, and check it against torch (parity).

Before export the generator is copied, put in eval mode, its pruning masks made permanent and every BatchNorm
that directly follows a conv folded into that conv, so the file holds plain weights and no training state.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from engine import APP_NAME, __version__
from engine.errors import WorkspaceError
from engine.tasks import DEFAULT_TASK
from engine.workspace import atomic_write_bytes

METADATA_KEYS = ("latent_dim", "image_shape", "output_range", "arch", "dataset", "precision", "pruning", "producer",
                 "opset", "task", "input_shape", "num_classes", "class_names")


# ---- preparing the module ----------------------------------------------------------------------------------------
def make_pruning_permanent(model: nn.Module) -> int:
    """Bake torch.nn.utils.prune masks into the weights (weight = weight_orig * mask); returns how many."""
    from torch.nn.utils import prune

    n = 0
    if not prune.is_pruned(model):
        return 0
    for m in model.modules():
        for hook in list(m._forward_pre_hooks.values()):
            if isinstance(hook, prune.BasePruningMethod):
                prune.remove(m, hook._tensor_name)
                n += 1
    return n


def _fold(conv: nn.Module, bn: nn.BatchNorm2d) -> None:
    """Fold an eval-mode BatchNorm into the conv before it.

    With k = gamma / sqrt(var + eps): w' = w * k per output channel, b' = (b - mean) * k + beta.
    """
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps) if bn.affine else \
        1.0 / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias.detach() if bn.affine else torch.zeros_like(scale)
    w = conv.weight.detach()
    # Output channels are dim 0 of a Conv2d weight and dim 1 of a ConvTranspose2d weight (groups=1 here).
    shape = [1, -1, 1, 1] if isinstance(conv, nn.ConvTranspose2d) else [-1, 1, 1, 1]
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    new_bias = (bias - bn.running_mean) * scale + shift
    with torch.no_grad():
        conv.weight.copy_(w * scale.reshape(shape))
        if conv.bias is None:
            conv.bias = nn.Parameter(new_bias.clone())
        else:
            conv.bias.copy_(new_bias)


def fold_batchnorm(model: nn.Module) -> int:
    """In place: fold every BatchNorm2d that directly follows a Conv2d/ConvTranspose2d in a Sequential.

    A BatchNorm after a ReLU or a residual sum (pre-activation blocks) cannot fold and stays as it is.
    Returns the number folded.
    """
    n = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names[:-1], names[1:], strict=False):
            conv, bn = seq._modules[a], seq._modules[b]
            if (isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and conv.groups == 1
                    and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats and bn.running_var is not None):
                _fold(conv, bn)
                seq._modules[b] = nn.Identity()
                n += 1
    return n


def _pruned_weight_memo(model: nn.Module) -> dict:
    """deepcopy refuses the non-leaf `weight = weight_orig * mask` tensors that pruning leaves on a module;
    hand it detached copies (prune.remove recomputes them from weight_orig and the mask anyway)."""
    from torch.nn.utils import prune

    memo = {}
    for m in model.modules():
        for hook in m._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod):
                t = getattr(m, hook._tensor_name, None)
                if isinstance(t, torch.Tensor):
                    memo[id(t)] = t.detach().clone()
    return memo


def prepare_for_export(G: nn.Module, subpixel: bool = False) -> nn.Module:
    """An eval-mode copy of G with permanent pruning, folded BatchNorm and, optionally, sub-pixel convs."""
    m = copy.deepcopy(G, _pruned_weight_memo(G)).cpu().float().eval()
    make_pruning_permanent(m)
    fold_batchnorm(m)
    if subpixel:
        from engine.export.phases import fold_last_pair
        from engine.export.subpixel import to_subpixel

        m = fold_last_pair(to_subpixel(m))
        with torch.no_grad():  # one eager pass builds the folded layer's constants before tracing sees them
            m(torch.zeros(2, int(G.latent_dim)))  # (a conditional G takes its default labels here)
    return m  # note: after the sub-pixel rewrite G.latent_dim may not read back; ask the original G


# ---- metadata ------------------------------------------------------------------------------------------------------
def build_metadata(G: nn.Module, dataset: str = "unknown", precision: str = "fp32",
                   pruning: dict | None = None, **extra: Any) -> dict[str, str]:
    """The contract's gan.* metadata_props for a generator (values are strings)."""
    spec = G.spec()  # every generator has one (engine/models/contract.py)
    meta = {
        "gan.latent_dim": str(int(G.latent_dim)),
        "gan.image_shape": ",".join(str(int(v)) for v in G.image_shape),
        "gan.output_range": "-1,1",
        "gan.arch": str(spec.get("arch", type(G).__name__)),
        "gan.dataset": str(dataset),
        "gan.precision": precision,
        "gan.pruning": json.dumps(pruning or {}, separators=(",", ":"), sort_keys=True),
        "gan.producer": f"{APP_NAME} {__version__}",
        "gan.task": str(getattr(G, "task", DEFAULT_TASK)),
        "gan.input_shape": json.dumps([int(G.latent_dim)]),
    }
    if getattr(G, "num_classes", 0):  # a conditional generator: its second input is the class of each sample
        meta["gan.num_classes"] = str(int(G.num_classes))
    for k, v in extra.items():
        meta[k if k.startswith("gan.") else f"gan.{k}"] = v if isinstance(v, str) else json.dumps(v)
    return meta


def _normalize_metadata(G: nn.Module, metadata: dict[str, Any]) -> dict[str, str]:
    """Accept keys with or without the 'gan.' prefix; fill what the generator itself knows."""
    given = {(k if k.startswith("gan.") else f"gan.{k}"): v for k, v in (metadata or {}).items()}
    pruning = given.pop("gan.pruning", None)
    if isinstance(pruning, str):
        pruning = json.loads(pruning) if pruning.strip() else {}
    meta = build_metadata(G, dataset=str(given.pop("gan.dataset", "unknown")),
                          precision=str(given.pop("gan.precision", "fp32")), pruning=pruning)
    for k, v in given.items():
        meta[k] = v if isinstance(v, str) else json.dumps(v)
    return meta


def set_metadata(model_proto, metadata: dict[str, str]) -> None:
    """Replace our gan.* props on an onnx ModelProto, keeping any others."""
    keep = [(p.key, p.value) for p in model_proto.metadata_props if p.key not in metadata]
    del model_proto.metadata_props[:]
    for k, v in keep + sorted(metadata.items()):
        prop = model_proto.metadata_props.add()
        prop.key, prop.value = k, str(v)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def save_model_atomic(model_proto, path: str | os.PathLike) -> int:
    """Serialize an onnx ModelProto to one file atomically; returns its size in bytes."""
    data = model_proto.SerializeToString()
    atomic_write_bytes(path, data)
    return len(data)


# ---- export --------------------------------------------------------------------------------------------------------
def _cache_torchlib_op_list() -> None:
    """Every torch.onnx.export re-parses the source of ~500 torchlib functions (2-3 s on a busy CPU) to list
    the same ops; remember that list for the process. Best effort: any change in torch/onnxscript skips it."""
    import functools

    try:
        import importlib

        from torch.onnx._internal._lazy_import import onnxscript_apis

        module = importlib.import_module(onnxscript_apis._name)  # the exporter's lazy alias of onnxscript's API
        original = module.get_torchlib_ops
        if getattr(original, "_gps_cached", False):
            return
        cached = functools.lru_cache(maxsize=1)(original)
        cached._gps_cached = True
        module.get_torchlib_ops = cached
    except Exception:  # an internal API moved: export still works, only slower
        pass


def export_generator(G: nn.Module, path: str | os.PathLike, metadata: dict[str, Any] | None = None,
                     batch_example: int = 2, subpixel: bool = False, opset: int | None = None) -> Path:
    """Write G as a single-file ONNX (input 'z' [batch, latent], output 'image' [batch, C, H, W] in [-1, 1]).

    A conditional G (num_classes > 0) takes a second input 'label' [batch] int64, the class of each sample.

    `opset` (default graph.DEFAULT_OPSET) is the ai.onnx version the file declares, with the lowest IR
    version that allows it: what decides whether an older onnxruntime on a device loads it at all.
    """
    import warnings

    from engine.export.graph import DEFAULT_OPSET, retarget, simplify

    path = Path(path)
    _cache_torchlib_op_list()
    meta = _normalize_metadata(G, metadata or {})
    model = prepare_for_export(G, subpixel=subpixel)
    n = max(2, batch_example)  # batch >= 2 so the batch axis is not specialized
    args, names = (torch.randn(n, int(G.latent_dim)),), ["z"]
    if getattr(G, "num_classes", 0):
        args, names = (*args, torch.arange(n) % int(G.num_classes)), ["z", "label"]
    batch = torch.export.Dim("batch", min=1, max=65536)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, args, dynamo=True, dynamic_shapes=tuple({0: batch} for _ in args),
                                    external_data=False, input_names=names, output_names=["image"], verbose=False,
                                    optimize=True)
    proto = program.model_proto
    for graph_input in proto.graph.input:
        graph_input.type.tensor_type.shape.dim[0].dim_param = "batch"
    proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    simplify(proto)
    opset = opset or DEFAULT_OPSET
    proto = retarget(proto, opset)  # the exporter writes its own newest opset; the version converter steps down
    set_metadata(proto, {**meta, "gan.opset": str(opset)})
    save_model_atomic(proto, path)
    return path


# ---- running and checking ------------------------------------------------------------------------------------------
def ort_session(path: str | os.PathLike, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises several pybind error types for unreadable models
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise WorkspaceError(f"The ONNX file {path} cannot be loaded ({first[:120]}); export it again.") from None


def run_onnx(session, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    from engine.ondevice import generator_feeds

    return session.run(["image"], generator_feeds(session, z, labels))[0]


def parity(G: nn.Module, onnx_path: str | os.PathLike, batches: tuple[int, ...] = (1, 7), seed: int = 0) -> float:
    """Largest |torch - ONNX| over a few batch sizes (the contract asks for <= 1e-4)."""
    session = ort_session(onnx_path)
    G = copy.deepcopy(G, _pruned_weight_memo(G)).cpu().float().eval()
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    classes = int(getattr(G, "num_classes", 0))
    for b in batches:
        z = torch.randn(b, int(G.latent_dim), generator=gen)
        labels = torch.randint(classes, (b,), generator=gen) if classes else None
        with torch.no_grad():
            ref = (G(z) if labels is None else G(z, labels)).numpy()
        out = run_onnx(session, z.numpy(), None if labels is None else labels.numpy())
        if out.shape != ref.shape:
            raise RuntimeError(f"ONNX output shape {out.shape} differs from torch {ref.shape} at batch {b}")
        worst = max(worst, float(np.abs(out - ref).max()))
    return worst
