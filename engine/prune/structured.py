"""Channel (structural) pruning with torch-pruning's DependencyGraph: neurons and channels are removed for real,
with every coupled layer (BatchNorm, the next layer's inputs, residual sums) cut in step.

The output layer (image for G, logit for D) is never shrunk and the latent input is never touched (it is the
model's input, which DepGraph cannot prune). A layer always keeps at least one channel: an amount that would
empty a layer is clamped to width-1 and reported as a warning.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch_pruning as tp

from engine.errors import ConfigError
from engine.metrics.complexity import example_input
from engine.models.conditional import ClassProjection
from engine.models.contract import Discriminator
from engine.models.user_source import UserCodeStopped, UserModelError
from engine.prune import methods
from engine.prune.layers import PRUNABLE, output_layer, prunable_layers
from engine.prune.methods import CHANNEL_METHODS

__all__ = ["CHANNEL_METHODS", "coupled_layers", "prune_channels", "taylor_gradients", "widths"]


class _ClassProjectionPruner(tp.pruner.BasePruningFunc):
    """A projection discriminator's class embedding: its columns go with the channels of the layer before it;
    its output (one number per sample) has no channels to prune."""

    TARGET_MODULES = ClassProjection

    def prune_in_channels(self, layer: ClassProjection, idxs) -> nn.Module:
        keep = sorted(set(range(layer.in_channels)) - set(int(i) for i in idxs))
        layer.weight = self._prune_parameter_and_grad(layer.weight, keep, 1)
        return layer

    def prune_out_channels(self, layer: ClassProjection, idxs) -> nn.Module:
        return layer

    def get_in_channels(self, layer: ClassProjection) -> int:
        return layer.in_channels

    def get_out_channels(self, layer: ClassProjection) -> None:
        return None


CUSTOM_PRUNERS = {ClassProjection: _ClassProjectionPruner()}


def _channel_method(method: str) -> methods.PruneMethod:
    m = methods.find(method)
    if m is None or m.family is not methods.CHANNELS:
        raise ConfigError(f"Unknown channel method '{method}'; choose one of: {', '.join(CHANNEL_METHODS)}.")
    return m


def taylor_gradients(student: nn.Module, teacher: nn.Module | None, inputs: torch.Tensor, seed: int = 0) -> None:
    """Fill .grad with the gradient of the distillation loss to the dense teacher on fixed inputs.

    At the dense point the student IS the teacher, so that loss and its gradient are exactly zero; there we use
    its first-order stand-in, the output's change along a fixed random direction (w * dL/dw then measures how
    much removing a channel moves the output)."""
    student.zero_grad(set_to_none=True)
    was = student.training
    student.eval()
    out = _output(student, inputs)
    loss = None
    if teacher is not None:
        with torch.no_grad():
            target = _output(teacher.eval(), inputs)
        loss = F.l1_loss(out, target)
        if loss.item() < 1e-7:
            loss = None
    if loss is None:
        direction = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed))
        loss = (out * direction.to(out.device)).sum() / out.shape[0]
    loss.backward()
    student.train(was)


def _output(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model.logits(x) if isinstance(model, Discriminator) else model(x)


def prune_channels(model: nn.Module, method: str, amount: float | dict[str, float], scope: str = "layer",
                   round_to: int | None = None, layers: list[tuple[str, nn.Module]] | None = None,
                   teacher: nn.Module | None = None, taylor_inputs: torch.Tensor | None = None,
                   seed: int = 0, expand_coupled: bool = True) -> list[str]:
    """Remove `amount` of the output channels of each chosen layer (or a per-layer dict of amounts).

    Returns warnings (e.g. an amount clamped to keep one channel). The model is changed in place; its new widths
    are in `model.spec()`."""
    all_layers = prunable_layers(model, structural=True)
    if layers is None:
        chosen, follows = all_layers, {}
    elif expand_coupled:
        chosen, follows = coupled_layers(model, layers)
    else:  # the caller already added the coupled layers (a scan does it once, not per trial)
        chosen, follows = layers, {}
    chosen_ids = {id(m) for _, m in chosen}
    modules = dict(model.named_modules())
    ignored = [modules[output_layer(model)]] + [m for _, m in all_layers if id(m) not in chosen_ids]
    ignored += [m for m in model.modules() if isinstance(m, nn.Embedding)]  # a conditional G's class input
    notes: list[str] = []
    ratios: dict[nn.Module, float] = {}
    for name, m in chosen:
        a = float(amount.get(name, amount.get(follows.get(name), 0.0))) if isinstance(amount, dict) else float(amount)
        width = _out_width(m)
        keep = int(width * (1 - a))
        if round_to:
            keep -= keep % round_to
        if keep < 1:
            a = (width - (round_to or 1)) / width if width > (round_to or 1) else 0.0
            notes.append(f"Pruning {name} by the amount asked would remove all {width} channels; it keeps "
                         f"{width - int(round(a * width))} instead.")
        ratios[m] = max(0.0, a)
    global_scope = scope == "global" and not isinstance(amount, dict)
    criterion = _channel_method(method)
    gen_state = torch.get_rng_state()
    torch.manual_seed(seed)  # channel-random draws from torch's global RNG
    try:
        if criterion.needs_gradients:
            x = taylor_inputs if taylor_inputs is not None else example_input(model, batch=16).normal_()
            taylor_gradients(model, teacher, x, seed)
        kwargs = dict(importance=criterion.importance(), ignored_layers=ignored, round_to=round_to,
                      customized_pruners=CUSTOM_PRUNERS)
        if global_scope:
            kwargs.update(global_pruning=True, pruning_ratio=float(amount),
                          max_pruning_ratio=max(float(amount), 1 - 1 / min(_out_width(m) for _, m in chosen)))
        else:
            kwargs.update(pruning_ratio=0.0, pruning_ratio_dict=ratios)
        was = model.training
        model.eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pruner = tp.pruner.MetaPruner(model, example_input(model, batch=2), **kwargs)
            pruner.step()
        model.train(was)
        model.zero_grad(set_to_none=True)
    finally:
        torch.set_rng_state(gen_state)
    _check_still_runs(model)
    return notes


def _check_still_runs(model: nn.Module) -> None:
    """An imported model's forward may fix a width in its code (`x.view(b, 256, 4, 4)`) that DepGraph cannot
    see; pruning it must end in one sentence, not in a traceback at the next stage."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example_input(model, batch=2))
    except UserCodeStopped:
        raise  # the model's code tried to end the program: its own sentence says so
    except (RuntimeError, UserModelError) as e:  # an imported model's forward comes wrapped in a UserModelError
        what = model.spec().get("class", type(model).__name__) if hasattr(model, "spec") else type(model).__name__
        first = " ".join(str(e).split(" failed: ", 1)[-1].split())[:160]
        raise ConfigError(f"Removing channels broke the forward of {what} ({first}): its code fixes a width that "
                          "pruning changed; prune other layers (--layers) or use weight pruning "
                          "(--method l1-unstructured).") from None
    finally:
        model.train(was)


def coupled_layers(model: nn.Module, layers: list[tuple[str, nn.Module]]
                   ) -> tuple[list[tuple[str, nn.Module]], dict[str, str]]:
    """The chosen layers plus every layer whose output channels are tied to theirs (a residual sum ties the stem,
    the up-convs and each block's last conv): shrinking one means shrinking all, so none of them may be ignored."""
    names = {m: n for n, m in model.named_modules()}
    out = dict((n, m) for n, m in layers)
    follows: dict[str, str] = {}  # coupled member -> the chosen layer whose amount it takes
    was = model.training
    model.eval()
    dg = tp.DependencyGraph().build_dependency(model, example_inputs=example_input(model, batch=2),
                                               customized_pruners=CUSTOM_PRUNERS)
    model.train(was)
    for name, m in layers:
        handler = dg.get_pruner_of_module(m).prune_out_channels
        for dep, _ in dg.get_pruning_group(m, handler, idxs=[0]):
            target = dep.target.module
            if isinstance(target, PRUNABLE) and dg.is_out_channel_pruning_fn(dep.handler) and target in names:
                if names[target] not in out:
                    out[names[target]] = target
                    follows[names[target]] = name
    order = [n for n, _ in prunable_layers(model, structural=True)]
    return [(n, out[n]) for n in order if n in out], follows


def _out_width(m: nn.Module) -> int:
    return int(getattr(m, "out_features", None) or m.out_channels)


def widths(model: nn.Module) -> dict[str, int]:
    """Output width of every prunable layer, by name."""
    return {name: _out_width(m) for name, m in prunable_layers(model, structural=False)}
