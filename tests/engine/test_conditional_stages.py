"""The conditional task through every stage: train, prune, fine-tune (same labels for teacher and student),
evaluate (conditional accuracy), export (z + label) and the torch-free sampler."""

import json

import numpy as np
import onnx
import pytest
import torch

from engine.data import load_dataset
from engine.distill import DistillWeights
from engine.distill.trainer import Finetuner, StudentSettings
from engine.errors import ConfigError, WorkspaceError
from engine.events import CancelToken
from engine.export.onnx import read_metadata
from engine.metrics.conditional import conditional_accuracy
from engine.models import generator_from_checkpoint
from engine.ondevice import GeneratorModel, OnDeviceError
from engine.stages.evaluate.run import EvaluateConfig, run_evaluate
from engine.stages.finetune.run import FinetuneConfig, run_finetune
from engine.stages.prune.config import PruneConfig
from engine.stages.prune.run import run_prune
from engine.stages.train.run import run_train
from engine.workspace import Workspace
from tests.conditional_workspace import conditional_config, conditional_dense_workspace


def _drain(events):
    return list(events)


@pytest.fixture
def exported(conditional_export):
    return conditional_export


def test_training_records_the_task_and_the_classes_and_resume_keeps_them(tmp_path):
    ws = Workspace(tmp_path / "ws")
    _drain(run_train(conditional_config(steps=2), ws, CancelToken()))
    ckpt = ws.load_checkpoint(ws.checkpoint_path("dense"))
    assert ckpt["task"] == "conditional" and ckpt["step"] == 2
    assert ckpt["arch"]["generator"]["num_classes"] == 10 and ckpt["arch"]["discriminator"]["num_classes"] == 10
    assert ckpt["data"]["classes"] == [str(i) for i in range(10)]
    cfg = conditional_config(steps=3, resume=True)
    _drain(run_train(cfg, ws, CancelToken()))
    assert ws.load_checkpoint(ws.checkpoint_path("dense"))["step"] == 3
    unconditional = cfg.__class__(cfg.data, cfg.model.__class__(arch="dcgan"), cfg.train)
    with pytest.raises(WorkspaceError, match="trained for the conditional task, not unconditional"):
        _drain(run_train(unconditional, ws, CancelToken()))


def test_data_without_labels_is_refused_in_one_sentence(tmp_path):
    from PIL import Image

    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(3):
        Image.new("L", (28, 28), 40 * i).save(folder / f"{i}.png")
    cfg = conditional_config()
    cfg = cfg.__class__(cfg.data.__class__(f"folder:{folder}"), cfg.model, cfg.train)
    with pytest.raises(ConfigError, match=rf"^The data set folder:{folder} has no class labels; the conditional "
                                          r"task needs labelled data: .* one sub-folder per class\.$"):
        _drain(run_train(cfg, Workspace(tmp_path / "ws"), CancelToken()))


def test_fine_tuning_gives_teacher_and_student_the_batch_labels(tmp_path):
    ws = conditional_dense_workspace(tmp_path / "ws")
    teacher = generator_from_checkpoint(ws.load_checkpoint(ws.checkpoint_path("dense")))
    student = generator_from_checkpoint(ws.load_checkpoint(ws.checkpoint_path("dense")))
    from engine.models import discriminator_from_checkpoint

    D = discriminator_from_checkpoint(ws.load_checkpoint(ws.checkpoint_path("dense")))
    data = load_dataset(conditional_config().data)
    # the GAN term on (adversarial 1), so D is stepped too; distillation alone is checked at the end
    tuner = Finetuner(student, D, teacher, data.images, StudentSettings(batch_size=8, adversarial=1.0),
                      DistillWeights(1, 0, 0), "bce", torch.device("cpu"), labels=data.labels)
    seen = {"teacher": [], "student": [], "d": []}

    def record(who):
        def hook(module, args):  # returns None: the call goes on unchanged
            seen[who].append(args[1].clone())
        return hook

    tuner.teacher.register_forward_pre_hook(record("teacher"))
    student.register_forward_pre_hook(record("student"))
    D.project.register_forward_pre_hook(record("d"))  # D's projection gets the labels D.logits was given
    idx = tuner.sampler.indices(0)
    tuner.train_step()
    batch = data.labels[idx]
    assert [torch.equal(y, batch) for y in seen["student"] + seen["teacher"]] == [True, True]
    assert [torch.equal(y, batch) for y in seen["d"]] == [True, True, True]  # real, fake for D, fake for G
    # distillation alone (the default): no D step; teacher and student get the next batch's labels
    pure = Finetuner(student, D, teacher, data.images, StudentSettings(batch_size=8), DistillWeights(1, 0, 0),
                     "bce", torch.device("cpu"), labels=data.labels)
    seen = {"teacher": [], "student": [], "d": []}
    pure.teacher.register_forward_pre_hook(record("teacher"))
    pure.train_step()
    batch = data.labels[pure.sampler.indices(0)]
    assert [torch.equal(y, batch) for y in seen["student"] + seen["teacher"]] == [True, True] and not seen["d"]


def test_prune_and_finetune_keep_a_conditional_model(tmp_path):
    ws = conditional_dense_workspace(tmp_path / "ws")
    _drain(run_prune(PruneConfig(method="channel-l1", amount=0.5, target="gd"), ws, CancelToken()))
    pruned = ws.load_checkpoint(ws.checkpoint_path("pruned"))
    assert pruned["task"] == "conditional"
    assert pruned["arch"]["discriminator"]["widths"] == [8, 16]
    assert pruned["discriminator"]["project.weight"].shape == (10, 16)
    _drain(run_finetune(FinetuneConfig(steps=2, batch_size=8, probe_samples=0, device="cpu"), ws, CancelToken()))
    tuned = ws.load_checkpoint(ws.checkpoint_path("finetuned"))
    assert tuned["task"] == "conditional" and tuned["arch"]["generator"]["widths"] == [16, 8]


def test_conditional_accuracy_counts_the_asked_class_per_class():
    got = conditional_accuracy(np.array([0, 1, 2, 0, 1, 0]), np.array([0, 1, 2, 0, 1, 2]), 4)
    assert got == {"cond_accuracy": 0.8333, "cond_accuracy_per_class": [1.0, 1.0, 0.5, None]}


def test_export_takes_z_and_an_int64_label_with_a_dynamic_batch(exported):
    fp32 = exported.export_dir / "generator.onnx"
    graph = onnx.load(str(fp32)).graph
    assert [i.name for i in graph.input] == ["z", "label"]
    assert graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert [d.dim_param for i in graph.input for d in i.type.tensor_type.shape.dim[:1]] == ["batch", "batch"]
    meta = read_metadata(fp32)
    assert (meta["gan.task"], meta["gan.num_classes"], meta["gan.input_shape"]) == ("conditional", "10", "[16]")
    assert json.loads(meta["gan.class_names"]) == [str(i) for i in range(10)]
    results = exported.stage("export")["results"]
    assert results["fp32"]["parity"] <= 1e-4
    assert read_metadata(exported.export_dir / "generator.int8.onnx")["gan.num_classes"] == "10"


@pytest.mark.parametrize("name", ["generator.onnx", "generator.int8.onnx"])
def test_the_sampler_draws_the_asked_class_and_a_row_per_class(exported, name):
    model = GeneratorModel(exported.export_dir / name)
    assert (model.num_classes, model.task, model.class_names[7]) == (10, "conditional", "7")
    sevens = model.sample(3, seed=1, label=7)
    assert sevens.shape == (3, 28, 28, 1)
    assert not np.array_equal(sevens, model.sample(3, seed=1, label=2))
    rows = model.class_rows(per_class=2, seed=0)
    assert rows.shape == (20, 28, 28, 1)
    assert np.array_equal(rows[14:16], model.sample(2, seed=0, label=7))  # row 7 is class 7 on the same latents
    with pytest.raises(OnDeviceError, match=r"^--label 10 is not a class of .*; choose a whole number from 0 to 9\.$"):
        model.sample(2, label=10)


def test_evaluate_reports_conditional_accuracy_per_class_next_to_fid(exported):
    _drain(run_evaluate(EvaluateConfig(samples=300, seeds=1, latency=False, feature_net="digit-cnn"), exported,
                        CancelToken()))
    report = json.loads(exported.report_path.read_text())
    assert report["task"] == "conditional"
    rows = {v["name"]: v for v in report["variants"]}
    assert set(rows) == {"dense", "onnx-fp32", "onnx-int8"}
    for row in rows.values():
        assert 0 <= row["cond_accuracy"] <= 1 and row["fid"] > 0
        assert len(row["cond_accuracy_per_class"]) == 10
    assert rows["onnx-fp32"]["cond_accuracy"] == pytest.approx(rows["dense"]["cond_accuracy"], abs=0.01)
    assert "Conditional accuracy" in (exported.root / "report.html").read_text()
