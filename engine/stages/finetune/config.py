"""The fine-tune stage's settings, free of torch so the CLI and the studio read them before torch loads."""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import DEVICES, TrainConfig, check_fields, setting
from engine.distill.choices import (
    DEFAULT_ADVERSARIAL,
    DEFAULT_LR,
    DEFAULT_SCHEDULE,
    DISCRIMINATORS,
    LR_SCHEDULES,
    MIN_PROBE_SAMPLES,
    OUTPUT_LOSSES,
)
from engine.errors import ConfigError

OFF = "0 turns it off"
SCHEDULE_WORDS = {"constant": "Constant", "cosine": "Cosine decay to 0"}  # the studio's words


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = setting(500, tip="How many training steps. A few hundred usually recover most of the quality.")
    # The overall teacher weight: each term's weight below is multiplied by it, so with the default
    # distill_output = 1 it is the output weight (as before) and 0 turns every distillation term off.
    distill: float = setting(1.0, min=0, note=OFF, help="overall teacher weight: multiplies every term below (with "
                             "--distill-output 1 it is the output weight); 0 turns distillation off",
                             label="Teacher weight", step=0.1, decimals=2,
                             tip="Multiplies every term below. 0 trains without a teacher (adversarial loss only).")
    distill_output: float = setting(1.0, min=0, note=OFF, help="L1/MSE to the teacher's image; 0 = off",  # same z
                                    label="Image match", step=0.1, decimals=2,
                                    tip="How closely the student's image follows the teacher's for the same input. "
                                        "0 = off.")
    # every hidden G layer through a learned 1x1 adapter to the teacher's
    distill_features: float = setting(1.0, min=0, note=OFF, help="hidden maps matched through learned 1x1 adapters; "
                                      "0 = off", label="Inner feature maps", step=0.1, decimals=2,
                                      tip="How closely every inner layer follows the teacher's, through small learned "
                                          "adapters that are thrown away afterwards. 0 = off.")
    distill_perceptual: float = setting(1.0, min=0, note=OFF, label="Perceptual", step=0.1, decimals=2,
                                        help="feature-net activations of student vs teacher image; 0 = off",
                                        tip="How alike the two images look to the quality classifier (its inner "
                                            "features). 0 = off.")
    output_loss: str = setting("l1", choices=OUTPUT_LOSSES, label="Image distance",
                               words=("L1 (absolute)", "MSE (squared)"), tip="How the image match is measured.")
    # pruned (as the prune stage saved it) | teacher | match (co-pruned to G's share)
    discriminator: str = setting("pruned", choices=DISCRIMINATORS,
                                 help="D to train against: as pruned, the teacher's full D, or the teacher's D cut to "
                                      "G's share", label="Discriminator",
                                 words=("As pruned", "Teacher's full D", "Teacher's D cut to G's share"),
                                 tip="Which D the student trains against. A full-size D can overpower a much smaller "
                                     "G.")
    # a slim G of these widths trained from scratch by distillation
    student_widths: tuple[int, ...] | None = setting(None, help="train a slim student of these G widths from "
                                                                "scratch instead of the pruned model",
                                                     label="Slim student widths", widget="text",
                                                     special="empty: the pruned model; e.g. 64,32: a slim G from "
                                                             "scratch",
                                                     tip="Leave empty to fine-tune the pruned model. Channel widths "
                                                         "separated by commas train a slim generator of those widths "
                                                         "from scratch, taught by the dense model (no pruning "
                                                         "needed).")
    # weight of D's verdict in G's loss; 0 = distillation alone
    adversarial: float = setting(DEFAULT_ADVERSARIAL, min=0, max=100, note="0 trains by distillation alone",
                                 help="weight of D's verdict in G's loss; 0 = distillation alone (no D step, about "
                                      "twice as fast)", label="Discriminator weight", step=0.1, decimals=2,
                                 tip="How much the discriminator's verdict counts next to the teacher. 0 = learn from "
                                     "the teacher alone: no discriminator step, about twice as fast.")
    # constant | cosine (decays to 0 at the last step)
    lr_schedule: str = setting(DEFAULT_SCHEDULE, choices=LR_SCHEDULES,
                               help="constant, or cosine decay to 0 at the last step", label="Learning-rate schedule",
                               words=tuple(SCHEDULE_WORDS[s] for s in LR_SCHEDULES),
                               tip="Cosine lowers the step size smoothly to 0 at the last step.")
    # quick FID on held-out latents; the best probed step is the one kept
    probe_every: int = setting(250, min=0, help="quick FID probe interval; the best step is kept",
                               label="Quality probe every", unit=" steps", step=50,
                               tip="How often a quick FID on held-out inputs is taken; the best step is the one kept. "
                                   "0 = at the end.")
    probe_samples: int = setting(1000, help="images per probe; 0 = off (keep the last step)")
    # for distillation alone; with the GAN term on, 2e-4 (the training default) is safer
    lr: float = setting(DEFAULT_LR, help="4e-3 suits distillation alone; use 2e-4 with the GAN term on "
                                         "(--adversarial above 0)",
                        tip="Step size of the optimizer. 0.004 suits learning from the teacher alone; with a "
                            "discriminator weight above 0, 0.0002 is safer.")
    # the unpaired task: the student's translation taken back through the dense B → A generator should give the
    # input again (CycleGAN's cycle term, with the teacher's other half frozen); 0 = off
    cycle: float = setting(0.0, min=0, tasks=("unpaired",), note=OFF, help="unpaired: weight of the cycle L1 through "
                           "the dense B → A generator (|G_BA(student(a)) - a|); 0 = off")
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = setting(64, tip="Images per step.")
    loss: str | None = None  # None: the loss the model was trained with
    device: str = setting("auto", choices=DEVICES, tip="Where to train. Automatic uses a CUDA GPU when there is one.")
    ema: float = 0.0
    sample_every: int = setting(100, tip="How often to redraw the student's samples.")
    checkpoint_every: int = 250
    seed: int = setting(0, tip="Fixes all randomness of this run.")
    resume: bool = setting(False, help="continue from checkpoints/finetuned.pt", special="Continue the last "
                           "fine-tuning", tip="Continue from the saved fine-tuned checkpoint instead of starting from "
                                              "the pruned model.")

    def validate(self) -> None:
        # Types, NaN/inf and training's ranges for the fields both share, in one sentence naming the key.
        zero_off = {"min": 0, "note": "0 turns it off"}
        check_fields(self, "finetune", like=TrainConfig, ranges={
            name: zero_off for name in ("distill", "distill_output", "distill_features", "distill_perceptual")})
        for name in ("distill", "distill_output", "distill_features", "distill_perceptual"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be 0 or more (got {v!r}); 0 turns it off.")
        if not isinstance(self.adversarial, (int, float)) or isinstance(self.adversarial, bool) \
                or not 0 <= self.adversarial <= 100:
            raise ConfigError(f"--adversarial must be a number from 0 to 100 (got {self.adversarial!r}); 0 trains "
                              "by distillation alone.")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)} (got {self.lr_schedule!r}).")
        if self.output_loss not in OUTPUT_LOSSES:
            raise ConfigError(f"--output-loss must be one of {', '.join(OUTPUT_LOSSES)} (got {self.output_loss!r}).")
        if self.discriminator not in DISCRIMINATORS:
            raise ConfigError(f"--discriminator must be one of {', '.join(DISCRIMINATORS)} "
                              f"(got {self.discriminator!r}).")
        if self.student_widths is not None and (
                not self.student_widths or any(not isinstance(w, int) or w < 1 for w in self.student_widths)):
            raise ConfigError(f"--student-widths must be whole numbers above 0, e.g. 64,32 "
                              f"(got {self.student_widths!r}).")
        for name in ("probe_every", "probe_samples"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be a whole number, 0 or more (got {v!r}).")
        if 0 < self.probe_samples < MIN_PROBE_SAMPLES:  # the probe would silently take 256 instead
            raise ConfigError(f"--probe-samples must be 0 (off) or at least {MIN_PROBE_SAMPLES} (FID needs twice "
                              f"the feature net's 128 features; got {self.probe_samples}).")

    def weights(self):  # -> engine.distill.terms.DistillWeights
        from engine.distill.terms import DistillWeights

        return DistillWeights(self.distill_output, self.distill_features, self.distill_perceptual,
                              self.output_loss).scaled(self.distill)

    def settings(self):  # -> engine.distill.trainer.StudentSettings
        from engine.distill.trainer import StudentSettings

        return StudentSettings(lr=self.lr, betas=tuple(self.betas), batch_size=self.batch_size, seed=self.seed,
                               ema=self.ema, adversarial=self.adversarial, schedule=self.lr_schedule)

    def train_config(self) -> TrainConfig:
        return TrainConfig(lr=self.lr, betas=self.betas, batch_size=self.batch_size, device=self.device)
