"""Do our exports load and agree in the older onnxruntime a device may have? Every precision, default opset.

Devices often lag the latest runtime: onnxruntime 1.16/1.17 refuse IR version 10 files, which is what the
exporter wrote before `--opset`. This script exports the bundled DCGAN generator as `gan-prune export` does
(fp32, int8, int8-dynamic, fp16) at the default opset, plus an fp32 file at opset 21 (IR 10) as the
counter-example, then runs each file in side virtual environments holding older onnxruntime wheels (created
on demand under the system temp folder, never in the repo) and compares their outputs with this
environment's runtime on the same latents: max |difference| and PSNR. Writes bench/results/old_runtime.json.

onnxruntime 1.14 has no Python 3.11 wheel (`pip index versions onnxruntime` lists 1.15.0 and newer for
cp311), so its side environment uses Python 3.10 when one is installed.

    .venv/bin/python bench/old_runtime.py [--versions 1.14.1 1.16.3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.export.graph import DEFAULT_OPSET  # noqa: E402
from engine.export.onnx import export_generator, read_metadata  # noqa: E402
from engine.export.quantize import (  # noqa: E402
    convert_fp16,
    psnr,
    quantize_int8_dynamic,
    quantize_int8_static,
)
from engine.models import generator_from_checkpoint  # noqa: E402
from engine.ondevice.threads import open_session  # noqa: E402
from engine.resources import resource  # noqa: E402

# Which Python each runtime needs: the newest one it has a wheel for.
PYTHONS = {"1.14": ("3.10",), "1.15": ("3.11", "3.10"), "1.16": ("3.11", "3.10"), "1.17": ("3.11", "3.10")}
# One file per process: onnxruntime 1.14.1 crashes (SIGSEGV) loading fp16 files; the others must still be tried.
RUN_IN_SIDE_ENV = r"""
import sys
import numpy as np
import onnxruntime as ort
path, z_path, out_path = sys.argv[1:4]
try:
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    np.save(out_path, s.run(None, {"z": np.load(z_path)})[0])
    print("ok")
except Exception as e:
    text = " ".join(str(e).split()) or type(e).__name__
    print("refused: " + text[text.find("Unsupported"):][:200] if "Unsupported" in text else "refused: " + text[:200])
"""


def find_python(version: str) -> str | None:
    """A Python interpreter that onnxruntime==version has a wheel for (pyenv shims may exist yet not run)."""
    for minor in PYTHONS.get(".".join(version.split(".")[:2]), ("3.11",)):
        candidates = [str(p) for p in sorted(Path.home().glob(f".pyenv/versions/{minor}.*/bin/python{minor}"))]
        candidates += [c for c in (shutil.which(f"python{minor}"),) if c]
        for c in candidates:
            if subprocess.run([c, "-c", "import venv"], capture_output=True).returncode == 0:
                return c
    return None


def side_env(version: str) -> Path | str:
    """The side environment's python for onnxruntime==version (created once), or why there is none."""
    env = Path(tempfile.gettempdir()) / f"gan-prune-ort-{version}"
    python = env / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import onnxruntime"], capture_output=True).returncode == 0:
        return python
    base = find_python(version)
    if base is None:
        return f"no Python with an onnxruntime {version} wheel is installed"
    subprocess.run([base, "-m", "venv", str(env)], check=True)
    pip = subprocess.run([python, "-m", "pip", "install", "-q", f"onnxruntime=={version}", "numpy<2"],
                         capture_output=True, text=True)
    if pip.returncode != 0:
        return f"pip could not install onnxruntime=={version}: {pip.stderr.strip().splitlines()[-1:]}"
    return python


def run_one(python, path: Path, z_path: Path, out_path: Path) -> dict:
    run = subprocess.run([python, "-c", RUN_IN_SIDE_ENV, str(path), str(z_path), str(out_path)],
                         capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        return {"loads": False, "error": f"the runtime crashed (exit {run.returncode})"}
    state = run.stdout.strip().splitlines()[-1]
    return {"loads": True} if state == "ok" else {"loads": False, "error": state}


def export_files(tmp: Path) -> dict[str, Path]:
    ckpt = torch.load(resource("models", "dcgan-mnist5k.pt"), map_location="cpu", weights_only=True)
    G = generator_from_checkpoint(ckpt).eval()
    meta = {"dataset": "mnist-5k"}
    files = {"fp32": export_generator(G, tmp / "generator.onnx", meta)}
    subpixel = export_generator(G, tmp / "generator.subpixel.onnx", meta, subpixel=True)
    files["int8"] = quantize_int8_static(subpixel, tmp / "generator.int8.onnx", 256)
    files["int8-dynamic"] = quantize_int8_dynamic(subpixel, tmp / "generator.int8-dynamic.onnx")
    files["fp16"] = convert_fp16(files["fp32"], tmp / "generator.fp16.onnx")
    files["fp32 opset 21"] = export_generator(G, tmp / "generator.opset21.onnx", meta, opset=21)
    return files


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", nargs="+", default=["1.14.1", "1.16.3"])
    args = ap.parse_args()
    results: dict = {"default_opset": DEFAULT_OPSET, "runtimes": {}}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        files = export_files(tmp)
        import onnx

        results["files"] = {k: {"opset": int(read_metadata(p).get("gan.opset", 0)),
                                "ir_version": int(onnx.load(str(p)).ir_version)} for k, p in files.items()}
        z = np.random.default_rng(0).standard_normal((64, 100)).astype(np.float32)
        np.save(tmp / "z.npy", z)
        current = {k: open_session(p, 1).run(["image"], {"z": z})[0] for k, p in files.items()}
        import onnxruntime

        results["current_onnxruntime"] = onnxruntime.__version__
        for version in args.versions:
            python = side_env(version)
            if isinstance(python, str):
                results["runtimes"][version] = {"skipped": python}
                print(f"onnxruntime {version}: skipped ({python})")
                continue
            out = tmp / version
            out.mkdir()
            version_text = subprocess.run([python, "-c", "import onnxruntime; print(onnxruntime.__version__)"],
                                          capture_output=True, text=True).stdout.strip()
            row = {"onnxruntime": version_text, "files": {}}
            for name, path in files.items():
                row["files"][name] = entry = run_one(python, path, tmp / "z.npy", out / f"{path.stem}.npy")
                if entry["loads"]:
                    old = np.load(out / f"{path.stem}.npy")
                    entry["max_abs_diff_vs_current"] = float(np.abs(old - current[name]).max())
                    entry["psnr_vs_current_db"] = round(min(psnr(old, current[name]), 200.0), 2)
                    entry["psnr_vs_current_fp32_db"] = round(min(psnr(old, current["fp32"]), 200.0), 2)
                print(f"onnxruntime {version_text}: {name}: {entry}")
            results["runtimes"][version] = row
    path = ROOT / "bench" / "results" / "old_runtime.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
