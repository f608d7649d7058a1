"""gan-prune train/info: exit codes and one clear line for bad input; a real run leaves a usable workspace."""

import subprocess
import sys

import pytest
import torch

from engine.cli import main


def err_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line, never a traceback
    return err[0]


@pytest.mark.parametrize("args, fragment", [
    (["--dataset", "imagenet"], "Unknown dataset 'imagenet'"),
    (["--arch", "vit"], "Unknown architecture 'vit'"),
    (["--steps", "0"], "steps must be a whole number above 0 (got 0)"),
    (["--image-size", "4"], "data.image_size must be a whole number between 8 and 256, or left unset (got 4)"),
    (["--arch", "dcgan", "--image-size", "30"], "Image size 30 is not supported"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, fragment):
    assert main(["train", "-w", str(tmp_path / "ws"), "--steps", "1", *args]) == 2
    assert fragment in err_line(capsys)


def test_missing_and_empty_folders(tmp_path, capsys):
    assert main(["train", "-w", str(tmp_path / "ws"), "--dataset", f"folder:{tmp_path / 'none'}", "--steps", "1"]) == 2
    assert "does not exist" in err_line(capsys)
    (tmp_path / "empty").mkdir()
    assert main(["train", "-w", str(tmp_path / "ws"), "--dataset", f"folder:{tmp_path / 'empty'}", "--steps", "1"]) == 2
    assert "has no png/jpg/bmp/webp images" in err_line(capsys)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused_and_auto_falls_back(tmp_path, capsys):
    assert main(["train", "-w", str(tmp_path / "ws"), "--device", "cuda", "--steps", "1"]) == 2
    assert "no CUDA GPU is available; use --device cpu or auto" in err_line(capsys)
    assert main(["train", "-w", str(tmp_path / "ws"), "--device", "auto", "--steps", "1", "--limit", "32",
                 "--batch-size", "8", "--arch", "mlp", "-q"]) == 0
    assert "No CUDA GPU found; training on the CPU." in capsys.readouterr().err


def test_a_workspace_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["train", "-w", str(f), "--steps", "1"]) == 2
    assert "is a file, not a folder" in err_line(capsys)


def test_info_on_an_empty_workspace(tmp_path, capsys):
    (tmp_path / "ws").mkdir()
    assert main(["info", "-w", str(tmp_path / "ws")]) == 2
    assert "has no trained model yet" in err_line(capsys)


def test_train_then_info_then_resume_in_a_real_process(tmp_path):
    ws = str(tmp_path / "ws")
    cmd = [sys.executable, "-m", "engine.cli"]
    first = subprocess.run(cmd + ["train", "-w", ws, "--arch", "dcgan", "--steps", "2", "--limit", "64",
                                  "--batch-size", "8", "--device", "cpu"], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    info = subprocess.run(cmd + ["info", "-w", ws], capture_output=True, text=True)
    assert info.returncode == 0 and "ConvTranspose2d" in info.stdout and "MACs" in info.stdout
    again = subprocess.run(cmd + ["train", "-w", ws, "--steps", "3", "--resume"], capture_output=True, text=True)
    assert again.returncode == 0 and "Resuming from step 2." in again.stderr
    bad = subprocess.run(cmd + ["train", "-w", ws, "--steps", "-1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
