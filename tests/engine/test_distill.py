"""Distillation: adapters and their gradients, each term switchable, best-step selection, slim students, flags."""

import pytest
import torch

from engine.cli import main
from engine.config import DataConfig, stage_config
from engine.data import load_dataset
from engine.distill import DistillWeights
from engine.distill.probe import BestKeeper, FidProbe
from engine.distill.trainer import Finetuner, StudentSettings
from engine.events import CancelToken, Metrics
from engine.metrics.feature_net import load_feature_net
from engine.models import build_generator, build_pair, default_specs, generator_from_checkpoint
from engine.pipeline import load_bundled_checkpoint
from engine.stages.finetune.run import FinetuneConfig, run_finetune
from engine.stages.prune.config import PruneConfig
from engine.stages.prune.run import run_prune
from tests.engine.tiny import dense_dcgan_workspace

TERMS = ("distill_output", "distill_features", "distill_perceptual")


def _pair(widths):
    gspec, dspec = default_specs("dcgan", (1, 28, 28), latent_dim=16)
    gspec["widths"], dspec["widths"] = list(widths), [8, 16]
    return build_pair({"generator": gspec, "discriminator": dspec})


def _tuner(weights: DistillWeights, student=(8, 4)) -> Finetuner:
    torch.manual_seed(0)
    teacher, _ = _pair((32, 16))
    G, D = _pair(student)
    images = torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8)
    return Finetuner(G, D, teacher, images, StudentSettings(batch_size=8), weights, "bce", torch.device("cpu"),
                     perceptual_net=load_feature_net())


def test_adapters_map_student_channels_to_the_teachers_and_train_with_the_student_only():
    tuner = _tuner(DistillWeights(output=0, features=1, perceptual=0))
    shapes = {n: tuple(c.weight.shape) for n, c in tuner.adapters.convs.items()}
    assert shapes == {"net_0": (32, 8, 1, 1), "net_3": (16, 4, 1, 1)}
    z = torch.randn(8, 16)
    terms = tuner.distill_terms(tuner.G(z), z)
    assert list(terms) == ["distill_features"]
    terms["distill_features"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in tuner.adapters.parameters())
    assert tuner.G.net[0].weight.grad.abs().sum() > 0 and tuner.G.net[3].weight.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in tuner.teacher.parameters())
    # the adapters are optimised with G (one optimizer), never part of G itself
    in_opt = {id(p) for g in tuner.optG.param_groups for p in g["params"]}
    assert {id(p) for p in tuner.adapters.parameters()} <= in_opt
    assert not any("convs" in k for k in tuner.G.state_dict())


@pytest.mark.parametrize("off", TERMS)
def test_a_term_with_weight_zero_is_absent_from_the_losses(off):
    weights = {"output": 1.0, "features": 1.0, "perceptual": 1.0, off.split("_")[1]: 0.0}
    values = _tuner(DistillWeights(**weights)).train_step()
    assert [t for t in TERMS if t in values] == [t for t in TERMS if t != off]
    assert values["distill"] == pytest.approx(sum(values[t] for t in TERMS if t in values), rel=1e-5)


def test_all_weights_zero_means_no_teacher_at_all():
    tuner = _tuner(DistillWeights(0, 0, 0))
    values = tuner.train_step()
    assert tuner.teacher is None and values["distill"] == 0 and not any(t in values for t in TERMS)


def test_the_best_probed_step_is_kept_when_later_steps_are_worse():
    data = load_dataset(DataConfig("mnist-5k"))
    G = generator_from_checkpoint(load_bundled_checkpoint("dcgan-mnist5k.pt"))  # a trained G draws digits
    probe = FidProbe(load_feature_net(), data.images, G.latent_dim, 256, seed=0, device=torch.device("cpu"))
    keeper = BestKeeper()
    first = probe(G)
    assert keeper.offer(100, first, {"G": G})
    good = {k: v.clone() for k, v in G.state_dict().items()}
    torch.manual_seed(0)
    with torch.no_grad():  # a later step that went badly: noise on every weight
        for p in G.parameters():
            p.add_(torch.randn_like(p) * p.std())
    worse = probe(G)
    assert worse > first and not keeper.offer(200, worse, {"G": G})
    keeper.restore({"G": G})
    assert keeper.step == 100 and keeper.fid == first
    assert all(torch.equal(G.state_dict()[k], v) for k, v in good.items())
    assert keeper.history == [{"step": 100, "fid": round(first, 4)}, {"step": 200, "fid": round(worse, 4)}]
    assert probe(G) == first  # same held-out latents every time


def test_the_stage_saves_the_step_with_the_lowest_probe_fid(tmp_path):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    list(run_prune(PruneConfig(method="channel-l1", amount=0.5), ws, CancelToken()))
    list(run_finetune(FinetuneConfig(steps=4, batch_size=8, device="cpu", probe_every=1, probe_samples=256,
                                     lr=0.05), ws, CancelToken()))
    kept, last = ws.load_checkpoint("finetuned"), ws.load_checkpoint("finetuned-last")
    best = min(kept["probes"], key=lambda p: p["fid"])
    assert [p["step"] for p in kept["probes"]] == [1, 2, 3, 4]
    assert kept["step"] == best["step"] and kept["probe_fid"] == pytest.approx(best["fid"], abs=1e-3)
    assert last["step"] == 4 and "optim" in last and "optim" not in kept and last["adapters"]
    entry = ws.stage("finetune")
    assert entry["kept_step"] == best["step"] and entry["checkpoint"] == "checkpoints/finetuned.pt"


def test_a_slim_student_trains_from_scratch_and_saves_without_adapters(tmp_path):
    ws = dense_dcgan_workspace(tmp_path / "ws")  # no pruned model needed
    events = list(run_finetune(FinetuneConfig(steps=2, batch_size=8, device="cpu", student_widths=(8, 4),
                                              probe_samples=0), ws, CancelToken()))
    tuned = ws.load_checkpoint("finetuned")
    assert tuned["arch"]["generator"]["widths"] == [8, 4] and tuned["student"] == {"widths": [8, 4]}
    # D defaults to the teacher's full D (measured better than a co-pruned one, bench/distill_ablation.py)
    assert tuned["arch"]["discriminator"]["widths"] == [16, 32] and tuned["finetune"]["discriminator"] == "teacher"
    assert set(tuned["generator"]) == set(build_generator(tuned["arch"]["generator"]).state_dict())
    assert tuned["step"] == 2 and tuned["probe_fid"] is None
    assert sum(isinstance(e, Metrics) for e in events) == 2
    # "match" cuts the teacher's D to G's channel share (48 -> 12 hidden channels: 75% removed)
    list(run_finetune(FinetuneConfig(steps=1, batch_size=8, device="cpu", student_widths=(8, 4), probe_samples=0,
                                     discriminator="match"), ws, CancelToken()))
    assert ws.load_checkpoint("finetuned")["arch"]["discriminator"]["widths"] == [4, 8]


def test_cli_flags_and_config_keys_reach_the_fine_tune_settings(tmp_path):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    assert main(["finetune", "-w", str(ws.root), "--steps", "1", "--batch-size", "8", "--device", "cpu", "-q",
                 "--distill", "2", "--distill-features", "0", "--distill-perceptual", "0.5", "--output-loss", "mse",
                 "--student-widths", "8,4", "--discriminator", "teacher", "--probe-samples", "0"]) == 0
    record = ws.load_checkpoint("finetuned")["finetune"]
    assert record["weights"] == {"output": 2.0, "features": 0.0, "perceptual": 1.0, "output_loss": "mse"}
    assert record["discriminator"] == "teacher"
    cfg = stage_config(FinetuneConfig, {"distill_features": 0, "student_widths": [8, 4], "output_loss": "mse"},
                       "finetune")
    assert cfg.student_widths == (8, 4) and cfg.weights() == DistillWeights(1.0, 0.0, 1.0, "mse")


def test_the_iterative_schedule_distils_with_every_term_between_rounds(tmp_path):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    events = list(run_prune(PruneConfig(method="channel-l1", amount=0.5, schedule="iterative", rounds=2,
                                        finetune_steps=1, batch_size=8, device="cpu"), ws, CancelToken()))
    between = [e.values for e in events if isinstance(e, Metrics) and "distill" in e.values]
    assert len(between) == 1 and all(between[0][t] > 0 for t in TERMS)
    assert ws.load_checkpoint("pruned")["arch"]["generator"]["widths"] == [16, 8]


def test_pure_distillation_trains_g_from_the_teacher_alone_and_never_steps_d():
    tuner = Finetuner(*_pair((8, 4)), _pair((32, 16))[0], torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8),
                      StudentSettings(batch_size=8, adversarial=0.0), DistillWeights(1.0, 1.0, 0.0), "bce",
                      torch.device("cpu"))
    d_before = {k: v.clone() for k, v in tuner.D.state_dict().items()}
    g_before = tuner.G.net[0].weight.clone()
    values = tuner.train_step()
    assert tuner.pure and "loss_d" not in values and "adv" not in values
    assert values["distill"] == pytest.approx(values["distill_output"] + values["distill_features"], rel=1e-5)
    assert all(torch.equal(tuner.D.state_dict()[k], v) for k, v in d_before.items())
    assert not torch.equal(tuner.G.net[0].weight, g_before) and tuner.step == 1
    # without a teacher the GAN term is all G has: it keeps its full weight whatever was asked
    alone = Finetuner(*_pair((8, 4)), None, torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8),
                      StudentSettings(batch_size=8, adversarial=0.0), DistillWeights(0, 0, 0), "bce",
                      torch.device("cpu"))
    assert not alone.pure and alone.gan.adversarial == 1.0 and "loss_d" in alone.train_step()


def test_the_cosine_schedule_decays_the_learning_rate_to_zero_and_constant_leaves_it():
    teacher, images = _pair((32, 16))[0], torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8)

    def tuner_with(schedule: str) -> Finetuner:
        return Finetuner(*_pair((8, 4)), teacher, images, StudentSettings(batch_size=8, lr=1e-3, schedule=schedule),
                         DistillWeights(1.0, 0.0, 0.0), "bce", torch.device("cpu"))
    cosine, tuner = tuner_with("cosine"), tuner_with("constant")
    lrs = []
    for fraction in (0.0, 0.5, 1.0):
        cosine.set_progress(fraction)
        tuner.set_progress(fraction)
        lrs.append((cosine.optG.param_groups[0]["lr"], tuner.optG.param_groups[0]["lr"]))
    assert [round(c, 9) for c, _ in lrs] == [1e-3, 5e-4, 0.0]
    assert {t for _, t in lrs} == {1e-3}
    assert StudentSettings().schedule == "cosine" and StudentSettings().adversarial == 0.0  # the measured recipe
