"""Workspace paths, manifest and checkpoints: atomic, safe to load, clear when wrong."""

import pytest
import torch

from engine.errors import WorkspaceError
from engine.workspace import Workspace, atomic_write_json, load_checkpoint_file


def test_a_file_is_not_a_workspace(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(WorkspaceError, match="is a file, not a folder"):
        Workspace(f)


def test_manifest_updates_merge_and_leave_no_temp_files(tmp_path):
    ws = Workspace(tmp_path)
    ws.update_stage("train", status="running", step=1)
    ws.update_stage("train", status="done")
    ws.append_record("pruning", {"method": "channel-l1"})
    m = ws.read_manifest()
    assert m["version"] == 1 and m["stages"]["train"]["status"] == "done" and m["stages"]["train"]["step"] == 1
    assert m["pruning"] == [{"method": "channel-l1"}]
    assert not list(tmp_path.glob(".*.tmp"))


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    ws = Workspace(tmp_path)
    ws.save_checkpoint("dense", {"arch": {"generator": {"arch": "mlp"}}, "generator": {"w": torch.ones(2)}, "step": 3})
    ck = load_checkpoint_file(ws.checkpoint_path("dense"), check=False)  # a file format test, not a model
    assert ck["step"] == 3 and torch.equal(ck["generator"]["w"], torch.ones(2))


def test_corrupt_and_foreign_checkpoints_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x04garbage")
    with pytest.raises(WorkspaceError, match="is truncated, damaged or not a PyTorch file"):
        load_checkpoint_file(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(WorkspaceError, match="not a GAN Pruning Studio checkpoint"):
        load_checkpoint_file(foreign)


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "gan-prune-studio/checkpoint", "version": 1, "x": Evil()}, path)
    with pytest.raises(WorkspaceError, match="loading it would run code, so it was refused"):
        load_checkpoint_file(path)


def test_corrupt_manifest_is_a_clear_error(tmp_path):
    ws = Workspace(tmp_path)
    ws.manifest_path.write_text("{not json")
    with pytest.raises(WorkspaceError, match="manifest .* is corrupt"):
        ws.read_manifest()
    atomic_write_json(ws.manifest_path, {"version": 1, "stages": {}})
    assert ws.read_manifest()["stages"] == {}
