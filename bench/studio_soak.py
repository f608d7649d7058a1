"""Soak run: the real studio window trains for many minutes with its loss plots and sample grid live, then finishes.

Not a test (too long for `make test`): prints the numbers and writes bench/results/studio_soak.json.
    .venv/bin/python bench/studio_soak.py [--minutes 10] [--arch dcgan] [--threads 1]

Why a second process: the studio under test runs in a child, so an abort inside Qt (issue 10: PySide6 6.12.0 drove
the count of references to None to zero after ~2 minutes of painting plots, "Fatal Python error: none_dealloc",
exit 134) is recorded as an exit status instead of killing the benchmark. The parent samples the child's RSS from
/proc every few seconds; the child reports sys.getrefcount(None) and its step on stdout as JSON lines.

Protocol: a short warm-up job (same settings) measures steps/s; the main job is then sized to last --minutes, and it
must end "done". RSS growth = peak RSS during the main job minus RSS at the end of its warm-up (the first 10 % of the
job, at least 60 s), when the plots, grids, torch and the data are all in memory. Target: <= 50 MB.
Runs offscreen unless QT_QPA_PLATFORM says otherwise (e.g. xcb under Xvfb, as a person would see it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE_S = 3.0  # how often RSS and the refcount of None are recorded
TARGET_GROWTH_MB = 50
NONE_REFS_SLACK = 1000  # objects holding None come and go; a leaking binding loses ~200 references a second


# ---- the child: the studio itself -------------------------------------------------------------------------------
def _emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def _rss_mb(pid: int | str = "self") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _set_training(window, args, steps: int) -> None:
    data = window.pages["data"]
    data.dataset.setCurrentIndex(data.dataset.findData("mnist-5k"))
    f = window.pages["train"]._fields
    f["arch"].setCurrentIndex(f["arch"].findData(args.arch))
    f["device"].setCurrentIndex(f["device"].findData("cpu"))
    f["resume"].setChecked(False)
    for key, value in (("threads", args.threads), ("steps", steps), ("batch_size", args.batch),
                       ("sample_every", args.sample_every), ("checkpoint_every", args.checkpoint_every)):
        f[key].setValue(value)


def _train(app, window, args, steps: int, on_tick=None) -> tuple[str, float]:
    """Press Train's Start and run the event loop until the job ends; (status, seconds)."""
    from PySide6.QtCore import QEventLoop, QTimer

    from desktop_app.selftest import run_job

    _set_training(window, args, steps)
    timer = None
    if on_tick is not None:
        timer = QTimer()
        timer.setInterval(int(SAMPLE_S * 1000))
        timer.timeout.connect(on_tick)
        timer.start()
    t0 = time.perf_counter()
    status = run_job(window, "train", timeout_s=args.minutes * 60 * 4 + 600)
    seconds = time.perf_counter() - t0
    if timer is not None:
        timer.stop()
    loop = QEventLoop()  # let the last redraws paint
    QTimer.singleShot(200, loop.quit)
    loop.exec()
    return status, seconds


def child(args) -> int:
    from desktop_app.app import build_main_window, create_application
    from desktop_app.settings import StudioSettings

    app = create_application()
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="studio-soak-") as tmp:
        window = build_main_window(settings=StudioSettings(Path(tmp) / "settings.ini"))
        window.confirm_close = lambda: True
        window.resize(1400, 900)
        window.show()
        window.open_workspace(Path(tmp) / "project")
        window.show_page("train")
        page = window.pages["train"]
        status, seconds = _train(app, window, args, args.warmup_steps)
        rate = args.warmup_steps / max(seconds, 1e-3)
        steps = max(args.warmup_steps, int(rate * args.minutes * 60 * 1.05))
        _emit(kind="warmup", status=status, seconds=round(seconds, 1), steps_per_s=round(rate, 2), main_steps=steps)
        if status != "done":
            return 1
        shot = {"taken": False}

        def tick() -> None:
            bar = page.progress
            _emit(kind="tick", t=round(time.perf_counter() - t_start, 1), none_refs=sys.getrefcount(None),
                  step=bar.value(), plot_points=page.losses.point_count("loss_g"), grids=page.grid.updates)
            if args.screenshot and not shot["taken"] and page.grid.updates >= 3:
                shot["taken"] = True
                screen = app.primaryScreen()  # the whole screen as a person sees it (on xcb: the X server's pixels)
                pix = screen.grabWindow(0) if screen is not None else window.grab()
                if pix.isNull():
                    pix = window.grab()
                _emit(kind="screenshot", path=args.screenshot, saved=bool(pix.save(args.screenshot)))

        _emit(kind="main-start", t=round(time.perf_counter() - t_start, 1), steps=steps)
        status, seconds = _train(app, window, args, steps, on_tick=tick)
        _emit(kind="main-end", status=status, seconds=round(seconds, 1), steps=steps,
              plot_points=page.losses.point_count("loss_g"), grids=page.grid.updates,
              none_refs=sys.getrefcount(None))
        window.close()
        app.processEvents()
    return 0 if status == "done" else 1


# ---- the parent: runs the child, watches it ---------------------------------------------------------------------
def _read_lines(stream, lines: list, raw: list) -> None:
    for line in stream:
        raw.append(line)
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        ev["at"] = time.monotonic()
        lines.append(ev)


def _summarise(args, code: int, samples: list[dict], events: list[dict], wall: float) -> dict:
    main_start = next((e for e in events if e["kind"] == "main-start"), None)
    main_end = next((e for e in events if e["kind"] == "main-end"), None)
    warm = next((e for e in events if e["kind"] == "warmup"), None)
    ticks = [e for e in events if e["kind"] == "tick"]
    out = {"bench": "studio_soak", "exit_status": code, "wall_minutes": round(wall / 60, 2),
           "settings": {"arch": args.arch, "batch": args.batch, "threads": args.threads,
                        "sample_every": args.sample_every, "target_minutes": args.minutes,
                        "qt_platform": os.environ.get("QT_QPA_PLATFORM", "offscreen")},
           "warmup_job": warm, "target_growth_mb": TARGET_GROWTH_MB}
    if main_start is not None:
        t0 = main_start["at"]
        t1 = main_end["at"] if main_end else samples[-1]["at"] if samples else t0
        run_s = t1 - t0
        settle = t0 + max(60.0, 0.1 * run_s)
        during = [s for s in samples if t0 <= s["at"] <= t1]
        after = [s for s in during if s["at"] >= settle]
        base = after[0]["rss_mb"] if after else None
        peak = max((s["rss_mb"] for s in after), default=None)
        out["main_job"] = {"status": main_end["status"] if main_end else "did not finish",
                           "minutes": round(run_s / 60, 2), "steps": main_start["steps"],
                           "plot_points": main_end and main_end["plot_points"],
                           "sample_grids_shown": main_end and main_end["grids"]}
        out["rss_mb"] = {"at_start_of_main_job": during[0]["rss_mb"] if during else None,
                         "after_warmup": base, "peak_after_warmup": peak,
                         "final": during[-1]["rss_mb"] if during else None,
                         "growth_after_warmup": round(peak - base, 1) if base is not None else None,
                         # a drift check that one early dip cannot exaggerate: medians of the first and last tenth
                         "median_first_tenth": _median_rss(after[: max(1, len(after) // 10)]),
                         "median_last_tenth": _median_rss(after[-max(1, len(after) // 10):])}
    refs = [e["none_refs"] for e in ticks]
    out["none_refcount"] = {"first": refs[0] if refs else None, "last": refs[-1] if refs else None,
                            "min": min(refs, default=None), "samples": len(refs)}
    first_at = samples[0]["at"] if samples else 0.0
    out["timeline"] = [{"t_s": round(s["at"] - first_at, 1), "rss_mb": round(s["rss_mb"], 1)} for s in samples]
    out["refcount_timeline"] = [{"t_s": e["t"], "none_refs": e["none_refs"], "step": e["step"]} for e in ticks]
    # A binding that drops references to None (PySide6 6.12.0) shows here long before the abort: a falling count.
    out["none_refcount"]["fell"] = bool(refs) and min(refs) < refs[0] - NONE_REFS_SLACK
    growth = out.get("rss_mb", {}).get("growth_after_warmup")
    out["passed"] = bool(code == 0 and out.get("main_job", {}).get("status") == "done" and not
                         out["none_refcount"]["fell"] and growth is not None and growth <= TARGET_GROWTH_MB)
    return out


def _median_rss(samples: list[dict]) -> float | None:
    values = sorted(s["rss_mb"] for s in samples)
    return round(values[len(values) // 2], 1) if values else None


def parent(args) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": str(max(1, args.threads))}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *sys.argv[1:]]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    events: list[dict] = []
    raw: list[str] = []
    reader = threading.Thread(target=_read_lines, args=(proc.stdout, events, raw), daemon=True)
    reader.start()
    samples: list[dict] = []
    deadline = t0 + args.minutes * 60 * 4 + 900
    while proc.poll() is None:
        rss = _rss_mb(proc.pid)
        if rss is not None:
            samples.append({"at": time.monotonic(), "rss_mb": rss})
            if len(samples) % 20 == 0:
                print(f"{(time.monotonic() - t0) / 60:5.1f} min  RSS {rss:7.1f} MB  "
                      f"{next((e for e in reversed(events) if e['kind'] == 'tick'), {})}", flush=True)
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(SAMPLE_S)
    reader.join(timeout=10)
    code = proc.returncode
    result = _summarise(args, code, samples, events, time.monotonic() - t0)
    result["child_output_tail"] = [line.rstrip() for line in raw if not line.startswith("{")][-15:]
    result["machine"] = {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                         "python": platform.python_version(), "pyside6": _pyside_version()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    mj, rss, refs = result.get("main_job", {}), result.get("rss_mb", {}), result["none_refcount"]
    print(f"exit {code}; main job {mj.get('status')} after {mj.get('minutes')} min ({mj.get('steps')} steps, "
          f"{mj.get('sample_grids_shown')} grids, {mj.get('plot_points')} plot points); RSS after warm-up "
          f"{rss.get('after_warmup')} MB, peak {rss.get('peak_after_warmup')} MB, growth "
          f"{rss.get('growth_after_warmup')} MB (target <= {TARGET_GROWTH_MB}); refcount(None) "
          f"{refs['first']} -> {refs['last']} (min {refs['min']}); {'PASSED' if result['passed'] else 'FAILED'}")
    print(f"wrote {out}")
    return 0 if result["passed"] else 1


def _pyside_version() -> str:
    try:
        from importlib.metadata import version

        return version("PySide6-Essentials")
    except Exception:  # a PySide6 installed some other way
        return "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long the main training job should last")
    ap.add_argument("--arch", default="dcgan", choices=("mlp", "dcgan", "resnet"), help="the Train page's default")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (0 = all; 1 leaves a core free)")
    ap.add_argument("--sample-every", type=int, default=20, help="steps between sample grids")
    ap.add_argument("--checkpoint-every", type=int, default=500)
    ap.add_argument("--warmup-steps", type=int, default=60, help="the short first job that measures steps/s")
    ap.add_argument("--screenshot", metavar="PNG", help="grab the screen once a few sample grids are shown")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "studio_soak.json"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    return child(args) if args.child else parent(args)


if __name__ == "__main__":
    sys.exit(main())
