"""Tiny workspaces for engine tests: a randomly initialised 28px DCGAN saved as the trained ('dense') model."""

import torch

from engine.models import build_pair, default_specs
from engine.workspace import Workspace


def dense_dcgan_workspace(path) -> Workspace:
    """A workspace whose train stage is done with a narrow DCGAN (latent 16, G widths [32, 16], D [16, 32])."""
    ws = Workspace(path)
    torch.manual_seed(0)
    gspec, dspec = default_specs("dcgan", (1, 28, 28), latent_dim=16)
    gspec["widths"], dspec["widths"] = [32, 16], [16, 32]
    G, D = build_pair({"generator": gspec, "discriminator": dspec})
    ws.save_checkpoint("dense", {"arch": {"generator": gspec, "discriminator": dspec}, "generator": G.state_dict(),
                                 "discriminator": D.state_dict(), "step": 0, "loss": "bce",
                                 "data": {"dataset": "mnist-5k", "image_shape": [1, 28, 28]}})
    ws.update_stage("train", status="done", checkpoint="checkpoints/dense.pt")
    return ws
