"""Training a CycleGAN into a workspace: the train stage's path for the unpaired task (engine/cycle_step.py).

The A → B generator and the D that judges B are the checkpoint's `generator` and `discriminator`, so prune,
fine-tune, evaluate and export see an ordinary image-to-image model; the B → A generator and the D that judges A
ride along as `generator_ba` / `discriminator_a` (their specs under `arch_ba`), for fine-tuning's cycle term and
evaluate's cycle error. Previews are rows of A → fake B → A reconstructed through B → A.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from engine import stages
from engine.checkpoints import model_state, save_gan
from engine.config import PipelineConfig
from engine.data import load_dataset
from engine.data.image_pairs import PREVIEW, triplets
from engine.data.unpaired import UnpairedSource
from engine.distributed import current
from engine.distributed.batchnorm import sync_batchnorm
from engine.errors import WorkspaceError
from engine.events import CancelToken, Event
from engine.gan_step import BatchSampler
from engine.models import build_discriminator, build_generator, image_specs
from engine.optim import apply_hyperparameters, make_optimizer, optimizer_to
from engine.stages.train.image import CHECKPOINT, data_record, drive_training
from engine.workspace import Workspace

LOSS = "lsgan"  # recorded in the checkpoint: the adversarial loss is always least squares, as in CycleGAN


def run_train_unpaired(cfg: PipelineConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    def described(data, src) -> str:
        return (f"Data set {data.name}: {len(src.train_idx)} + {len(src.b_train_idx)} training and "
                f"{len(src.test_idx)} + {len(src.b_test_idx)} held-out test images (A + B), unpaired; "
                f"{'x'.join(map(str, src.image_shape))} each; CycleGAN with {cfg.model.arch} generators.")

    yield from drive_training(cfg, ws, cancel, _inputs, _CycleTraining, described, "images of each set each,")


class _CycleTraining:
    """Both generators and discriminators, their two optimizers (one for the Gs, one for the Ds, as the reference),
    the batch RNG and the image pools; the same members as the paired run, so the loop is shared."""

    label = "A → fake B → A again"

    def __init__(self, cfg: PipelineConfig, ws: Workspace, src: UnpairedSource, arch: dict, device) -> None:
        tc = cfg.train
        self.cfg, self.ws, self.tc, self.src, self.device, self.ctx = cfg, ws, tc, src, device, current()
        torch.manual_seed(tc.seed)  # weight init: the same on every process
        self.nets = {"g_ab": build_generator(arch["generator"]), "d_b": build_discriminator(arch["discriminator"]),
                     "g_ba": build_generator(arch["arch_ba"]["generator"], "arch_ba.generator"),
                     "d_a": build_discriminator(arch["arch_ba"]["discriminator"], "arch_ba.discriminator")}
        self.G = self.nets["g_ab"]
        self.optG = make_optimizer(list(self.nets["g_ab"].parameters()) + list(self.nets["g_ba"].parameters()), tc)
        self.optD = make_optimizer(list(self.nets["d_b"].parameters()) + list(self.nets["d_a"].parameters()), tc,
                                   tc.d_lr)  # the checkpoint's order: discriminator, then discriminator_a
        self.noise, self.pool_gen = torch.Generator().manual_seed(tc.seed), torch.Generator().manual_seed(tc.seed + 1)
        self.step, self.pools = 0, None
        self.sampler = BatchSampler(len(src.train_idx), tc.batch_size, tc.seed)
        self.meta = data_record(src, cfg)
        self.stale: list[str] | None = None

    def restore(self, resume: dict) -> None:
        n = self.nets
        n["g_ab"].load_state_dict(resume["generator"])
        n["d_b"].load_state_dict(resume["discriminator"])
        n["g_ba"].load_state_dict(resume["generator_ba"])
        n["d_a"].load_state_dict(resume["discriminator_a"])
        if resume.get("optim") and resume.get("rng"):
            self.optG.load_state_dict(resume["optim"]["g"])
            self.optD.load_state_dict(resume["optim"]["d"])
            apply_hyperparameters(self.optG, self.tc)
            apply_hyperparameters(self.optD, self.tc, self.tc.d_lr)
            self.noise.set_state(resume["rng"]["noise"])
            self.pool_gen.set_state(resume["rng"]["pool"])
            self.pools = resume.get("pools")
        self.step = int(resume["step"])

    def start(self) -> None:
        from engine.cycle_step import CycleStep

        for net in self.nets.values():
            net.to(self.device).train()
        if self.ctx.distributed:  # instance norm in G needs nothing; the PatchGANs' BatchNorm goes global
            sync_batchnorm(self.nets["d_a"])
            sync_batchnorm(self.nets["d_b"])
        optimizer_to(self.optG, self.device)
        optimizer_to(self.optD, self.device)
        self.gan = CycleStep(self.nets, self.optG, self.optD, self.tc.cycle, self.tc.identity, self.pool_gen,
                             distributed=self.ctx.distributed)
        if self.pools:
            for side, pool in self.gan.pools.items():
                pool.load(self.pools[side], self.device)
        self.shown = self.src.images("A", "test", PREVIEW).to(self.device) if self.ctx.is_main else None

    def train_step(self) -> tuple[dict[str, float], int]:
        idx = self.src.train_idx[self.sampler.indices(self.step)]
        a, b = (t.to(self.device) for t in self.src.batch(idx, self.noise, self.ctx.shard))
        values = self.gan(a, b)
        self.step += 1
        return values, len(idx)

    @torch.no_grad()
    def grid(self):
        g_ab, g_ba = self.nets["g_ab"], self.nets["g_ba"]
        g_ab.eval(), g_ba.eval()
        try:
            fake = g_ab(self.shown)
            return triplets(self.shown, fake, g_ba(fake), rows=PREVIEW)
        finally:
            g_ab.train(), g_ba.train()

    def checkpoint(self) -> str:
        ws, tc, n = self.ws, self.tc, self.nets
        if self.stale is None:
            self.stale = ws.mark_stale(*stages.out_of_date_after("train"))
        path = save_gan(ws, CHECKPOINT, n["g_ab"], n["d_b"], optimizers=(self.optG, self.optD),
                        rng={"noise": self.noise.get_state(), "pool": self.pool_gen.get_state()},
                        step=self.step, data=self.meta, seed=tc.seed, loss=LOSS, optimizer=tc.optimizer,
                        task=self.cfg.model.task, generator_ba=model_state(n["g_ba"]),
                        discriminator_a=model_state(n["d_a"]),
                        arch_ba={"generator": n["g_ba"].spec(), "discriminator": n["d_a"].spec()},
                        pools={side: pool.state() for side, pool in self.gan.pools.items()},
                        cycle={"cycle": tc.cycle, "identity": tc.identity})
        ws.update_stage("train", checkpoint=path, step=self.step)
        return path


def _inputs(cfg: PipelineConfig, ws: Workspace) -> tuple:
    """The two sets, the four specs (A → B and its D, B → A and its D) and the resume checkpoint (or None)."""
    data = load_dataset(cfg.data)
    src = UnpairedSource(data, cfg.model.task)
    m = cfg.model
    g, d = image_specs(m.arch, src.input_shape, src.image_shape, False, sees_input=False, width=m.width,
                       blocks=m.blocks)
    g_ba, d_a = image_specs(m.arch, src.image_shape, src.input_shape, False, sees_input=False, width=m.width,
                            blocks=m.blocks)
    arch = {"generator": g, "discriminator": d, "arch_ba": {"generator": g_ba, "discriminator": d_a}}
    resume = _load_resume(ws, g) if cfg.train.resume else None
    if resume is not None:
        arch = {**resume["arch"], "arch_ba": resume["arch_ba"]}
    return data, src, arch, resume


def _load_resume(ws: Workspace, gspec: dict) -> dict:
    path = ws.checkpoint_path(CHECKPOINT)
    if not path.exists():
        raise WorkspaceError(f"Nothing to resume in {ws.root}: {path.name} is missing; train without --resume first.")
    ckpt = ws.load_checkpoint(path)
    g = ckpt["arch"]["generator"]
    if not isinstance(ckpt.get("arch_ba"), dict) or not isinstance(ckpt.get("generator_ba"), dict):
        raise WorkspaceError(f"The checkpoint in {ws.root} has no B → A generator (it was not trained for the "
                             "unpaired task); train without --resume or use a new workspace.")
    if g["arch"] != gspec["arch"] or g["image_shape"] != gspec["image_shape"]:
        raise WorkspaceError(f"The checkpoint in {ws.root} is a {g['arch']} model for {g['image_shape']} images, not "
                             "this run's; use the same --arch and data or a new workspace.")
    return ckpt
