"""Tiny workspaces for tests: a randomly initialised small GAN saved as the trained ('dense') model."""

import torch

from engine.models import build_pair, default_specs
from engine.workspace import Workspace


def dense_workspace(path, arch: str = "dcgan", latent_dim: int = 16, g_widths=(32, 16), d_widths=(16, 32)) -> Workspace:
    """A workspace whose train stage is done with a narrow 28px model (by default a DCGAN with latent 16, G widths
    [32, 16], D [16, 32]), as run_train would leave it."""
    ws = Workspace(path)
    torch.manual_seed(0)
    gspec, dspec = default_specs(arch, (1, 28, 28), latent_dim=latent_dim)
    gspec["widths"], dspec["widths"] = list(g_widths), list(d_widths)
    G, D = build_pair({"generator": gspec, "discriminator": dspec})
    ws.save_checkpoint("dense", {"arch": {"generator": gspec, "discriminator": dspec}, "generator": G.state_dict(),
                                 "discriminator": D.state_dict(), "step": 0, "loss": "bce",
                                 "data": {"dataset": "mnist-5k", "image_shape": [1, 28, 28]}})
    ws.update_stage("train", status="done", checkpoint="checkpoints/dense.pt")
    return ws


def dense_dcgan_workspace(path) -> Workspace:
    return dense_workspace(path)


def pruned_dcgan_workspace(path) -> Workspace:
    """A workspace whose newest model is a pruned DCGAN of G widths [8, 4] (latent 8): what export starts from."""
    ws = Workspace(path)
    gspec = {**default_specs("dcgan", (1, 28, 28), latent_dim=8)[0], "widths": [8, 4]}
    dspec = {**default_specs("dcgan", (1, 28, 28))[1], "widths": [4, 8]}
    G, D = build_pair({"generator": gspec, "discriminator": dspec})
    ck = ws.save_checkpoint("pruned", {"arch": {"generator": gspec, "discriminator": dspec},
                                       "generator": G.state_dict(), "discriminator": D.state_dict(), "ema": None,
                                       "optim": {}, "step": 3, "data": {"dataset": "mnist-5k",
                                                                        "image_shape": [1, 28, 28]}, "seed": 0})
    ws.update_stage("prune", status="done", checkpoint=ws.rel(ck), method="channel-l1", amount=0.5)
    return ws
