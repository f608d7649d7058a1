"""A tiny but real workspace for the evaluation tests: a 3-step MLP GAN (run_train), a sensitivity scan, channel
pruning (run_prune), a "fine-tuned" copy of the pruned checkpoint, and an fp32 ONNX of it. Built (and evaluated)
once per test process and copied, so each test owns its folder.

The ONNX file is written here with onnx.helper (Gemm / LeakyRelu / Tanh / Reshape, the contract's metadata): the
exporter's first dynamo run costs ~10 s, more than these tests' whole budget, and tests/engine/test_export_* cover it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig
from engine.events import CancelToken
from engine.workspace import Workspace

REAL_IMAGES = 300  # >= 2 x the digit net's 128 features, so FID is defined
SAMPLES = 256  # the least the 128-d digit features allow
_CACHE: dict[str, object] = {}


def _drain(events) -> list:
    return list(events)


def mlp_to_onnx(G, path: Path, precision: str = "fp32") -> Path:
    """The MLP generator as a single-file ONNX (input z, output image NCHW) with the gan.* metadata."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from engine.export.onnx import build_metadata, set_metadata

    linears = [m for m in G.net if hasattr(m, "out_features")]
    nodes, inits, prev = [], [], "z"
    for i, lin in enumerate(linears):
        inits += [numpy_helper.from_array(lin.weight.detach().numpy(), f"w{i}"),
                  numpy_helper.from_array(lin.bias.detach().numpy(), f"b{i}")]
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"h{i}"], transB=1))
        prev = f"h{i}"
        if i < len(linears) - 1:
            nodes.append(helper.make_node("LeakyRelu", [prev], [f"a{i}"], alpha=0.2))
            prev = f"a{i}"
    import numpy as np

    inits.append(numpy_helper.from_array(np.array([-1, *G.image_shape], np.int64), "shape"))
    nodes += [helper.make_node("Tanh", [prev], ["t"]), helper.make_node("Reshape", ["t", "shape"], ["image"])]
    graph = helper.make_graph(nodes, "generator", [helper.make_tensor_value_info("z", TensorProto.FLOAT,
                                                                                   ["batch", G.latent_dim])],
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", *G.image_shape])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    set_metadata(model, build_metadata(G, dataset="mnist-5k", precision=precision))
    onnx.save(model, str(path))
    return path


def _build(path: Path) -> None:
    from engine.models import generator_from_checkpoint
    from engine.pipeline import save_config
    from engine.stages.prune.config import PruneConfig
    from engine.stages.prune.run import run_prune
    from engine.stages.sensitivity.config import SensitivityConfig
    from engine.stages.sensitivity.run import run_sensitivity
    from engine.stages.train.run import run_train

    ws = Workspace(path)
    cfg = PipelineConfig(data=DataConfig("mnist-5k", limit=REAL_IMAGES), model=ModelConfig(arch="mlp"),
                         train=TrainConfig(steps=3, batch_size=16, sample_every=3, checkpoint_every=3, device="cpu"))
    save_config(ws, cfg)
    cancel = CancelToken()
    _drain(run_train(cfg, ws, cancel))
    _drain(run_sensitivity(SensitivityConfig(amounts=(0.25, 0.75), n_latents=8), ws, cancel))
    _drain(run_prune(PruneConfig(method="channel-l1", amount=0.5, device="cpu"), ws, cancel))
    shutil.copy(ws.checkpoint_path("pruned"), ws.checkpoint_path("finetuned"))
    ws.update_stage("finetune", status="done", checkpoint="checkpoints/finetuned.pt")
    G = generator_from_checkpoint(ws.load_checkpoint("finetuned"))
    mlp_to_onnx(G, ws.export_dir / "generator.onnx")
    ws.update_stage("export", status="done", checkpoint="checkpoints/finetuned.pt",
                    results={"fp32": {"path": "export/generator.onnx"}})


def _scratch(prefix: str) -> Path:
    """A temp folder removed when the test process exits (the cache outlives any one test's tmp_path)."""
    import atexit

    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _copy(src: Path, tmp_root: Path, name: str) -> Workspace:
    dest = Path(tmp_root) / name
    shutil.copytree(src, dest)
    return Workspace(dest)


def workspace_copy(tmp_root: Path, name: str = "ws") -> Workspace:
    """A fresh copy of the shared workspace (dense, pruned, finetuned, onnx-fp32; not evaluated yet)."""
    if "built" not in _CACHE:
        base = _scratch("gan-eval-ws-") / "ws"
        _build(base)
        _CACHE["built"] = base
    return _copy(_CACHE["built"], tmp_root, name)


def evaluated_copy(tmp_root: Path, name: str = "ws"):
    """(workspace copy, events) after one real evaluation of all four variants (shared by the tests that read it)."""
    from engine.stages.evaluate.run import EvaluateConfig, run_evaluate

    if "evaluated" not in _CACHE:
        ws = workspace_copy(_scratch("gan-eval-done-"))
        events = _drain(run_evaluate(EvaluateConfig(samples=SAMPLES, latency_runs=2, threads=1), ws, CancelToken()))
        _CACHE["evaluated"] = (ws.root, events)
    root, events = _CACHE["evaluated"]
    return _copy(root, tmp_root, name), events


def keep_only_dense(ws: Workspace) -> Workspace:
    """Drop every later stage: a workspace as 'gan-prune train' leaves it."""
    from engine.workspace import atomic_write_json

    manifest = ws.read_manifest()
    manifest["stages"] = {"train": manifest["stages"]["train"]}
    manifest.pop("pruning", None)
    atomic_write_json(ws.manifest_path, manifest)
    for p in [*ws.export_dir.glob("*.onnx"), ws.checkpoint_path("pruned"), ws.checkpoint_path("finetuned")]:
        p.unlink(missing_ok=True)
    return ws
