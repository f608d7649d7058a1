"""config.toml, `gan-prune run CONFIG.toml` files and CLI flags with wrong types or ranges: refused up front with
one line naming the key and what it must be; nothing is written."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import assert_consistent, assert_refused, run_cli, snapshot
from tests.hostile.inprocess import gan_prune

# (TOML text, words the one line must contain)
BAD_TOML = {
    "ema is text": ('[train]\nema = "high"', ["train.ema", "a number from 0 to below 1", "(got 'high')"]),
    "dataset is a number": ("[data]\ndataset = 5", ["data.dataset", "must be text", "(got 5)"]),
    "latent_dim float": ("[model]\nlatent_dim = 1e12", ["model.latent_dim", "whole number between 1 and 4096"]),
    "latent_dim huge": ("[model]\nlatent_dim = 1000000000000", ["model.latent_dim", "between 1 and 4096"]),
    "seed is text": ('[train]\nseed = "zero"', ["train.seed", "whole number", "(got 'zero')"]),
    "betas out of range": ("[train]\nbetas = [2, -1]", ["train.betas", "list of 2 numbers", "(got [2, -1])"]),
    "betas not a list": ("[train]\nbetas = 0.5", ["train.betas", "list of 2 numbers"]),
    "unknown key": ("[train]\nepochs = 3", ["train.epochs", "unknown setting"]),
    "table is a number": ("data = 5", ["[data] must be a table", "(got 5)"]),
    "loose key": ("steps = 5\n[train]\nema = 0.5", ["steps", "outside any table"]),
    "repeated section": ("[[prune]]\namount = 0.5\n[[prune]]\namount = 0.7", ["[[prune]]", "write it once"]),
    "lr zero": ("[train]\nlr = 0", ["train.lr", "above 0", "(got 0)"]),
    "lr NaN": ("[train]\nlr = nan", ["train.lr", "(got nan)"]),
    "steps infinite": ("[train]\nsteps = inf", ["train.steps", "whole number", "(got inf)"]),
    "steps is a bool": ("[train]\nsteps = true", ["train.steps", "(got true)"]),
    "threads negative": ("[train]\nthreads = -1", ["train.threads", "(got -1)"]),
    "unknown device": ('[train]\ndevice = "tpu"', ["train.device", "one of auto, cpu, cuda"]),
    "color wrong type": ("[data]\ncolor = 3", ["data.color", "one of auto, gray, rgb"]),
    "image size too small": ("[data]\nimage_size = 4", ["data.image_size", "between 8 and 256"]),
    "amp is text": ('[train]\namp = "yes"', ["train.amp", "true or false"]),
    "prune amount is text": ('[prune]\namount = "half"', ["prune.amount", "a number", "(got 'half')"]),
    "finetune distill NaN": ("[finetune]\nsteps = 5\ndistill = nan", ["finetune.distill", "(got nan)"]),
    "export precisions text": ('[export]\nprecisions = 5', ["export.precisions", "list of text values"]),
    "evaluate samples float": ("[evaluate]\nsamples = 1.5", ["evaluate.samples", "whole number", "1.5"]),
    "unknown section": ("[deploy]\nx = 1", ["[deploy]", "unknown section"]),
    "not TOML": ("[train\nema = ", ["not valid TOML"]),
}


@pytest.mark.parametrize("case", list(BAD_TOML))
def test_run_refuses_a_bad_config_and_writes_nothing(tmp_path, capsys, case):
    text, words = BAD_TOML[case]
    config = tmp_path / "pipeline.toml"
    config.write_text(text)
    ws = tmp_path / "ws"
    r = gan_prune(capsys, "run", str(config), "-w", str(ws))
    assert_refused(r, *words)
    assert snapshot(ws) == {}  # not even config.toml


def test_a_hand_edited_workspace_config_is_refused_on_resume(tiny_ws, capsys):
    tiny_ws.config_path.write_text('[data]\ndataset = "mnist-5k"\n[train]\nema = "high"\n')
    before = snapshot(tiny_ws.root)
    r = gan_prune(capsys, "train", "-w", str(tiny_ws.root), "--resume", "--steps", "2")
    assert_refused(r, "config.toml", "train.ema", "(got 'high')")
    assert snapshot(tiny_ws.root) == before
    assert_consistent(tiny_ws.root)


@pytest.mark.parametrize("flags, words", [
    (["--threads", "-1"], ["train.threads", "(got -1)"]),
    (["--ema", "1.5"], ["train.ema", "from 0 to below 1", "(got 1.5)"]),
    (["--lr", "nan"], ["train.lr", "(got nan)"]),
    (["--batch-size", "0"], ["train.batch_size", "(got 0)"]),
    (["--seed", "-3"], ["train.seed", "(got -3)"]),
])
def test_train_flags_are_refused_up_front(tmp_path, capsys, flags, words):
    ws = tmp_path / "ws"
    r = gan_prune(capsys, "train", "-w", str(ws), "--steps", "1", *flags)
    assert_refused(r, *words)
    assert snapshot(ws) == {}


@pytest.mark.parametrize("flags, words", [
    (["--distill", "nan"], ["finetune.distill", "(got nan)"]),
    (["--distill", "-1"], ["finetune.distill", "0 or more"]),
    (["--lr", "inf"], ["finetune.lr", "(got inf)"]),
    (["--ema", "1"], ["finetune.ema", "(got 1.0)"]),
])
def test_finetune_flags_are_refused_before_anything_is_written(tiny_ws, capsys, flags, words):
    before = snapshot(tiny_ws.root)
    r = gan_prune(capsys, "finetune", "-w", str(tiny_ws.root), "--steps", "2", *flags)
    assert_refused(r, *words)
    assert snapshot(tiny_ws.root) == before


@pytest.mark.parametrize("flags, words", [
    (["--amount", "nan"], ["prune.amount", "(got nan)"]),
    (["--amount", "0.5", "--target-macs", "inf"], ["prune.target_macs", "(got inf)"]),
])
def test_prune_flags_nan_and_inf_are_refused(tiny_ws, capsys, flags, words):
    before = snapshot(tiny_ws.root)
    r = gan_prune(capsys, "prune", "-w", str(tiny_ws.root), "--method", "channel-l1", *flags)
    assert_refused(r, *words)
    assert snapshot(tiny_ws.root) == before


def test_the_studio_shows_the_same_sentence_next_to_the_form():
    from desktop_app.facade import EngineFacade

    message = EngineFacade().check("train", {"data": {"dataset": "mnist-5k"}, "model": {"arch": "dcgan"},
                                             "train": {"ema": "high"}})
    assert message == "train.ema must be a number from 0 to below 1 (got 'high'); 0 turns it off, 0.999 is typical."


def test_a_real_process_refuses_a_bad_config_in_one_line(tmp_path):
    config = tmp_path / "pipeline.toml"
    config.write_text('[train]\nema = "high"\n')
    r = run_cli("run", str(config), "-w", str(tmp_path / "ws"))
    assert_refused(r, "pipeline.toml", "train.ema", "(got 'high')")
    assert snapshot(tmp_path / "ws") == {}
