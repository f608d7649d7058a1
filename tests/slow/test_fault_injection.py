"""kill -9 and full disks against real `gan-prune` processes (bench/fault_injection.py, bench/fault_disk_full.py),
with a small round count. Slow: run with `pytest -m slow tests/slow/test_fault_injection.py`.

FAULT_DEBRIS=report counts temp files left after the next command without failing on them (the default, strict,
fails: a workspace is swept of stale temp files when it is opened).
"""

import os

import pytest

from bench import fault_disk_full, fault_injection

pytestmark = pytest.mark.slow


def test_every_kill_leaves_loadable_files_an_agreeing_manifest_and_a_command_that_finishes(tmp_path):
    result = fault_injection.main(["--rounds", "1", "--seed", "1", "--debris", os.environ.get("FAULT_DEBRIS", "strict"),
                                   "--no-checkpoint-write", "--out", str(tmp_path / "faults.json")])
    assert result["rounds"] == 6  # one SIGKILL in each of train, train --resume, prune, finetune, export, evaluate
    assert result["failures"] == []
    assert result["survived"] == 6


def test_a_full_disk_stops_the_command_with_one_line_and_keeps_the_earlier_files(tmp_path):
    rows = fault_disk_full.main(["--out", str(tmp_path / "faults.json")])
    if "skipped" in rows[0]:
        pytest.skip(rows[0]["skipped"])
    assert len(rows) == 5
    for row in rows:
        assert row["checks"]["integrity"] == [], row  # nothing half-written; the previous checkpoint/ONNX load
        assert all(row["earlier_models_unchanged"].values()), row
        assert row["debris"] == [], row
        assert (row["exit"], row["error_lines"], row["error_is_last_line"], row["traceback"], row["names_path"]) \
            == (2, 1, True, False, True), row
