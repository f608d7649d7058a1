"""The imported-generator fixture (tests/fixtures/user_dcgan.py), trained briefly and saved as a person would."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "user_dcgan.py"


def fixture_module(path: Path = FIXTURE):
    """The fixture imported the way its author runs it (not through the app's loader)."""
    spec = importlib.util.spec_from_file_location("user_dcgan_as_written", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trained_weights(folder: Path, steps: int = 10) -> tuple[Path, Path]:
    """Train the fixture's G and D a few steps of its own loop on real digits; save both state dicts."""
    from engine.config import DataConfig
    from engine.data import load_dataset, to_float

    u = fixture_module()
    torch.manual_seed(0)
    G, D = u.TinyGenerator(), u.TinyDiscriminator()
    real = to_float(load_dataset(DataConfig(limit=320)).images)
    u.train_briefly(G, D, real, steps=steps)
    folder.mkdir(parents=True, exist_ok=True)
    g, d = folder / "G.pt", folder / "D.pt"
    torch.save(G.state_dict(), g)
    torch.save(D.state_dict(), d)
    return g, d


def saved_weights(folder: Path) -> tuple[Path, Path]:
    """State dicts of a freshly built G and D (for tests about refusals and dialogs: no training needed)."""
    u = fixture_module()
    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    g, d = folder / "G.pt", folder / "D.pt"
    torch.save(u.TinyGenerator().state_dict(), g)
    torch.save(u.TinyDiscriminator().state_dict(), d)
    return g, d


def import_args(ws: Path, g: Path, d: Path | None = None, source: Path = FIXTURE) -> list[str]:
    args = ["import", "--workspace", str(ws), "--generator", str(source), "--class", "TinyGenerator",
            "--weights", str(g), "--limit", "320", "-q"]
    if d is not None:
        args += ["--discriminator-class", "TinyDiscriminator", "--discriminator-weights", str(d)]
    return args
