"""kill -9 at random moments: real `gan-prune` processes are SIGKILLed during train, train --resume, prune,
finetune, export and evaluate, then the workspace is checked from the outside (bench/fault_checks.py) and the
command is run again (train: `train --resume` once a checkpoint exists) and must finish with exit 0.

Each command runs once unkilled on a copy of its starting workspace to measure its duration T (interpreter start
included); every round copies the starting workspace again, draws a kill moment uniformly in [0, T) from a seeded
generator, and records what the kill left (files changed, stage status, temp debris) and what the next run did.
A separate scenario kills `train` of the default 28px DCGAN (23 MB checkpoints) just as its checkpoint temp file
appears, twice in a row, and counts the temp files left behind. Disk-full cases: bench/fault_disk_full.py.

    .venv/bin/python bench/fault_injection.py [--rounds 8] [--seed 0] [--debris strict|report] [--out FILE]

Debris (temp files still there after the next command opened the workspace) fails a round only with
--debris strict (the default); --debris report counts it without failing.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import fault_checks  # noqa: E402
from engine.workspace import atomic_write_json  # noqa: E402

RESULT = ROOT / "bench" / "results" / "fault_injection.json"
TINY = ["--device", "cpu"]
BIG_TRAIN = ["train", "--dataset", "mnist-5k", "--arch", "dcgan", "--steps", "24", "--limit", "256", "--batch-size",
             "16", "--checkpoint-every", "4", "--sample-every", "1000", "--device", "cpu", "--threads", "1"]
FINETUNE = ["finetune", "--steps", "40", "--batch-size", "16", "--checkpoint-every", "4", "--sample-every", "1000",
            "--probe-samples", "0", *TINY]
# name -> (starting workspace, the command, the command that recovers after a kill)
COMMANDS = {
    "train": ("empty", BIG_TRAIN, None),
    "train --resume": ("full", ["train", "--resume", "--steps", "60"], None),
    "prune": ("full", ["prune", "--method", "channel-l2", "--amount", "0.4", "--schedule", "iterative", "--rounds",
                       "2", "--finetune-steps", "10", *TINY], None),
    "finetune": ("full", FINETUNE, [*FINETUNE, "--resume"]),
    # The starting workspace also holds int8-dynamic: this export removes it (a file the manifest still lists).
    "export": ("full", ["export", "--precision", "fp32", "int8", "fp16", "--calibration", "32"], None),
    "evaluate": ("full", ["evaluate", "--samples", "256", "--latency-runs", "3", "--threads", "1"], None),
}


def gan_prune(args: list[str], ws: Path | None, module: str = "engine.cli") -> subprocess.Popen:
    """`gan-prune ARGS --workspace WS` (or another entry point's module, without a workspace) in its own session."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    where = ["--workspace", str(ws)] if ws is not None else []
    return subprocess.Popen([sys.executable, "-m", module, *args, *where], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


def run_to_end(args: list[str], ws: Path | None, timeout: float = 300,
               module: str = "engine.cli") -> tuple[int, str, float]:
    t0 = time.perf_counter()
    p = gan_prune(args, ws, module)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        _, err = p.communicate()
    return p.returncode, err, time.perf_counter() - t0


def build_full(path: Path) -> None:
    """A tiny DCGAN workspace with every stage done: trained 12 steps, pruned, fine-tuned, exported, evaluated."""
    from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig
    from engine.pipeline import save_config
    from tests.engine.tiny import dense_dcgan_workspace

    ws = dense_dcgan_workspace(path)
    save_config(ws, PipelineConfig(DataConfig(limit=256), ModelConfig(latent_dim=16),
                                   TrainConfig(batch_size=16, device="cpu", threads=1, sample_every=1000,
                                               checkpoint_every=4)))
    export_all = ["export", "--precision", "int8-dynamic", *COMMANDS["export"][1][2:]]
    for args in (["train", "--resume", "--steps", "12"], ["prune", "--method", "channel-l1", "--amount", "0.5", *TINY],
                 [*FINETUNE[:2], "12", *FINETUNE[3:]], export_all, COMMANDS["evaluate"][1]):
        code, err, _ = run_to_end(args, path)
        if code != 0:
            raise SystemExit(f"building the starting workspace failed at {args[0]}: {err.strip()[-400:]}")


def recovery_args(name: str, ws: Path) -> list[str]:
    """What a user runs after the kill: the same command, or `train --resume` once a checkpoint exists."""
    _, cmd, recover = COMMANDS[name]
    if name == "train":
        return [*cmd, "--resume"] if (ws / "checkpoints" / "dense.pt").exists() else cmd
    return recover or cmd


def kill_round(name: str, start: Path, work: Path, duration: float, rng: random.Random) -> dict:
    """Copy the start, kill the command at a random moment, check, run the recovery, check again."""
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(start, work)
    before = fault_checks.file_hashes(work)
    delay = rng.uniform(0, duration)
    p = gan_prune(COMMANDS[name][1], work)
    try:
        p.wait(timeout=delay)
        finished = True  # it was faster than its measured duration this time: nothing was killed
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        finished = False
    p.stderr.close()
    after = fault_checks.file_hashes(work)
    stages, _ = fault_checks.read_stages(work)
    row = {"command": name, "delay_s": round(delay, 3), "killed": not finished,
           "changed": sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k)),
           "stage_status_after_kill": {k: v.get("status") for k, v in stages.items()},
           "debris_after_kill": fault_checks.debris(work), "after_kill": fault_checks.check(work, before)}
    args = recovery_args(name, work)
    code, err, seconds = run_to_end(args, work)
    stages, _ = fault_checks.read_stages(work)
    row.update({"recovery": " ".join(args), "recovery_exit": code, "recovery_s": round(seconds, 2),
                "recovery_stderr_tail": err.strip().splitlines()[-1:] if code else [],
                "stage_status_after_recovery": {k: v.get("status") for k, v in stages.items()},
                "after_recovery": fault_checks.check(work, before), "debris_after_recovery": fault_checks.debris(work)})
    return row


def verdict(row: dict, strict_debris: bool) -> list[str]:
    """Why a round failed (empty: it survived)."""
    why = [f"after the kill, {kind}: {p}" for kind in ("integrity", "lineage") for p in row["after_kill"][kind]]
    why += [f"after recovery, {kind}: {p}" for kind in ("integrity", "lineage") for p in row["after_recovery"][kind]]
    if row["recovery_exit"] != 0:
        why.append(f"recovery '{row['recovery']}' exited {row['recovery_exit']}: {row['recovery_stderr_tail']}")
    if strict_debris and row["debris_after_recovery"]:
        why.append(f"temp debris after the next command: {row['debris_after_recovery']}")
    return why


def checkpoint_write_kills(base: Path, lags: tuple[float, ...] = (0.0, 0.05, 0.2), timeout: float = 300) -> dict:
    """Train the 28px default DCGAN to the end, then kill `train --resume` `lag` seconds after a new checkpoint
    temp file appears, once per lag, then let `train --resume` finish: how many temp files stay, and how big."""
    ws = base / "ckpt-write"
    code, err, _ = run_to_end(BIG_TRAIN, ws)
    if code:
        raise SystemExit(f"train of the 28px DCGAN failed: {err.strip()[-300:]}")
    resume = [*BIG_TRAIN[:6], "48", *BIG_TRAIN[7:], "--resume"]
    rows = []
    for lag in lags:
        old = {f.name for f in os.scandir(ws / "checkpoints")}
        p = gan_prune(resume, ws)
        t0, hit = time.perf_counter(), None
        while p.poll() is None and time.perf_counter() - t0 < timeout:
            hit = next((f.name for f in os.scandir(ws / "checkpoints") if f.name not in old
                        and f.name.startswith(".dense.pt.") and f.name.endswith(".tmp")), None)
            if hit:
                time.sleep(lag)
                os.killpg(p.pid, signal.SIGKILL)
                break
            time.sleep(0.001)
        p.wait()
        p.stderr.close()
        rows.append({"lag_s": lag, "killed_while_writing": hit, "debris": fault_checks.debris(ws),
                     "checks": fault_checks.check(ws)})
    code, err, _ = run_to_end(resume, ws)
    left = fault_checks.debris(ws)
    return {"command": " ".join(resume), "kills": rows, "final_resume_exit": code,
            "final_resume_stderr": err.strip().splitlines()[-1:] if code else [], "debris_after_final_resume": left,
            "debris_count": len(left), "debris_bytes": sum(d["bytes"] for d in left),
            "checks_after_final_resume": fault_checks.check(ws)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8, help="kill rounds per command (6 commands)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--debris", choices=["strict", "report"], default="strict")
    ap.add_argument("--commands", nargs="+", choices=list(COMMANDS), default=list(COMMANDS))
    ap.add_argument("--no-checkpoint-write", action="store_true", help="skip the 28px checkpoint-write kills")
    ap.add_argument("--out", default=str(RESULT))
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fault-injection-") as tmp:
        base = Path(tmp)
        (base / "empty").mkdir()
        build_full(base / "full")
        per_command, rounds = {}, []
        for name in args.commands:
            start = base / COMMANDS[name][0]
            shutil.copytree(start, base / "measure")
            code, err, duration = run_to_end(COMMANDS[name][1], base / "measure")
            shutil.rmtree(base / "measure")
            if code != 0:
                raise SystemExit(f"{name} fails without any kill: {err.strip()[-400:]}")
            print(f"{name}: {duration:.1f} s unkilled", flush=True)
            done = tries = 0
            while done < args.rounds and tries < 3 * args.rounds:
                tries += 1
                row = kill_round(name, start, base / "round", duration, rng)
                row["failures"] = verdict(row, args.debris == "strict")
                rounds.append(row)
                done += row["killed"]
                print(f"  {'killed' if row['killed'] else 'finished'} at {row['delay_s']:.2f} s, changed "
                      f"{len(row['changed'])} files, debris {len(row['debris_after_kill'])}/"
                      f"{len(row['debris_after_recovery'])}, recovery exit {row['recovery_exit']}, "
                      f"{'FAILED: ' + '; '.join(row['failures']) if row['failures'] else 'ok'}", flush=True)
            mine = [r for r in rounds if r["command"] == name and r["killed"]]
            per_command[name] = {"seconds_unkilled": round(duration, 2), "rounds": len(mine),
                                 "survived": sum(not r["failures"] for r in mine),
                                 "killed_after_first_write": sum(bool(r["changed"]) for r in mine),
                                 "debris_after_kill": sum(len(r["debris_after_kill"]) for r in mine),
                                 "debris_after_recovery": sum(len(r["debris_after_recovery"]) for r in mine)}
        ckpt = None if args.no_checkpoint_write else checkpoint_write_kills(base)
    killed = [r for r in rounds if r["killed"]]
    result = {"seed": args.seed, "debris_mode": args.debris, "cpu_count": os.cpu_count(),
              "machine": platform.processor() or platform.machine(), "python": platform.python_version(),
              "seconds": round(time.perf_counter() - t_start, 1), "rounds": len(killed),
              "survived": sum(not r["failures"] for r in killed), "per_command": per_command,
              "failures": [{"command": r["command"], "delay_s": r["delay_s"], "why": r["failures"]}
                           for r in killed if r["failures"]],
              "checkpoint_write_kills": ckpt, "round_details": rounds}
    print(f"{result['survived']}/{result['rounds']} kill rounds survived in {result['seconds']} s")
    for name, c in per_command.items():
        print(f"  {name:>15}: {c['survived']}/{c['rounds']} survived ({c['killed_after_first_write']} killed after "
              f"the first write), debris after kill {c['debris_after_kill']}, after recovery "
              f"{c['debris_after_recovery']}")
    if ckpt:
        print(f"checkpoint-write kills: {ckpt['debris_count']} temp files ({ckpt['debris_bytes'] / 1e6:.1f} MB) left "
              f"after {len(ckpt['kills'])} kills and a finished resume")
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    sys.exit(1 if main()["failures"] else 0)
