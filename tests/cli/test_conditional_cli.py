"""--task conditional on the command line: train, run CONFIG.toml, gan-sample --label; bad input exits 2, one line."""

import pytest
import torch
from PIL import Image

from engine.cli import main as gan_prune
from engine.sample_cli import main as gan_sample
from tests.cli.test_gan_sample import NO_TORCH, ROOT
from tests.engine.test_ondevice import tiny_generator


def err_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line, never a traceback
    return err[0]


def _flat_folder(path):
    path.mkdir()
    for i in range(4):
        Image.new("L", (28, 28), 50 * i).save(path / f"{i}.png")
    return path


def test_train_refuses_a_conditional_task_it_cannot_do(tmp_path, capsys):
    assert gan_prune(["train", "-w", str(tmp_path / "a"), "--task", "conditional", "--arch", "mlp"]) == 2
    assert err_line(capsys) == "gan-prune: error: The conditional task needs --arch dcgan (got mlp)."
    flat = _flat_folder(tmp_path / "flat")
    assert gan_prune(["train", "-w", str(tmp_path / "b"), "--task", "conditional", "--dataset", f"folder:{flat}"]) == 2
    assert err_line(capsys) == (f"gan-prune: error: The data set folder:{flat} has no class labels; the conditional "
                                "task needs labelled data: mnist-5k, mnist, fashion-mnist, cifar10, or folder:PATH "
                                "with one sub-folder per class.")
    assert not (tmp_path / "b" / "checkpoints" / "dense.pt").exists()
    with pytest.raises(SystemExit) as stop:
        gan_prune(["train", "-w", str(tmp_path / "c"), "--task", "colour"])
    assert stop.value.code == 2 and "invalid choice: 'colour'" in err_line(capsys)


def test_run_reads_the_task_from_the_config_file(tmp_path, capsys):
    toml = tmp_path / "cond.toml"
    toml.write_text('[data]\ndataset = "mnist-5k"\nlimit = 300\n[model]\narch = "dcgan"\ntask = "conditional"\n'
                    '[train]\nsteps = 1\nbatch_size = 8\ndevice = "cpu"\n'
                    '[prune]\nmethod = "channel-l1"\namount = 0.5\n'
                    '[finetune]\nsteps = 1\nbatch_size = 8\nprobe_samples = 0\ndevice = "cpu"\n')
    assert gan_prune(["run", str(toml), "-w", str(tmp_path / "ws"), "-q"]) == 0
    for name in ("dense", "pruned", "finetuned"):
        ckpt = torch.load(tmp_path / "ws" / "checkpoints" / f"{name}.pt", weights_only=True)
        assert ckpt["task"] == "conditional" and ckpt["arch"]["generator"]["num_classes"] == 10
    assert ckpt["arch"]["generator"]["widths"] == [128, 64]
    toml.write_text('[model]\ntask = "colour"\n')
    assert gan_prune(["run", str(toml), "-w", str(tmp_path / "ws2")]) == 2
    assert "model.task must be one of unconditional, conditional" in err_line(capsys)


def test_info_names_the_task(conditional_export, capsys):
    assert gan_prune(["info", "-w", str(conditional_export.root)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == ("checkpoint checkpoints/dense.pt (step 0), task conditional "
                                                       "(10 classes)")


def test_gan_sample_draws_one_class_or_a_row_per_class(conditional_export, tmp_path, capsys):
    model = str(conditional_export.export_dir / "generator.int8.onnx")
    assert gan_sample([model, "--label", "7", "--n", "6", "--out", str(tmp_path / "sevens.png")]) == 0
    assert "6 images of class 7" in capsys.readouterr().out
    assert Image.open(tmp_path / "sevens.png").size == (2 * 30 + 2, 3 * 30 + 2)  # 28 px + 2 px border, 2 per row
    assert gan_sample([model, "--n", "20", "--out", str(tmp_path / "rows.png")]) == 0
    assert "10 rows, one per class (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), of 2 images" in capsys.readouterr().out
    assert Image.open(tmp_path / "rows.png").size == (2 * 30 + 2, 10 * 30 + 2)


def test_gan_sample_draws_a_class_without_importing_torch(conditional_export, tmp_path):
    import os
    import subprocess
    import sys

    model = conditional_export.export_dir / "generator.int8.onnx"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", NO_TORCH, str(model), "--label", "3", "--n", "4", "--out",
                        str(tmp_path / "threes.png")], capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "4 images of class 3" in r.stdout and Image.open(tmp_path / "threes.png").size == (62, 62)


@pytest.mark.parametrize("label", ["10", "-1"])
def test_gan_sample_refuses_a_class_the_model_does_not_have(conditional_export, tmp_path, capsys, label):
    model = conditional_export.export_dir / "generator.onnx"
    assert gan_sample([str(model), "--label", label, "--out", str(tmp_path / "g.png")]) == 2
    assert err_line(capsys) == (f"gan-sample: error: --label {label} is not a class of generator.onnx; choose a "
                                "whole number from 0 to 9.")
    assert not (tmp_path / "g.png").exists()


def test_gan_sample_refuses_a_label_for_an_unconditional_model(tmp_path, capsys):
    model = tiny_generator(tmp_path / "plain.onnx", shape=(1, 4, 4))
    assert gan_sample([str(model), "--label", "3", "--out", str(tmp_path / "g.png")]) == 2
    assert err_line(capsys) == ("gan-sample: error: The model plain.onnx is unconditional (gan.task unconditional); "
                                "it takes no class, so leave out --label.")
