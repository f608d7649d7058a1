"""The student to fine-tune and the D it trains against.

Students: the pruned model (`checkpoints/pruned.pt`), or a slim generator of given widths built from the teacher's
spec and trained from scratch. D: as the prune stage saved it, the teacher's full D, or the teacher's D co-pruned to
the share of channels G lost ("match"; GCC shows a full-size D can overpower a small G).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from engine.distill.choices import DISCRIMINATORS  # noqa: F401,E402
from engine.models import build_generator, discriminator_from_checkpoint, generator_from_checkpoint
from engine.prune import methods
from engine.prune.layers import prunable_layers
from engine.prune.structured import prune_channels
from engine.workspace import Workspace

# What "pruned" means for a slim student, which has no pruned D: the teacher's full D. Measured at 20x fewer G MACs
# (bench/distill_ablation.py, retrained teacher, 600 steps, GAN term on): FID 57 with the teacher's D vs 70 with D
# co-pruned to G's share. The default recipe (adversarial 0) trains no D at all.
SLIM_STUDENT_D = "teacher"


@dataclass
class StudentSource:
    G: nn.Module
    D: nn.Module
    record: dict  # the checkpoint the student came from (data, loss, pruning record)
    kind: str  # "pruned" | "slim"
    d_kind: str  # "pruned" | "teacher" | "match"
    student: dict | None = None  # {"widths": [...]} for a slim student
    weight_pruned: bool = False
    notes: list[str] = field(default_factory=list)


def channel_share_lost(student: nn.Module, teacher: nn.Module) -> float:
    """1 - (hidden channels of the student) / (hidden channels of the teacher)."""
    def total(m: nn.Module) -> int:
        return sum(int(getattr(layer, "out_features", None) or layer.out_channels)
                   for _, layer in prunable_layers(m, structural=True))
    return max(0.0, 1 - total(student) / max(1, total(teacher)))


def matched_discriminator(dense: dict, share: float) -> nn.Module:
    """The teacher's D with `share` of its channels removed (L1 norm), the prune stage's --match-d."""
    D = discriminator_from_checkpoint(dense)
    if share > 0:
        prune_channels(D, "channel-l1", min(share, 0.95))
    return D


def build_student(ws: Workspace, cfg, dense: dict) -> StudentSource:
    """`cfg` is the fine-tune config (student_widths, discriminator, seed)."""
    teacher = generator_from_checkpoint(dense, use_ema=False)
    if cfg.student_widths:
        spec = dict(dense["arch"]["generator"], widths=list(cfg.student_widths))
        torch.manual_seed(cfg.seed)
        G = build_generator(spec)  # refuses widths the arch cannot use, in one sentence
        src = StudentSource(G, None, dense, "slim", cfg.discriminator, {"widths": list(cfg.student_widths)})
        if src.d_kind == "pruned":
            src.d_kind = SLIM_STUDENT_D
    else:
        pruned = ws.load_checkpoint(ws.checkpoint_path("pruned"))  # the stage checked it exists
        G = generator_from_checkpoint(pruned, use_ema=False)
        method = methods.find(str((pruned.get("pruning") or {}).get("method", "")))
        src = StudentSource(G, discriminator_from_checkpoint(pruned), pruned, "pruned", cfg.discriminator,
                            weight_pruned=method is not None and method.family is methods.WEIGHTS)
    share = channel_share_lost(src.G, teacher)
    if src.d_kind == "teacher":
        src.D = discriminator_from_checkpoint(dense)
        src.notes.append("D: the teacher's full discriminator.")
    elif src.d_kind == "match":
        src.D = matched_discriminator(dense, share)
        src.notes.append(f"D: the teacher's discriminator with {share:.0%} of its channels removed, G's share.")
    return src
