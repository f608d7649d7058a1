"""Smoke tests of the frozen programs, run the way a user runs them.

Each program runs with a clean environment (only PATH, HOME, LANG; no PYTHONPATH, no venv) from a temporary
folder whose name has a space and non-ASCII letters, so a bundle that secretly leans on the source tree, the
build machine's Python or ASCII-only paths fails here rather than on a user's machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ODD_FOLDER = "smoke tést ø"


def clean_env(folder: Path, **extra: str) -> dict[str, str]:
    home = folder / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "LANG": os.environ.get("LANG") or "C.UTF-8"}
    if sys.platform == "win32":  # Windows cannot start a process without these
        env |= {k: os.environ[k] for k in ("SYSTEMROOT", "TEMP", "TMP", "USERPROFILE") if k in os.environ}
    return env | extra


def odd_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="gan-smoke-")) / ODD_FOLDER
    folder.mkdir()
    return folder


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8",
                              errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(cmd, -1, e.stdout or "", f"timed out after {timeout:.0f} s")


def check(ok: bool, what: str, proc: subprocess.CompletedProcess | None = None) -> bool:
    print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok and proc is not None:
        print(f"     exit code {proc.returncode}\n     stdout: {proc.stdout.strip()[-1500:]}\n"
              f"     stderr: {proc.stderr.strip()[-1500:]}")
    return ok


def valid_png(path: Path) -> tuple[int, int] | None:
    """The PNG's size if it is a valid, non-blank PNG image; None otherwise."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            lo, hi = im.convert("L").getextrema()
            return im.size if im.format == "PNG" and hi > lo else None
    except Exception:
        return None


# ---- the sampler ---------------------------------------------------------------------------------------------------
def demo_onnx(folder: Path) -> Path:
    """The demo's generator as ONNX, exported by the source engine (the frozen sampler has no torch).

    The bundled pretrained DCGAN when it is there; else a randomly initialised DCGAN of the same shape, which
    exercises the same ops."""
    from engine.export.onnx import export_generator
    from engine.models import build_generator, default_specs, generator_from_checkpoint
    from engine.resources import resource
    from engine.workspace import load_checkpoint_file

    folder.mkdir(parents=True, exist_ok=True)
    pretrained = resource("models", "dcgan-mnist5k.pt")
    if pretrained.is_file():
        G = generator_from_checkpoint(load_checkpoint_file(pretrained))
        dataset = "mnist-5k"
    else:
        import torch

        torch.manual_seed(0)
        G = build_generator(default_specs("dcgan", (1, 28, 28))[0])
        dataset = "random-init"
    out = export_generator(G.eval(), folder / "demo generator.onnx", metadata={"dataset": dataset})
    source = "a random DCGAN" if dataset == "random-init" else f"the pretrained {pretrained.name}"
    print(f"exported {out.name} from {source}", flush=True)
    return out


def smoke_sampler(exe: Path, onnx: Path, timeout: float = 120) -> bool:
    folder = odd_folder()
    try:
        env = clean_env(folder)
        model = folder / "modèle démo.onnx"
        shutil.copyfile(onnx, model)
        ok = True

        (folder / "grille ø").mkdir()  # --out names a file in a folder that exists (a missing one is refused)
        proc = run([str(exe), model.name, "--n", "16", "--seed", "3", "--out", "grille ø/grid.png"], folder, env,
                   timeout)
        size = valid_png(folder / "grille ø" / "grid.png")
        ok &= check(proc.returncode == 0 and size is not None,
                    f"gan-sample writes a valid 16-image grid PNG {size} from a folder named {ODD_FOLDER!r}", proc)

        proc = run([str(exe), "missing.onnx", "--out", "x.png"], folder, env, timeout)
        lines = proc.stderr.strip().splitlines()
        ok &= check(proc.returncode == 2 and len(lines) == 1 and "missing.onnx" in lines[0],
                    f"a missing model: exit 2 and one line ({lines[0] if lines else 'nothing'})", proc)

        corrupt = folder / "corrupt.onnx"
        corrupt.write_bytes(model.read_bytes()[:200] + b"\x00garbage" * 64)
        proc = run([str(exe), corrupt.name, "--out", "y.png"], folder, env, timeout)
        lines = proc.stderr.strip().splitlines()
        ok &= check(proc.returncode == 2 and len(lines) == 1 and not (folder / "y.png").exists(),
                    f"a corrupt model: exit 2 and one line ({lines[0][:90] if lines else 'nothing'})", proc)
        return ok
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)


# ---- the studio ----------------------------------------------------------------------------------------------------
def smoke_studio(exe: Path, timeout: float = 900) -> bool:
    """The frozen studio's --self-test: a tiny real train (on one process, then on two through the Processes field),
    prune, fine-tune on two processes and ONNX export through the window, offscreen."""
    folder = odd_folder()
    try:
        env = clean_env(folder, QT_QPA_PLATFORM="offscreen")
        proc = run([str(exe), "--self-test"], folder, env, timeout)
        for line in proc.stdout.strip().splitlines():
            print(f"     {line}")
        ok = check(proc.returncode == 0 and "self-test passed" in proc.stdout,
                   f"gan-prune-studio --self-test offscreen from a folder named {ODD_FOLDER!r}", proc)
        processes_ran = all(line in proc.stdout for line in ("ok   train on 2 processes: done",
                                                             "ok   fine-tune on 2 processes: done"))
        ok &= check(processes_ran, "the frozen studio trained and fine-tuned on 2 CPU processes (its own program "
                    "under torchrun)", proc)
        export_ran = "export: done" in proc.stdout
        ok &= check(export_ran, "the frozen studio exported ONNX (torch.onnx + onnxscript inside the bundle)", proc)
        return ok
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
