"""An elastic (once-for-all) generator: one set of weights that runs at any width per channel group.

From the dense G, each group of coupled layers (torch-pruning's DependencyGraph: a conv, its BatchNorm and the next
layer's inputs move together) has its channels sorted by the pruning criterion, most important first, and the
weights are reordered in place (OFA, Cai et al. 2020). Every sub-network is then "the first k channels of each
group": its forward slices the shared weights (views, no copies), and `extract` cuts a copy to exactly those
channels with torch-pruning, giving an ordinary pruned model (its spec() rebuilds it, the prune stage's format).

BatchNorm statistics depend on the widths before them, so one set of running stats cannot serve every
sub-network: `calibrate` re-estimates them for one width config from a few thousand latents (US-Nets' BN
calibration), before every probe and every extraction.
"""

from __future__ import annotations

import copy
import types
import warnings
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch_pruning as tp

from engine.errors import ConfigError
from engine.metrics.complexity import example_input, layer_table
from engine.models.user_source import EngineSignal
from engine.prune import methods
from engine.prune.layers import PRUNABLE, output_layer, prunable_layers
from engine.prune.structured import CUSTOM_PRUNERS

# Shares of each group's channels a sub-network may keep (1 = the dense width). Down to 1/8: on the bundled DCGAN
# 1/8 of both groups is ~45x fewer MACs, past the 24x goal; finer steps below 1/2 give the search room.
GRID = (1.0, 0.75, 0.5, 0.375, 0.3125, 0.25, 0.21875, 0.1875, 0.15625, 0.125)
CALIBRATION_LATENTS = 1024  # x the map's positions per channel: ~50,000 values at the smallest (7x7) map
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


@dataclass(frozen=True)
class Group:
    """Channels that move together: the layers whose outputs they are, and those that read them."""

    name: str  # the first layer (forward order) whose output channels these are
    channels: int
    outputs: tuple[str, ...]  # modules whose output dim is these channels (convs, linears, norms)
    inputs: tuple[str, ...]  # modules whose input dim is these channels


def _out_dim(m: nn.Module) -> int:
    return 1 if isinstance(m, nn.ConvTranspose2d) else 0


def _in_dim(m: nn.Module) -> int:
    return 0 if isinstance(m, nn.ConvTranspose2d) else 1


def _width(m: nn.Module, out: bool) -> int:
    if isinstance(m, NORMS):
        return m.num_features
    if isinstance(m, nn.Linear):
        return m.out_features if out else m.in_features
    return m.out_channels if out else m.in_channels


def _refuse(what: str) -> ConfigError:
    return ConfigError(f"This generator cannot be made elastic ({what}); use 'gan-prune compress --search trials' "
                       "or 'gan-prune prune --target-macs R' and 'gan-prune finetune'.")


def find_groups(model: nn.Module) -> list[tuple[Group, object]]:
    """Each prunable channel group of `model` (forward order) with torch-pruning's group for it (full indices)."""
    names = {m: n for n, m in model.named_modules()}
    modules = dict(model.named_modules())
    order = [n for n, _ in prunable_layers(model, structural=True)]
    ignored = [modules[output_layer(model)]] + [m for m in model.modules() if isinstance(m, nn.Embedding)]
    was = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dg = tp.DependencyGraph().build_dependency(model, example_inputs=example_input(model, batch=2),
                                                       customized_pruners=CUSTOM_PRUNERS)
    except Exception as e:  # a user's module torch-pruning cannot trace: say so in one sentence
        raise _refuse(f"torch-pruning cannot trace its forward: {' '.join(str(e).split())[:120]}") from None
    finally:
        model.train(was)
    found, reasons = [], []
    for group in dg.get_all_groups(ignored_layers=ignored, root_module_types=PRUNABLE):
        g, reason = _elastic_group(group, dg, names, order)
        if g is not None:
            found.append((g, group))
        elif reason:
            reasons.append(reason)
    found.sort(key=lambda item: order.index(item[0].name))
    if not found:  # groups that cannot be sliced stay at full width; with none left there is nothing elastic
        raise _refuse(reasons[0] if reasons else "it has no layer whose channels can be removed")
    return found


def _elastic_group(group, dg, names: dict, order: list[str]) -> tuple[Group | None, str | None]:
    """The Group for torch-pruning's `group`, or (None, why not): a grouped conv, a layer of another kind, or a
    concat or a flatten (there "the first k channels" would be other channels) keep the group at full width."""
    outputs, inputs, size = [], [], None
    for dep, idxs in group:
        m = dep.target.module
        if m not in names:
            continue  # torch-pruning's stand-ins for ReLU, add, ...: no weights
        size = size or len(idxs)
        if not isinstance(m, (*PRUNABLE, *NORMS)) or getattr(m, "groups", 1) != 1:
            return None, f"layer {names[m]} ({type(m).__name__}) is tied to channels it would have to cut"
        out = dg.is_out_channel_pruning_fn(dep.handler) or isinstance(m, NORMS)
        if _width(m, out) != size:
            return None, f"{names[m]} reads its channels concatenated with others or reshaped"
        (outputs if out else inputs).append(names[m])
    roots = [n for n in order if n in outputs]
    if not roots or not size:
        return None, None
    return Group(roots[0], size, tuple(dict.fromkeys(outputs)), tuple(dict.fromkeys(inputs))), None


@torch.no_grad()
def _permute(m: nn.Module, order: torch.Tensor, side: str) -> None:
    if isinstance(m, NORMS):
        for t in (m.weight, m.bias, m.running_mean, m.running_var):
            if t is not None:
                t.copy_(t[order])
        return
    dim = _out_dim(m) if side == "out" else _in_dim(m)
    m.weight.copy_(m.weight.index_select(dim, order))
    if side == "out" and m.bias is not None:
        m.bias.copy_(m.bias[order])


def sort_channels(model: nn.Module, method: str = "channel-l1") -> list[Group]:
    """Reorder every group's channels in place, most important first by `method`; the function is unchanged."""
    criterion = methods.get(method)
    if criterion.family is not methods.CHANNELS or criterion.needs_gradients:
        raise ConfigError(f"An elastic generator sorts channels by a criterion without gradients; --method must be "
                          f"one of {', '.join(methods.SCANNABLE)} without 'unstructured' (got {method!r}).")
    importance = criterion.importance()
    modules = dict(model.named_modules())
    groups = []
    for g, tp_group in find_groups(model):
        with torch.no_grad():
            scores = importance(tp_group)
        order = torch.argsort(scores.detach().float().cpu(), descending=True, stable=True) \
            if scores is not None else torch.arange(g.channels)
        for name in g.outputs:
            _permute(modules[name], order.to(modules[name].weight.device), "out")
        for name in g.inputs:
            _permute(modules[name], order.to(modules[name].weight.device), "in")
        groups.append(g)
    return groups


def _sliced_forward(m: nn.Module):
    """A forward reading the first `m.elastic_out` output channels (None: all) and as many inputs as arrive."""
    if isinstance(m, NORMS):
        def norm(self, x):
            c = x.shape[1]
            use_batch = self.training or self.running_mean is None
            momentum = self.momentum
            if self.training and self.track_running_stats:
                self.num_batches_tracked.add_(1)
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            running = (None, None) if self.running_mean is None or (self.training and not self.track_running_stats) \
                else (self.running_mean[:c], self.running_var[:c])
            return F.batch_norm(x, *running, self.weight[:c] if self.weight is not None else None,
                                self.bias[:c] if self.bias is not None else None, use_batch, momentum or 0.0,
                                self.eps)
        return types.MethodType(norm, m)

    def weights(self, x):
        k, c = self.elastic_out, x.shape[1] if not isinstance(self, nn.Linear) else x.shape[-1]
        w = self.weight
        w = w[:c, :k] if isinstance(self, nn.ConvTranspose2d) else w[:k, :c]
        b = self.bias[:k] if self.bias is not None else None
        return w, b

    if isinstance(m, nn.Linear):
        return types.MethodType(lambda self, x: F.linear(x, *weights(self, x)), m)
    if isinstance(m, nn.Conv2d):
        return types.MethodType(lambda self, x: self._conv_forward(x, *weights(self, x)), m)
    return types.MethodType(lambda self, x: F.conv_transpose2d(
        x, *weights(self, x), self.stride, self.padding, self.output_padding, self.groups, self.dilation), m)


class _Stop(EngineSignal):
    """Ends a forward after the last norm layer (through a person's own forward too: the guard lets it pass)."""


def _stop_forward(*_):
    raise _Stop


class ElasticGenerator:
    """A dense G whose channels are sorted, run at any widths. `model` is the shared nn.Module (train it as any G;
    its state_dict is a dense G's). Widths are {group name: channels kept}; a group left out keeps all."""

    def __init__(self, model: nn.Module, groups: list[Group]) -> None:
        self.model, self.groups = model, groups
        self.modules = dict(model.named_modules())
        self.dense_widths = {g.name: g.channels for g in groups}
        self.widths = dict(self.dense_widths)
        self._table = self._macs_table()
        for g in groups:
            for name in (*g.outputs, *g.inputs):
                m = self.modules[name]
                if "forward" not in vars(m):  # not yet elastic (a model is made elastic once)
                    m.elastic_out = None
                    m.forward = _sliced_forward(m)

    @classmethod
    def from_dense(cls, G: nn.Module, method: str = "channel-l1") -> ElasticGenerator:
        """A copy of G with its channels sorted by `method` (G itself is left as it was)."""
        model = copy.deepcopy(G)
        return cls(model, sort_channels(model, method))

    @classmethod
    def from_sorted(cls, model: nn.Module) -> ElasticGenerator:
        """A G whose channels were sorted before (a loaded elastic checkpoint)."""
        return cls(model, [g for g, _ in find_groups(model)])

    def _macs_table(self) -> list[tuple[int, str | None, str | None]]:
        """(dense MACs, group of its outputs, group of its inputs) per weight layer: MACs scale with both shares."""
        out_of = {n: g.name for g in self.groups for n in g.outputs}
        in_of = {n: g.name for g in self.groups for n in g.inputs}
        return [(r.macs, out_of.get(r.name), in_of.get(r.name)) for r in layer_table(self.model)
                if isinstance(self.modules[r.name], PRUNABLE)]

    def full_widths(self, widths: dict[str, int] | None) -> dict[str, int]:
        out = dict(self.dense_widths)
        for name, k in (widths or {}).items():
            if name not in out:
                raise ConfigError(f"Unknown channel group {name!r}; the groups are {', '.join(out)}.")
            out[name] = max(1, min(int(k), out[name]))
        return out

    def set_widths(self, widths: dict[str, int] | None) -> None:
        """Run every later forward at `widths` (None: dense)."""
        self.widths = self.full_widths(widths)
        for g in self.groups:
            k = self.widths[g.name]
            for name in g.outputs:
                self.modules[name].elastic_out = None if k == g.channels else k

    def widths_at(self, shares: dict[str, float] | float) -> dict[str, int]:
        """Channels kept for a share of each group (one share for all, or one per group), at least one."""
        get = (lambda g: shares) if isinstance(shares, (int, float)) else (lambda g: shares.get(g.name, 1.0))
        return {g.name: max(1, int(round(g.channels * float(get(g))))) for g in self.groups}

    def macs(self, widths: dict[str, int] | None = None) -> int:
        """G's MACs per sample at `widths` (exact for the layers counted by engine.metrics.complexity)."""
        w = self.full_widths(widths)
        share = lambda g: 1.0 if g is None else w[g] / self.dense_widths[g]  # noqa: E731
        return int(round(sum(macs * share(o) * share(i) for macs, o, i in self._table)))

    def params(self, widths: dict[str, int] | None = None) -> int:
        """G's parameter count at `widths` (what the extracted model will have)."""
        w = self.full_widths(widths)
        out_of = {n: g.name for g in self.groups for n in g.outputs}
        in_of = {n: g.name for g in self.groups for n in g.inputs}
        share = lambda name, table: w[table[name]] / self.dense_widths[table[name]] if name in table else 1.0  # noqa
        total = 0.0
        for name, m in self.model.named_modules():
            for pname, p in m.named_parameters(recurse=False):
                scale = share(name, out_of)
                if pname == "weight" and isinstance(m, PRUNABLE):
                    scale *= share(name, in_of)
                total += p.numel() * scale
        return int(round(total))

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(*inputs)

    @torch.no_grad()
    def calibrate(self, widths: dict[str, int] | None = None, latents: int = CALIBRATION_LATENTS,
                  batch: int = 512, seed: int = 0) -> None:
        """Re-estimate BatchNorm's running stats at `widths` (the model is left at those widths, in eval mode)."""
        self.set_widths(widths)
        norms = [m for m in self.model.modules() if isinstance(m, NORMS) and m.track_running_stats]
        if not norms:
            self.model.eval()
            return
        saved = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a plain average over the calibration batches
        gen = torch.Generator().manual_seed(seed)
        device = next(self.model.parameters()).device
        # The layers after the last norm change no statistic: stop there (the image layer is the costly one)
        stop = norms[-1].register_forward_hook(_stop_forward)
        self.model.train()
        try:
            for start in range(0, latents, batch):
                x = example_input(self.model, batch=min(batch, latents - start))
                try:
                    self.model(torch.randn(x.shape, generator=gen).to(device) if x.is_floating_point() else x)
                except _Stop:
                    pass
        finally:
            stop.remove()
            for m, mom in zip(norms, saved):
                m.momentum = mom
            self.model.eval()

    def extract(self, widths: dict[str, int] | None = None, calibrate: bool = True) -> nn.Module:
        """An ordinary pruned G with exactly these channels (a new module; the elastic one is unchanged)."""
        if calibrate:
            self.calibrate(widths)
        w = self.full_widths(widths)
        self.set_widths(None)
        model = copy.deepcopy(self.model).cpu()
        self.set_widths(w)
        for m in model.modules():
            if "forward" in vars(m):
                del m.forward
                del m.elastic_out
        modules = dict(model.named_modules())
        model.eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dg = tp.DependencyGraph().build_dependency(model, example_inputs=example_input(model, batch=2),
                                                       customized_pruners=CUSTOM_PRUNERS)
            for g in self.groups:
                if w[g.name] < g.channels:
                    root = modules[g.name]
                    dg.get_pruning_group(root, dg.get_pruner_of_module(root).prune_out_channels,
                                         idxs=list(range(w[g.name], g.channels))).prune()
        return model
