"""Disk full: train, train --resume, export, evaluate and gan-sample --out run on a workspace inside a small tmpfs,
sized so their writes fail midway (ENOSPC). Records what each command does today: the exit code, stderr (the
promise: exit 2 and one error line, the last, naming the path), temp debris, the stage status, and whether the
files from before the command are intact (the previous checkpoint and ONNX files still load). Needs root (mount);
otherwise each case is skipped with the reason.

    .venv/bin/python bench/fault_disk_full.py [--out FILE]      (merged into bench/results/fault_injection.json)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import fault_checks  # noqa: E402
from bench.fault_injection import BIG_TRAIN, COMMANDS, RESULT, build_full, run_to_end  # noqa: E402
from engine.workspace import atomic_write_json  # noqa: E402

MB = 1 << 20
BIG_EXPORT = ["export", "--precision", "fp32", "int8", "--calibration", "32"]
# name -> (starting workspace, command, free bytes left on the tmpfs when the command starts)
CASES = {
    "train (first checkpoint)": ("empty", BIG_TRAIN, 8 * MB),  # a checkpoint is 23 MB
    "train --resume (next checkpoint)": ("big", [*BIG_TRAIN[:6], "32", *BIG_TRAIN[7:], "--resume"], 8 * MB),
    "export (fp32 rewrite)": ("big-exported", BIG_EXPORT, 3 * MB),
    # Room for the manifest's small rewrites, not for the first new sample grid (~30 KB): fails after the work.
    "evaluate (report)": ("full", COMMANDS["evaluate"][1], 16 * 1024),
    "gan-sample --out (grid)": ("big-exported", ["gan-sample", "--n", "256"], 64 * 1024),
}


def mount_tmpfs(path: Path, size: int) -> str | None:
    """Mount a tmpfs of `size` bytes at path; the reason when this machine does not allow it, else None."""
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={max(size // 1024, 64)}k", "tmpfs", str(path)],
                       capture_output=True, text=True)
    return None if p.returncode == 0 else (p.stderr.strip() or f"mount exited {p.returncode}")


@contextlib.contextmanager
def workspace_on_tmpfs(start: Path, free: int):
    """A copy of `start` on a tmpfs with about `free` bytes left over (the tmpfs is shrunk after the copy)."""
    mnt = Path(tempfile.mkdtemp(prefix="fault-disk-full-"))
    used = sum(f.stat().st_size for f in start.rglob("*") if f.is_file())
    why = mount_tmpfs(mnt, used * 2 + free + 4 * MB)
    if why:
        mnt.rmdir()
        yield None, why
        return
    try:
        shutil.copytree(start, mnt / "ws")
        st = os.statvfs(mnt)
        used_blocks = (st.f_blocks - st.f_bfree) * st.f_frsize
        subprocess.run(["mount", "-o", f"remount,size={(used_blocks + free) // 1024}k", str(mnt)], check=True)
        yield mnt / "ws", None
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
        mnt.rmdir()


def run_case(name: str, start: Path, args: list[str], free: int) -> dict:
    with workspace_on_tmpfs(start, free) as (ws, why):
        if ws is None:
            return {"case": name, "skipped": f"cannot mount a tmpfs here ({why})"}
        before = fault_checks.file_hashes(ws)
        if args[0] == "gan-sample":  # the on-device sampler writes its grid into the full folder
            model = ws / "export" / "generator.onnx"
            code, err, seconds = run_to_end([str(model), *args[1:], "--out", str(ws / "grid.png")], None,
                                            module="engine.sample_cli")
        else:
            code, err, seconds = run_to_end(args, ws)
        lines = [line for line in err.splitlines() if line.strip()]
        frames = [line.strip() for line in lines if line.strip().startswith('File "')]
        errors = [line for line in lines if line.startswith(("gan-prune: error:", "gan-sample: error:"))]
        stages, _ = fault_checks.read_stages(ws)
        after = fault_checks.file_hashes(ws)
        kept = {rel: after.get(rel) == h for rel, h in before.items() if rel.endswith((".pt", ".onnx"))}
        row = {"case": name, "command": " ".join(args), "free_bytes": free, "exit": code,
               "seconds": round(seconds, 1), "stderr_lines": len(lines), "error_lines": len(errors),
               "error_is_last_line": bool(errors) and lines[-1] == errors[-1],
               "last_line": lines[-1][:300] if lines else "",
               "traceback": "Traceback" in err, "failed_in": frames[-1][-160:] if frames else None,
               "names_path": str(ws) in err or "/ws/" in err,
               "debris": fault_checks.debris(ws), "stage_status": {k: v.get("status") for k, v in stages.items()},
               "earlier_models_unchanged": kept, "checks": fault_checks.check(ws, before)}
    # The promise is about the error: one line, last, no traceback (progress lines before it are normal output).
    row["promise_kept"] = (row["exit"] == 2 and row["error_lines"] == 1 and row["error_is_last_line"]
                           and not row["traceback"]
                           and row["names_path"] and not row["debris"] and not row["checks"]["integrity"])
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(RESULT), help="JSON file to add the 'disk_full' section to")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="fault-disk-full-src-") as tmp:
        base = Path(tmp)
        (base / "probe").mkdir()
        why = mount_tmpfs(base / "probe", 1 << 20)
        if why:
            rows = [{"case": name, "skipped": f"cannot mount a tmpfs here ({why})"} for name in CASES]
            print(f"disk-full cases skipped: cannot mount a tmpfs here ({why})")
            return _write(Path(args.out), rows)
        subprocess.run(["umount", str(base / "probe")], check=True)
        (base / "empty").mkdir()
        build_full(base / "full")
        for name, src, cmd in (("big", "empty", BIG_TRAIN), ("big-exported", "big", BIG_EXPORT)):
            shutil.copytree(base / src, base / name)
            code, err, _ = run_to_end(cmd, base / name)
            if code:
                raise SystemExit(f"building {name} failed: {err.strip()[-300:]}")
        for name, (src, cmd, free) in CASES.items():
            row = run_case(name, base / src, cmd, free)
            rows.append(row)
            print(f"{name}: " + (row["skipped"] if "skipped" in row else
                                 f"exit {row['exit']}, {row['error_lines']} error line(s), traceback "
                                 f"{row['traceback']}, debris {len(row['debris'])}, status {row['stage_status']}, "
                                 f"promise {'kept' if row['promise_kept'] else 'BROKEN'}: {row['last_line'][:160]}"),
                  flush=True)
    return _write(Path(args.out), rows)


def _write(out: Path, rows: list[dict]) -> list[dict]:
    result = json.loads(out.read_text("utf-8")) if out.exists() else {}
    result["disk_full"] = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "cases": rows}
    atomic_write_json(out, result)
    print(f"wrote the disk_full section of {out}")
    return rows


if __name__ == "__main__":
    main()
