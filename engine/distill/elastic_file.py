"""The elastic student as a workspace file (checkpoints/elastic.pt), and any size taken from it at once.

The file holds a dense G's spec and weights (channels sorted, trained by the sandwich rule), the channel groups, the
width grid it was trained on and every size the search scored (widths, MACs, probe FID): plain tensors and builtins,
so `torch.load(weights_only=True)` reads it. `extract(path, reduction)` is the one call the CLI and the studio's size
slider need: the sizes the search scored first (the best probe FID at or under the MACs asked), else the same share
of every group.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
import torch.nn as nn

from engine.checkpoints import model_state
from engine.distill.elastic import ElasticGenerator
from engine.errors import WorkspaceError
from engine.models import build_generator
from engine.workspace import atomic_write_bytes

FORMAT = "gan-prune-elastic"
VERSION = 1


def save_elastic(path: str | Path, elastic: ElasticGenerator, **fields) -> None:
    """Write the elastic student atomically (the model's state as a dense G's; `fields` as given, builtins only)."""
    elastic.set_widths(None)
    payload = {"format": FORMAT, "version": VERSION, "generator_spec": elastic.model.spec(),
               "generator": model_state(elastic.model),
               "groups": [{"name": g.name, "channels": g.channels} for g in elastic.groups], **fields}
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_elastic(path: str | Path) -> tuple[ElasticGenerator, dict]:
    """The elastic student and its file's fields; a missing or foreign file is one sentence."""
    path = Path(path)
    if not path.exists():
        raise WorkspaceError(f"There is no elastic student at {path}; run 'gan-prune compress' (--search elastic) "
                             "first.")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated or foreign files raise many kinds
        raise WorkspaceError(f"{path} is corrupt or not a safe PyTorch file ({str(e).splitlines()[0][:100]}); "
                             "run 'gan-prune compress' again.") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        raise WorkspaceError(f"{path} is not an elastic student of this version; run 'gan-prune compress' again.")
    model = build_generator(data["generator_spec"])
    model.load_state_dict(data["generator"])
    elastic = ElasticGenerator.from_sorted(model.eval())
    if [{"name": g.name, "channels": g.channels} for g in elastic.groups] != data["groups"]:
        raise WorkspaceError(f"{path} does not match its generator's channel groups; run 'gan-prune compress' again.")
    return elastic, data


def widths_for(elastic: ElasticGenerator, data: dict, reduction: float) -> dict[str, int]:
    """The widths to take for `reduction` x fewer MACs: the scored size with the best probe FID within it, else the
    largest equal share of every group within it."""
    limit = elastic.macs() / max(1.0, float(reduction))
    scored = [s for s in data.get("sizes", []) if s["macs"] <= limit * (1 + 1e-9) and s.get("probe_fid") is not None]
    if scored:
        return dict(min(scored, key=lambda s: (s["probe_fid"], s["macs"]))["widths"])
    lo, hi = 0.0, 1.0  # MACs grow with the share: bisect the largest one within the limit
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if elastic.macs(elastic.widths_at(mid)) <= limit else (lo, mid)
    return elastic.widths_at(lo) if lo > 0 else {g.name: 1 for g in elastic.groups}


def extract(path: str | Path, reduction: float) -> tuple[nn.Module, int, dict[str, int]]:
    """(a pruned G at about `reduction` x fewer MACs, its MACs, its widths by group) from an elastic student file,
    without training: BatchNorm is re-estimated for those widths (well under a second for the bundled DCGAN)."""
    elastic, data = load_elastic(path)
    widths = widths_for(elastic, data, reduction)
    return elastic.extract(widths).eval(), elastic.macs(widths), widths
