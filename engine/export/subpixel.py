"""Rewrite ConvTranspose2d exactly as Conv2d + depth-to-space (sub-pixel form) so int8 kernels carry the work.

ONNX Runtime has no int8 ConvTranspose: a quantized ConvTranspose model dequantizes around every layer and
ends up slower than float. The same arithmetic written as an ordinary convolution producing s*s phases of the
output, interleaved (DepthToSpace) and cropped, runs as QLinearConv. The conv's output channels are ordered so
that one DepthToSpace and one crop serve every phase (see _shuffle_order): three nodes per layer that ORT runs
on uint8, where a crop per phase + concat + 6-D transpose cost more than the int8 conv saved on small models.
A ConvTranspose applied to a 1x1 map (the latent projection) is a plain matrix product: a Linear and a reshape.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F


def _phase_taps(k: int, s: int, p: int) -> list[list[tuple[int, int]]]:
    """For each output phase r (output row o = s*q + r): the (input offset d, kernel tap kk) pairs it sums over.

    ConvTranspose maps input i with tap kk to output o = s*i - p + kk, so o = s*q + r reads input
    i = q + (r + p - kk) / s for every kk with kk = (r + p) mod s.
    """
    phases = []
    for r in range(s):
        taps = [((r + p - kk) // s, kk) for kk in range(k) if (r + p - kk) % s == 0]
        phases.append(sorted(taps))
    return phases


class SubPixelConvTranspose2d(nn.Module):
    """ConvTranspose2d(k, stride s, padding p) as Conv2d(s*s*Cout, KxK, padded) → depth-to-space → one crop.

    A 1x1 input (the first layer of a generator) takes the matrix-product path instead: Linear to Cout*k*k.
    """

    def __init__(self, ct: nn.ConvTranspose2d, activation: nn.Module | None = None) -> None:
        super().__init__()
        # An elementwise activation commutes with crop/interleave; applying it straight after the conv lets
        # the quantizer fuse it there, so the data movement after it stays in int8 with one scale.
        self.activation = activation if activation is not None else nn.Identity()
        if not is_rewritable(ct):
            raise ValueError(f"cannot rewrite {ct} in sub-pixel form")
        (k, _), (s, _), (p, _) = ct.kernel_size, ct.stride, ct.padding
        cin, cout = ct.in_channels, ct.out_channels
        self.k, self.s, self.p, self.cout = k, s, p, cout
        w = ct.weight.detach()  # [Cin, Cout, k, k]
        b = ct.bias.detach() if ct.bias is not None else torch.zeros(cout, dtype=w.dtype)

        # Matrix-product path for a 1x1 input: out[c, h, w] = sum_i z[i] * W[i, c, h + p, w + p].
        self.project = nn.Linear(cin, cout * k * k)
        with torch.no_grad():
            self.project.weight.copy_(w.reshape(cin, cout * k * k).t())
            self.project.bias.copy_(b.repeat_interleave(k * k))

        # Convolution path: each phase's taps, aligned at its own smallest offset, fit one KxK window.
        phases = _phase_taps(k, s, p)
        self.lows = [taps[0][0] for taps in phases]
        self.kernel = K = max(taps[-1][0] - taps[0][0] + 1 for taps in phases)
        self.pad = max(0, -min(self.lows))  # grown in forward() when the bottom/right edge needs more
        order = _shuffle_order(self.lows, s)
        self.order = order  # phase r lands at pixel_shuffle position order[r]; None: crop each phase on its own
        weight = torch.zeros(s * s * cout, cin, K, K, dtype=w.dtype)
        for rh, taps_h in enumerate(phases):
            for rw, taps_w in enumerate(phases):
                rows = self._channels(rh, rw, cout)
                for dh, kh in taps_h:
                    for dw, kw in taps_w:
                        # ConvTranspose weight is [Cin, Cout, ...]; Conv2d wants [Cout, Cin, ...].
                        weight[rows, :, dh - self.lows[rh], dw - self.lows[rw]] = w[:, :, kh, kw].t()
        self.conv = nn.Conv2d(cin, s * s * cout, K, bias=True)
        with torch.no_grad():
            self.conv.weight.copy_(weight)
            self.conv.bias.copy_(b.repeat(s * s) if order is None else b.repeat_interleave(s * s))

    def _channels(self, rh: int, rw: int, cout: int):
        """Conv output channels of phase (rh, rw): pixel_shuffle's layout (c*s*s + i*s + j) when one crop fits
        all phases, else phase-major blocks."""
        s = self.s
        if self.order is None:
            phase = rh * s + rw
            return slice(phase * cout, (phase + 1) * cout)
        return torch.arange(cout) * s * s + self.order[rh] * s + self.order[rw]

    def geometry(self, H: int, W: int) -> tuple[int, int, int]:
        """(q_h, q_w, pad): output side / s per axis, and the conv's padding for an H x W input.

        One symmetric padding for both sides and axes: it stays the Conv's own `pads` (no Pad node); rows it
        adds beyond what a phase reads are cropped away after the shuffle."""
        k, s, p = self.k, self.s, self.p
        q_h, q_w = (H * s - 2 * p + k - s) // s, (W * s - 2 * p + k - s) // s  # divisible by s (checked)
        need = max(max(lo + q + self.kernel - 1 for lo in self.lows) - n for q, n in ((q_h, H), (q_w, W)))
        return q_h, q_w, max(self.pad, need)

    def crop_start(self, pad: int) -> int:
        """Where the output starts in the shuffled conv output (one-crop form only)."""
        return self.s * (self.lows[0] + pad) + self.order[0]

    def phases(self, x: torch.Tensor, pad: int) -> torch.Tensor:
        """The conv output before the shuffle: s*s phases per channel, activation applied."""
        return self.activation(F.conv2d(x, self.conv.weight, self.conv.bias, padding=pad))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        k, s, p, C = self.k, self.s, self.p, self.cout
        if H == 1 and W == 1:  # static under export: only the batch axis is dynamic
            y = self.activation(self.project(x.flatten(1))).reshape(B, C, k, k)
            return y[:, :, p:k - p, p:k - p] if p else y
        q_h, q_w, pad = self.geometry(H, W)
        y = self.phases(x, pad)
        tops = [lo + pad for lo in self.lows]
        if self.order is not None:
            # out[s*q + r] = phase r at row q + tops[r] = shuffled row s*(q + tops[r]) + order[r]: one crop.
            c = self.crop_start(pad)
            y = F.pixel_shuffle(y, s)
            return y[:, :, c:c + s * q_h, c:c + s * q_w]
        parts = []
        for rh in range(s):
            for rw in range(s):
                phase = rh * s + rw
                parts.append(y[:, phase * C:(phase + 1) * C, tops[rh]:tops[rh] + q_h, tops[rw]:tops[rw] + q_w])
        # Phase-major channels (DCR order) → interleave the phases into an s-times larger image.
        y = torch.cat(parts, dim=1).reshape(B, s, s, C, q_h, q_w)
        return y.permute(0, 3, 4, 1, 5, 2).reshape(B, C, q_h * s, q_w * s)


def _shuffle_order(lows: list[int], s: int) -> list[int] | None:
    """Where each phase goes in pixel_shuffle so that one crop serves all phases, or None if none does.

    Phase r's output row s*q + r reads conv row q + top_r; after pixel_shuffle with phase r at position
    order[r], that is shuffled row s*(q + top_r) + order[r]. One crop offset c for all r needs
    order[r] = r + c - s*top_r, a permutation of 0..s-1: the values r - s*lows[r] must be consecutive.
    """
    keys = [r - s * lo for r, lo in enumerate(lows)]
    if sorted(keys) != list(range(min(keys), min(keys) + s)):
        return None
    return [key - min(keys) for key in keys]


def is_rewritable(m: nn.Module) -> bool:
    """Square kernel/stride/padding, no groups/dilation/output_padding, and an output side that s divides."""
    if not isinstance(m, nn.ConvTranspose2d):
        return False
    k, s, p = m.kernel_size, m.stride, m.padding
    return (k[0] == k[1] and s[0] == s[1] and p[0] == p[1] and m.groups == 1 and m.dilation == (1, 1)
            and m.output_padding == (0, 0) and (k[0] - 2 * p[0]) % s[0] == 0 and k[0] - 2 * p[0] > 0)


ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.Tanh, nn.Sigmoid)


def to_subpixel(model: nn.Module) -> nn.Module:
    """A copy of `model` with every rewritable ConvTranspose2d replaced by its exact sub-pixel equivalent.

    A ReLU-like activation that directly follows it in a Sequential (Identity from a folded BatchNorm in
    between is fine) moves inside the rewritten layer, ahead of the crop and interleave.
    """
    out = copy.deepcopy(model).eval()
    for parent in list(out.modules()):
        names = list(parent._modules)
        for i, name in enumerate(names):
            child = parent._modules[name]
            if not is_rewritable(child):
                continue
            activation = None
            if isinstance(parent, nn.Sequential):
                j = i + 1
                while j < len(names) and isinstance(parent._modules[names[j]], nn.Identity):
                    j += 1
                if j < len(names) and isinstance(parent._modules[names[j]], ELEMENTWISE):
                    activation = parent._modules[names[j]]
                    parent._modules[names[j]] = nn.Identity()
            parent._modules[name] = SubPixelConvTranspose2d(child, activation)
    return out
