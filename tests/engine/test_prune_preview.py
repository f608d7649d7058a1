"""The studio's prune preview runs the prune stage's own code on copies: its numbers equal the saved result, for G
and D, with and without "Balance D" (match_d), for channel, weight and Taylor pruning (the preview used to skip
match_d and to stand L1 in for Taylor)."""

import pytest

from desktop_app.facade import EngineFacade, _quick_stats
from engine import stages
from engine.events import CancelToken
from engine.models import discriminator_from_checkpoint, generator_from_checkpoint
from tests.engine.tiny import dense_dcgan_workspace

CASES = [
    {"method": "channel-l1", "amount": 0.5, "target": "g", "match_d": False},
    {"method": "channel-l1", "amount": 0.5, "target": "g", "match_d": True},
    {"method": "channel-taylor", "amount": 0.25, "target": "g", "match_d": True},
    {"method": "lamp-unstructured", "amount": 0.6, "target": "gd", "match_d": False},
]


@pytest.mark.parametrize("values", CASES, ids=lambda v: f"{v['method']}-{v['target']}-match_d={v['match_d']}")
def test_the_preview_equals_what_the_prune_stage_saves(tmp_path, values):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    values = {**values, "device": "cpu"}
    shown = EngineFacade().prune_preview(ws, values)
    list(stages.start("prune", EngineFacade()._config("prune", values), ws, CancelToken()))
    saved = ws.load_checkpoint("pruned")
    result = {"g": _quick_stats(generator_from_checkpoint(saved)),
              "d": _quick_stats(discriminator_from_checkpoint(saved))}
    assert {r: shown[r]["after"] for r in ("g", "d")} == result
    kept = result["g"]["nonzero_params"] / shown["g"]["before"]["nonzero_params"]
    assert kept < 0.8  # G really lost channels (or weights) in every case
    if values["match_d"] or "d" in values["target"]:
        assert shown["d"]["after"] != shown["d"]["before"]  # the bug: a ticked "Balance D" was not previewed
    else:
        assert shown["d"]["after"] == shown["d"]["before"]
