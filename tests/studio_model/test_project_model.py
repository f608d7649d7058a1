"""The studio's project model without Qt: what a project holds, how each step ended, what a search found."""

import json
import subprocess
import sys

import pytest

from desktop_app.facade import EngineFacade
from desktop_app.project import STEP_PAGES, StudioState, compress_outcome, new_project_problem, stages_of_page
from engine import stages
from engine.workspace import Workspace

SEARCH = {"status": "done", "teacher_probe_fid": 30.0, "max_fid_rise": 0.1, "dense_macs": 8e6, "dense_params": 4e5,
          "dense_latency_ms": 2.0, "candidates": [
              {"reduction": 4.0, "macs": 2e6, "params": 1e5, "probe_fid": 31.5, "fid_rise": 0.05, "feasible": True,
               "latency_ms": 0.8, "round": 1, "process": 0},
              {"reduction": 8.0, "macs": 1e6, "params": 5e4, "probe_fid": 40.0, "fid_rise": 0.33, "feasible": False,
               "latency_ms": 0.5, "round": 2, "process": 0}]}


def test_a_search_that_found_a_model_says_what_was_made_in_plain_words():
    outcome = compress_outcome({**SEARCH, "best": SEARCH["candidates"][0]})
    assert outcome.found and outcome.winner["reduction"] == 4.0
    assert outcome.headline == "Made a generator with 4.0x fewer multiply-adds and 4.0x fewer weights."
    text = " ".join(outcome.details)
    assert "2.5x faster" in text and "FID 31.5 against 30.0" in text and "5% worse" in text and "+10%" in text
    assert outcome.reference["name"] == "dense (reference)" and outcome.reference["macs"] == 8e6
    assert "--" not in outcome.headline + text  # no command-line words


def test_a_search_that_found_nothing_is_a_failure_with_what_to_do():
    outcome = compress_outcome({**SEARCH, "best": None})
    assert not outcome.found and outcome.winner is None
    assert outcome.headline == "No smaller model kept the quality you asked for."
    text = " ".join(outcome.details)
    assert "4x fewer MACs (+5%), 8x fewer MACs (+33%)" in text and "Nothing was replaced" in text
    assert "--time-budget" not in text and "gan-prune" not in text
    assert compress_outcome(None) is None and compress_outcome({"candidates": "x"}) is None


def test_a_new_project_needs_an_empty_or_new_folder(tmp_path):
    assert new_project_problem(tmp_path / "not-yet") is None
    assert new_project_problem(tmp_path) is None  # empty
    (tmp_path / "notes.txt").write_text("mine")
    assert "already holds a file" in new_project_problem(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    assert "already a project" in new_project_problem(tmp_path)
    assert "is a file" in new_project_problem(tmp_path / "notes.txt")


def test_every_step_that_runs_a_stage_gets_its_tick_from_the_registry():
    for s in stages.STAGES:
        assert s.page in STEP_PAGES
        assert (s.name in stages_of_page(s.page)) == s.ticks_page
    assert stages_of_page("compress") == ("compress",)
    assert set(stages_of_page("train")) == {"train", "import"} and stages_of_page("prune") == ("prune",)


def _project_with_results(root):
    ws = Workspace(root)
    (ws.checkpoints / "dense.pt").write_bytes(b"not read here")
    (ws.export_dir / "generator.onnx").write_bytes(b"onnx")
    ws.update_stage("train", status="done", checkpoint="checkpoints/dense.pt", step=311)
    ws.update_stage("sensitivity", status="done")
    ws.update_stage("compress", status="done", best=None)
    ws.update_stage("export", status="done", results={"fp32": {"path": "export/generator.onnx"}})
    (ws.root / "compress.json").write_text(json.dumps({**SEARCH, "best": None}))
    return ws


def test_opening_another_project_keeps_nothing_of_the_first(tmp_path):
    state, heard = StudioState(EngineFacade()), []
    state.subscribe(heard.append)
    a = state.open(_project_with_results(tmp_path / "a"))
    assert a.trained == ("checkpoints/dense.pt", 311) and a.newest_export() == a.root / "export/generator.onnx"
    assert a.step_status("train") == "done" and a.step_status("compress") == "empty"
    assert a.step_status("prune") is None  # a sensitivity scan alone does not tick Prune
    assert a.compress is not None and a.next_steps()[0][0] == "compress"
    b = state.open(Workspace(tmp_path / "b"))
    assert heard == [a, b]
    assert (b.trained, b.compress, b.newest_export(), b.export_results) == (None, None, None, {})
    assert all(b.step_status(p) is None for p in STEP_PAGES)
    assert b.next_steps()[0][0] == "data" and b.sample_file("train") is None


def test_the_project_model_imports_no_qt():
    code = "import sys, desktop_app.project; sys.exit('PySide6' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("broken", ["{", '{"version": 1, "stages": {"train": "done"}}'])
def test_a_damaged_manifest_is_refused_and_the_open_project_stays(tmp_path, broken):
    from engine.errors import WorkspaceError

    state = StudioState(EngineFacade())
    first = state.open(_project_with_results(tmp_path / "a"))
    ws = Workspace(tmp_path / "broken")
    ws.manifest_path.write_text(broken)
    with pytest.raises(WorkspaceError):
        state.open(ws)
    assert state.project is first and state.workspace.root == first.root
