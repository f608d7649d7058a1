"""Your own generator through the whole pipeline, timed: the fixture DCGAN (tests/fixtures/user_dcgan.py) trained by
its own tutorial loop on mnist-5k, then `gan-prune import` → prune 50 % of G's channels → finetune → evaluate →
export fp32 + int8 → gan-sample, each as a user runs it (the CLI, in this process).

Protocol: one seed; domain-FID of 2,000 samples against 2,000 real digits in the bundled classifier's features
(evaluate's protocol at --samples 2000); one torch thread; the wall time of each command. Writes
bench/results/user_import.json. No asserts: numbers to read.

    .venv/bin/python bench/user_import.py [--train-steps 1500] [--finetune-steps 300] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.cli import main as gan_prune  # noqa: E402
from engine.config import DataConfig  # noqa: E402
from engine.data import load_dataset, to_float  # noqa: E402
from engine.sample_cli import main as gan_sample  # noqa: E402
from engine.workspace import atomic_write_json  # noqa: E402
from tests.engine.user_model import FIXTURE, fixture_module  # noqa: E402


def timed(label: str, times: dict, fn, *args) -> None:
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
        cli = fn in (gan_prune, gan_sample)
        code = fn(list(args)) if cli else (fn(*args) and 0)
    times[label] = round(time.perf_counter() - t0, 1)
    if code not in (0, None):
        raise SystemExit(f"{label} failed ({code}): {err.getvalue().strip()[-400:]}")
    print(f"{label}: {times[label]} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-steps", type=int, default=1500)
    ap.add_argument("--finetune-steps", type=int, default=300)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="a few steps of everything (checks the script runs)")
    args = ap.parse_args()
    if args.quick:
        args.train_steps, args.finetune_steps, args.samples = 20, 5, 256
    torch.set_num_threads(1)
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        u = fixture_module()
        torch.manual_seed(0)
        G, D = u.TinyGenerator(), u.TinyDiscriminator()
        real = to_float(load_dataset(DataConfig()).images)
        timed("train (its own loop)", times, u.train_briefly, G, D, real, args.train_steps)
        torch.save(G.state_dict(), tmp / "G.pt")
        torch.save(D.state_dict(), tmp / "D.pt")
        ws = tmp / "ws"
        timed("import", times, gan_prune, "import", "-w", str(ws), "--generator", str(FIXTURE), "--class",
              "TinyGenerator", "--weights", str(tmp / "G.pt"), "--discriminator-class", "TinyDiscriminator",
              "--discriminator-weights", str(tmp / "D.pt"))
        timed("prune", times, gan_prune, "prune", "-w", str(ws), "--method", "channel-l1", "--amount", "0.5")
        timed("finetune", times, gan_prune, "finetune", "-w", str(ws), "--steps", str(args.finetune_steps),
              "--probe-samples", "1000" if not args.quick else "256")
        timed("evaluate", times, gan_prune, "evaluate", "-w", str(ws), "--samples", str(args.samples),
              "--threads", "1")
        timed("export", times, gan_prune, "export", "-w", str(ws), "--precision", "fp32", "int8", "--threads", "1")
        timed("gan-sample int8", times, gan_sample, str(ws / "export" / "generator.int8.onnx"), "--n", "64",
              "--out", str(tmp / "grid.png"))
        report = json.loads((ws / "report.json").read_text())
        export = json.loads((ws / "manifest.json").read_text())["stages"]["export"]["results"]
    variants = {v["name"]: {k: v.get(k) for k in ("fid", "macs", "params", "psnr_vs_teacher")}
                for v in report["variants"]}
    result = {"protocol": __doc__.split("\n\n")[1].replace("\n", " "), "train_steps": args.train_steps,
              "finetune_steps": args.finetune_steps, "samples": args.samples, "seconds": times,
              "variants": variants, "int8": {k: v for k, v in export["int8"].items() if k != "path"},
              "machine": platform.platform(), "load_average": [round(x, 1) for x in os.getloadavg()]}
    print(json.dumps(result, indent=2))
    if not args.quick:
        atomic_write_json(ROOT / "bench" / "results" / "user_import.json", result)


if __name__ == "__main__":
    main()
