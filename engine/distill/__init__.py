"""Distillation from the dense teacher to a smaller student: the loss terms (features through learned 1x1 adapters,
perceptual, output), the student trainer the fine-tune stage and the pruning schedules share, and the quick FID
probe that keeps the best checkpoint.

Importing the package loads no torch (the CLI reads the choices in engine.distill.choices before any stage runs);
the names below load engine.distill.terms on first use."""

from engine.distill.choices import OUTPUT_LOSSES

__all__ = ["OUTPUT_LOSSES", "DistillWeights"]


def __getattr__(name: str):
    if name == "DistillWeights":
        from engine.distill.terms import DistillWeights

        return DistillWeights
    raise AttributeError(name)
