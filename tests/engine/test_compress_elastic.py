"""compress --search elastic on a tiny workspace: one elastic student, sizes scored without training, the winner
polished and saved as the prune and fine-tune stages save theirs; then any size taken from it at once."""

import json

import pytest
import torch

from engine.cli import main
from engine.distill.elastic import ElasticGenerator
from engine.distill.elastic_file import save_elastic
from engine.events import CancelToken, Log, Metrics
from engine.models import generator_from_checkpoint
from engine.prune.sensitivity import model_macs
from engine.stages.compress.config import CompressConfig
from engine.stages.compress.run import run_compress
from tests.engine.tiny import dense_dcgan_workspace


@pytest.mark.slow  # ~10 s: a whole (tiny) compress by its clock
def test_an_elastic_search_keeps_its_student_and_saves_the_winner(tmp_path):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    cfg = CompressConfig(max_fid_rise=10.0, time_budget=0.15, probe_samples=256, batch_size=16)
    events = list(run_compress(cfg, ws, CancelToken()))
    table = json.loads((ws.root / "compress.json").read_text())
    assert table["search"] == "elastic" and table["elastic_steps"] > 0 and table["candidates"], table
    assert table["best"] is not None and table["best"]["feasible"]
    assert all(c["note"].startswith("elastic") for c in table["candidates"])
    student = generator_from_checkpoint(ws.load_checkpoint("finetuned"), use_ema=False)
    assert model_macs(student) == table["best"]["macs"]
    assert ws.stage("compress")["status"] == "done" and ws.stage("finetune")["by"] == "compress"
    saved = torch.load(ws.checkpoint_path("elastic"), weights_only=True)
    assert saved["sizes"] and {"widths", "macs", "probe_fid"} <= set(saved["sizes"][0])
    assert any(isinstance(e, Log) and "noise floor" in e.message for e in events)  # the budget says its base
    assert table["seconds"] <= 0.15 * 60 + 5


def test_any_size_is_extracted_from_the_command_line_without_training(tmp_path, capsys):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    dense = generator_from_checkpoint(ws.load_checkpoint("dense"))
    save_elastic(ws.checkpoint_path("elastic"), ElasticGenerator.from_dense(dense), sizes=[])  # as compress keeps it
    dense_macs = model_macs(generator_from_checkpoint(ws.load_checkpoint("dense")))
    assert main(["compress", "--workspace", str(ws.root), "--extract", "--reduction", "3", "-q"]) == 0, \
        capsys.readouterr().err
    G = generator_from_checkpoint(ws.load_checkpoint("finetuned"), use_ema=False)
    assert model_macs(G) <= dense_macs / 3
    assert ws.stage("prune")["by"] == "compress --extract"


@pytest.mark.parametrize("args,fragment", [(["--extract"], "--reduction"), (["--reduction", "0.5"], "--reduction")])
def test_bad_extract_settings_are_one_line(tmp_path, capsys, args, fragment):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    assert main(["compress", "--workspace", str(ws.root), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1, err


def test_extract_without_an_elastic_student_is_one_line(tmp_path, capsys):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    assert main(["compress", "--workspace", str(ws.root), "--extract", "--reduction", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "elastic" in err and len(err.splitlines()) == 1, err


def test_a_stop_during_the_elastic_training_keeps_the_student_and_replaces_nothing(tmp_path):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    cancel = CancelToken()
    for e in run_compress(CompressConfig(max_fid_rise=10.0, time_budget=2.0, probe_samples=256, batch_size=16), ws,
                          cancel):
        if isinstance(e, Metrics) and "largest" in e.values:
            cancel.cancel()  # after the first sandwich step
    table = json.loads((ws.root / "compress.json").read_text())
    assert table["status"] == "cancelled" and table["best"] is None and table["elastic_steps"] >= 1
    assert ws.checkpoint_path("elastic").exists() and not ws.checkpoint_path("finetuned").exists()
    assert ws.stage("compress")["status"] == "cancelled"


def test_the_polish_safety_net_is_the_smallest_larger_size_near_the_budget():
    from types import SimpleNamespace

    from engine.stages.compress.elastic import STRETCH, _safety_net
    from engine.stages.compress.search import Candidate

    ctx = SimpleNamespace(dense_macs=1000, budget_fid=10.0)
    sizes = [Candidate(r, macs=m, probe_fid=f) for r, m, f in
             [(40, 25, 12.0), (33, 30, 10.2), (20, 50, 10.4), (10, 100, 9.0), (5, 200, 13.0)]]
    bold = sizes[0]
    assert _safety_net(ctx, sizes, bold) is sizes[1]  # 10.2 is within half the stretch (10 x 1.1)
    far = [bold, *(Candidate(r, macs=m, probe_fid=10 * (1 + STRETCH)) for r, m in [(20, 50), (10, 100)])]
    assert _safety_net(ctx, far, bold) is far[1]  # none near: the best probe FID, then the fewest MACs
    assert _safety_net(ctx, [bold], bold) is None


@pytest.mark.slow  # ~15 s: a whole (tiny) compress by its clock
def test_a_conditional_generator_compresses_through_the_elastic_student(tmp_path):
    from tests.conditional_workspace import conditional_dense_workspace

    ws = conditional_dense_workspace(tmp_path / "ws")
    list(run_compress(CompressConfig(max_fid_rise=10.0, time_budget=0.3, probe_samples=256, batch_size=16), ws,
                      CancelToken()))
    table = json.loads((ws.root / "compress.json").read_text())
    assert table["search"] == "elastic" and table["best"] is not None, table
    tuned = ws.load_checkpoint("finetuned")
    assert tuned["task"] == "conditional" and tuned["arch"]["generator"]["num_classes"] == 10
    G = generator_from_checkpoint(tuned, use_ema=False)
    assert model_macs(G) == table["best"]["macs"]
    assert G(torch.zeros(3, G.latent_dim), torch.tensor([0, 4, 9])).shape == (3, 1, 28, 28)
