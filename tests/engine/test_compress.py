"""compress: the search's order on a toy budget, and a real (tiny, seconds-long) search that saves its winner."""

import json

import pytest

from engine.errors import ConfigError
from engine.events import CancelToken, Log, Metrics
from engine.models import generator_from_checkpoint
from engine.prune.sensitivity import model_macs
from engine.stages.compress.config import CompressConfig
from engine.stages.compress.run import run_compress
from engine.stages.compress.search import Candidate, Search, pareto
from tests.engine.tiny import dense_dcgan_workspace


def settle(search: Search, keeps_quality) -> list[float]:
    while (r := search.next()) is not None:
        search.record(r, keeps_quality(r))
    return search.tried


def test_search_finds_the_largest_reduction_that_keeps_quality():
    search = Search(ladder=(2, 3, 4, 6, 8, 12, 16, 20, 24, 32, 40))
    tried = settle(search, lambda r: r <= 12)
    assert tried == [12, 24, 16]  # middle of 11 rungs, then halves of what is left
    assert search.ladder[search.lo] == 12 and search.ladder[search.hi] == 16


def test_a_goal_is_tried_first_and_ends_the_search_when_it_holds():
    search = Search(ladder=(2, 4, 8, 16, 32), goal=20)
    assert settle(search, lambda r: True) == [20]
    search = Search(ladder=(2, 4, 8, 16, 32), goal=20)
    assert settle(search, lambda r: r <= 4) == [20, 4, 8]  # the goal fails: the search goes to larger models


def test_time_is_split_over_the_tries_still_needed_and_a_polish_share():
    search = Search(ladder=(2, 4, 8, 16, 32, 64, 128))  # 7 rungs: at most 3 tries
    assert search.tries_left() == 3
    assert search.seconds_for_next(900) == pytest.approx(900 * 0.75 / 3)
    search.record(16, True)
    assert search.tries_left() == 2


def test_pareto_keeps_only_candidates_no_other_beats_on_both():
    c = [Candidate(4, macs=100, probe_fid=10), Candidate(8, macs=50, probe_fid=12),
         Candidate(6, macs=70, probe_fid=13), Candidate(16, macs=25, probe_fid=30)]
    assert [x.reduction for x in pareto(c)] == [16, 8, 4]


@pytest.mark.parametrize("field, value, fragment", [
    ("max_fid_rise", -0.1, "--max-fid-rise"), ("target_macs", 1.5, "--target-macs"),
    ("time_budget", 0, "--time-budget"), ("method", "channel-taylor", "--method"),
    ("discriminator", "pruned", "--discriminator"), ("probe_samples", 0, "--probe-samples"),
    ("allocation", "greedy", "--allocation"), ("adversarial", -1.0, "--adversarial"),
    ("lr_schedule", "step", "--lr-schedule"), ("distill_features", float("nan"), "--distill-features"),
])
def test_bad_settings_are_refused_in_one_sentence(field, value, fragment):
    with pytest.raises(ConfigError, match=fragment):
        CompressConfig(**{field: value}).validate()


def test_a_tiny_search_saves_the_smallest_candidate_that_kept_quality(tmp_path):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    dense_macs = model_macs(generator_from_checkpoint(ws.load_checkpoint("dense")))
    cfg = CompressConfig(max_fid_rise=10.0, time_budget=0.2, probe_samples=256, batch_size=16, search="trials")
    events = list(run_compress(cfg, ws, CancelToken()))
    table = json.loads((ws.root / "compress.json").read_text())
    assert table["status"] == "done" and table["candidates"], table
    assert all(c["feasible"] for c in table["candidates"])  # a 10x FID budget: everything keeps "quality"
    best = table["best"]
    assert best["reduction"] == max(c["reduction"] for c in table["candidates"])
    student = generator_from_checkpoint(ws.load_checkpoint("finetuned"), use_ema=False)
    assert model_macs(student) == best["macs"] < dense_macs
    stages = ws.read_manifest()["stages"]
    assert stages["compress"]["status"] == "done"
    assert stages["finetune"]["checkpoint"] == "checkpoints/finetuned.pt" and stages["prune"]["status"] == "done"
    assert any(isinstance(e, Metrics) and "probe_fid" in e.values for e in events)
    assert table["seconds"] <= 0.2 * 60 + 5  # the budget, give or take the last step
    # the measured recipe: distillation alone (no D step: no D loss in any step's numbers), cosine lr
    tuned = ws.load_checkpoint("finetuned")["finetune"]
    assert (tuned["adversarial"], tuned["lr_schedule"]) == (0.0, "cosine")
    assert not any(isinstance(e, Metrics) and "loss_d" in e.values for e in events)


def test_uniform_allocation_cuts_every_layer_by_the_same_share(tmp_path):
    from engine.stages.compress.trial import prune_to

    G = generator_from_checkpoint(dense_dcgan_workspace(tmp_path / "ws").load_checkpoint("dense"), use_ema=False)
    before, dense_macs = list(G.spec()["widths"]), model_macs(G)
    prune_to(G, 2.0, [], "channel-l1", "uniform")
    after = G.spec()["widths"]
    assert model_macs(G) <= dense_macs / 2
    kept = [a / b for a, b in zip(after, before)]
    assert max(kept) - min(kept) <= 1 / min(before) + 1e-9, (before, after)  # equal shares, up to rounding


def test_a_cancelled_search_keeps_its_best_so_far(tmp_path):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    cancel = CancelToken()
    cfg = CompressConfig(max_fid_rise=10.0, time_budget=1.0, probe_samples=256, batch_size=16, search="trials")
    for e in run_compress(cfg, ws, cancel):
        if isinstance(e, Metrics) and "probe_fid" in e.values:
            cancel.cancel()  # during the first try, after its first probe
    table = json.loads((ws.root / "compress.json").read_text())
    assert table["status"] == "cancelled" and len(table["candidates"]) == 1
    assert table["best"] is not None and ws.checkpoint_path("finetuned").exists()
    assert ws.stage("compress")["status"] == "cancelled"


def test_the_report_carries_the_search(tmp_path):
    from engine.stages.evaluate.run import EvaluateConfig, run_evaluate

    ws = dense_dcgan_workspace(tmp_path / "ws")
    list(run_compress(CompressConfig(max_fid_rise=10.0, time_budget=0.2, probe_samples=256, batch_size=16,
                                     search="trials"), ws, CancelToken()))
    list(run_evaluate(EvaluateConfig(samples=300, latency=False), ws, CancelToken()))
    report = json.loads(ws.report_path.read_text())
    assert report["compress"]["candidates"] == json.loads((ws.root / "compress.json").read_text())["candidates"]
    assert {"dense", "finetuned"} <= {v["name"] for v in report["variants"]}
    assert "Compress search" in (ws.root / "report.html").read_text()


def test_when_nothing_keeps_quality_the_last_try_trains_on_for_the_rest_of_the_budget(tmp_path, monkeypatch):
    from engine.distill.probe import FidProbe

    # A yardstick that judges every student twice as far from the data as it is (the first probe is the
    # teacher's): the tiny students otherwise land on either side of the teacher by chance.
    measure, seen = FidProbe.__call__, []

    def harsh(self, G):
        seen.append(G)
        return measure(self, G) * (1 if len(seen) == 1 else 2)

    monkeypatch.setattr(FidProbe, "__call__", harsh)
    ws = dense_dcgan_workspace(tmp_path / "ws")
    cfg = CompressConfig(max_fid_rise=0.1, time_budget=0.4, probe_samples=256, batch_size=16, search="trials")
    events = list(run_compress(cfg, ws, CancelToken()))
    table = json.loads((ws.root / "compress.json").read_text())
    assert table["best"] is None and not any(c["feasible"] for c in table["candidates"])
    tried = [c["reduction"] for c in table["candidates"]]
    assert tried == [12.0, 4.0, 2.0]  # the binary search down to the largest model, which then trains on
    last = table["candidates"][-1]
    assert last["note"].endswith("trained on after the search settled"), last
    assert any(isinstance(e, Log) and e.message.startswith("No size kept quality yet") for e in events)
    assert not ws.checkpoint_path("finetuned").exists()  # nothing replaced
