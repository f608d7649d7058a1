"""Distillation from the dense teacher to a smaller student: the loss terms (features through learned 1x1 adapters,
perceptual, output), the student trainer the fine-tune stage and the pruning schedules share, and the quick FID
probe that keeps the best checkpoint."""

from engine.distill.terms import OUTPUT_LOSSES, DistillWeights

__all__ = ["OUTPUT_LOSSES", "DistillWeights"]
