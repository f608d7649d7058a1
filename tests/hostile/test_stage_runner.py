"""The stage runner's bookkeeping in-process (fast): how a stage ended is recorded once, a refusal records nothing,
write failures are one sentence naming the file, and manifest paths stay inside the workspace."""

from __future__ import annotations

import errno
import json

import numpy as np
import pytest

from engine.errors import CannotWrite, WorkspaceError, cannot_write
from engine.events import Cancelled, CancelToken, Log, Progress
from engine.images import save_png
from engine.stage_runner import WorkspaceBusy, run_stage, workspace_lock
from engine.stages.export.run import ExportConfig, run_export
from engine.workspace import Workspace, atomic_write_json
from tests.hostile.conftest import assert_consistent, snapshot
from tests.hostile.oshelpers import tmpfs_mounts  # noqa: F401 - the 'tmpfs' fixture


def test_export_cancelled_mid_way_is_recorded_as_cancelled(tiny_ws):
    cancel = CancelToken()
    events = run_stage("export", tiny_ws, run_export(ExportConfig(precisions=("fp32", "int8")), tiny_ws, cancel),
                       cancel)
    with pytest.raises(Cancelled):
        for event in events:
            if isinstance(event, Progress):  # fp32 is written; int8 is next
                cancel.cancel()
    assert tiny_ws.stage("export")["status"] == "cancelled"
    assert sorted(p.name for p in tiny_ws.export_dir.iterdir()) == ["generator.onnx"]  # no int8, no temp folder
    assert_consistent(tiny_ws.root)


def test_a_crash_after_the_stage_started_is_recorded_as_failed_with_the_reason(tiny_ws):
    def crashes():
        tiny_ws.update_stage("prune", status="running")
        yield Log("info", "started")
        raise RuntimeError("out of memory in layer 3\nmore detail")

    with pytest.raises(RuntimeError):
        list(run_stage("prune", tiny_ws, crashes(), CancelToken()))
    entry = tiny_ws.stage("prune")
    assert (entry["status"], entry["error"]) == ("failed", "out of memory in layer 3")


def test_a_refusal_before_the_first_write_records_nothing_and_writes_no_config(tiny_ws):
    written = []

    def refuses():
        raise WorkspaceError("No pruned model in the workspace; run 'gan-prune prune' first.")
        yield  # a generator, as every stage is

    before = snapshot(tiny_ws.root)
    with pytest.raises(WorkspaceError):
        list(run_stage("finetune", tiny_ws, refuses(), CancelToken(), before_first_event=lambda: written.append(1)))
    assert written == []
    assert snapshot(tiny_ws.root) == before


def test_before_first_event_runs_once_when_the_stage_accepts(tiny_ws):
    written = []

    def two_events():
        yield Log("info", "a")
        yield Log("info", "b")

    events = list(run_stage("train", tiny_ws, two_events(), CancelToken(),
                            before_first_event=lambda: written.append(1)))
    assert (len(events), written) == (2, [1])


def test_a_consumer_that_stops_early_records_cancelled_and_frees_the_lock(tiny_ws):
    def long_stage():
        tiny_ws.update_stage("evaluate", status="running")
        for i in range(100):
            yield Log("info", str(i))

    events = run_stage("evaluate", tiny_ws, long_stage(), CancelToken())
    next(events)
    events.close()
    assert tiny_ws.stage("evaluate")["status"] == "cancelled"
    with workspace_lock(tiny_ws, "prune") as outer:
        assert outer is True


def test_a_nested_stage_shares_the_pipelines_lock(tiny_ws):
    def inner():
        yield Log("info", "inner")

    def pipeline():
        yield from run_stage("train", Workspace(tiny_ws.root), inner(), CancelToken())

    assert [e.message for e in run_stage("demo", tiny_ws, pipeline(), CancelToken())] == ["inner"]


def test_the_busy_error_names_the_workspace(tiny_ws, tmp_path):
    import subprocess
    import sys

    from tests.hostile.oshelpers import cli_env
    from tests.hostile.test_workspace_lock import HOLD

    p = subprocess.Popen([sys.executable, "-c", HOLD, str(tiny_ws.root), "evaluate"], stdout=subprocess.PIPE, text=True,
                         env=cli_env())
    try:
        assert p.stdout.readline().strip() == "locked"
        with pytest.raises(WorkspaceBusy) as e:
            list(run_stage("export", tiny_ws, iter(()), CancelToken()))
        assert str(e.value).startswith(f"workspace busy (pid {p.pid}, stage evaluate): {tiny_ws.root} ")
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("code, reason", [(errno.EROFS, "read-only file system"), (errno.ENOSPC, "disk full"),
                                          (errno.EACCES, "permission denied"), (errno.EPERM, "operation not permitted"),
                                          (errno.EDQUOT, "disk quota exceeded")])
def test_write_errnos_become_one_sentence_naming_the_file(code, reason):
    refused = cannot_write(OSError(code, "x", "/ws/.dense.pt.tmp"), "/ws/checkpoints/dense.pt")
    assert str(refused) == (f"cannot write /ws/checkpoints/dense.pt ({reason}); free some space or choose a "
                            "writable folder.")
    assert refused.errno == code


def test_other_os_errors_are_not_write_refusals():
    assert cannot_write(OSError(errno.ENOENT, "No such file", "/x")) is None
    assert cannot_write(ValueError("not an OSError")) is None


def test_atomic_writes_onto_a_full_disk_leave_the_old_file_and_no_temp(tmpfs):
    mount = tmpfs(256)
    target = mount.path / "manifest.json"
    atomic_write_json(target, {"version": 1, "stages": {}})
    mount.fill(leave_kb=0)
    with pytest.raises(CannotWrite, match=f"cannot write {target} \\(disk full\\)"):
        atomic_write_json(target, {"version": 1, "stages": {"train": {"notes": "x" * 300_000}}})
    assert json.loads(target.read_text()) == {"version": 1, "stages": {}}
    assert sorted(p.name for p in mount.path.iterdir()) == ["filler.bin", "manifest.json"]


def test_a_png_onto_a_full_disk_names_the_png(tmpfs):
    mount = tmpfs(256)
    mount.fill(leave_kb=0)
    out = mount.path / "grid.png"
    noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)  # does not compress away
    with pytest.raises(CannotWrite, match=f"cannot write {out} \\(disk full\\)"):
        save_png(out, noise)
    assert sorted(p.name for p in mount.path.iterdir()) == ["filler.bin"]


@pytest.mark.parametrize("path", ["../outside.pt", "/etc/passwd", "checkpoints/../../x.pt"])
def test_abs_keeps_manifest_paths_inside_the_workspace(tiny_ws, path):
    with pytest.raises(WorkspaceError, match="outside the workspace"):
        tiny_ws.abs(path)
    assert tiny_ws.abs("checkpoints/dense.pt") == tiny_ws.root / "checkpoints" / "dense.pt"
