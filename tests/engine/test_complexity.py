"""MACs per layer match hand counts, ConvTranspose included; nonzeros see pruning."""

import torch
import torch.nn as nn

from engine.metrics.complexity import layer_table, summarize


class Tiny(nn.Module):
    latent_dim = 8

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 16)
        self.up = nn.ConvTranspose2d(1, 4, 4, 2, 1)
        self.conv = nn.Conv2d(4, 2, 3, 1, 1)

    def forward(self, z):
        return self.conv(self.up(self.fc(z).view(-1, 1, 4, 4)))


def test_macs_by_hand():
    rows = {r.name: r for r in layer_table(Tiny())}
    assert rows["fc"].macs == 8 * 16
    # ConvTranspose: each of the 4x4 input positions scatters 4 channels x 4x4 kernel
    assert rows["up"].macs == 1 * 4 * 4 * 4 * 4 * 4
    assert rows["conv"].macs == 8 * 8 * 2 * 4 * 3 * 3
    assert rows["up"].shape == "1x4x4x4" and rows["conv"].width == 2


def test_nonzero_params_and_compressed_bytes_see_zeros():
    m = Tiny()
    dense = summarize(m)
    with torch.no_grad():
        m.fc.weight.zero_()
    sparse = summarize(m)
    assert sparse["params"] == dense["params"]
    assert sparse["nonzero_params"] == dense["nonzero_params"] - 8 * 16
    assert sparse["file_bytes"] == dense["file_bytes"]
    assert sparse["file_bytes_compressed"] < dense["file_bytes_compressed"]
