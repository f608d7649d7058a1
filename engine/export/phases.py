"""The last two upsampling layers as convs over phases: no depth-to-space between them.

At batch 1 a small generator's time goes to fixed per-node costs, and ONNX Runtime's DepthToSpace is the
dearest node of the sub-pixel form (~16 us of ~45 us for a 1.5 M-MAC DCGAN, more than the int8 conv before it).
The layer after it can read the un-shuffled phases directly: ConvTranspose(crop(shuffle(Y))) is linear and
periodic in Y's grid, so it equals one conv over Y's phase channels with S*S output phases per channel
(S = the two strides multiplied), one shuffle by S and one crop. That conv does ~4x the last layer's MACs,
which costs little when the last layer writes the image's 1-3 channels. Phase rows that the crop dropped hold
values computed from padding; a constant 0/1 mask zeroes them first (an elementwise op ORT runs in int8).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.export.subpixel import SubPixelConvTranspose2d

MAX_LAST_CHANNELS = 4  # fold only a last layer this narrow: the fold multiplies its MACs by about 4


def _taps(S: int, s: int, c: int, k2: int, p2: int) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """For output phase rho (mod S) and input phase a (mod s): the (row offset delta, kernel tap kk) pairs.

    Input phase a at row j is x[i] with i = s*j + a - c (c: the first layer's crop start); the second layer
    (stride s2 = S / s, padding p2) puts it at o = s2*i - p2 + kk. With o = S*u + rho and delta = j - u:
    kk = rho + s2*c + p2 - s2*a - S*delta.
    """
    s2 = S // s
    out = {}
    for rho in range(S):
        for a in range(s):
            e = rho + s2 * c + p2 - s2 * a
            out[rho, a] = [(d, e - S * d) for d in range(-(k2 + S), k2 + S) if 0 <= e - S * d < k2]
    return out


class PhasePair(nn.Module):
    """A sub-pixel layer A followed by ConvTranspose B, computed as A's phases → mask → conv → shuffle → crop."""

    def __init__(self, first: SubPixelConvTranspose2d, second: nn.ConvTranspose2d, activation: nn.Module | None):
        super().__init__()
        self.first, self.second = first, second
        self.activation = activation if activation is not None else nn.Identity()
        self._built: dict[tuple[int, int], tuple] = {}

    def _weights(self, c: int):
        """Weight [Cout*S*S, Cin*s*s, K, K], bias, kernel offset delta_min and K, for A's crop start c."""
        A, B = self.first, self.second
        s, s2 = A.s, B.stride[0]
        S, k2, p2 = s * s2, B.kernel_size[0], B.padding[0]
        taps = _taps(S, s, c, k2, p2)
        deltas = [d for pairs in taps.values() for d, _ in pairs]
        d_min, K = min(deltas), max(deltas) - min(deltas) + 1
        w2 = B.weight.detach()  # [Cin, Cout, k2, k2]
        cin, cout = w2.shape[0], w2.shape[1]
        weight = torch.zeros(cout * S * S, cin * s * s, K, K, dtype=w2.dtype)
        outs, ins = torch.arange(cout) * S * S, torch.arange(cin) * s * s
        for (rh, ah), rows in taps.items():
            for (rw, aw), cols in taps.items():
                for dh, kh in rows:
                    for dw, kw in cols:
                        block = w2[:, :, kh, kw].t()  # [Cout, Cin]
                        weight[(outs + rh * S + rw)[:, None], (ins + ah * s + aw)[None, :],
                               dh - d_min, dw - d_min] = block
        bias = B.bias.detach() if B.bias is not None else torch.zeros(cout, dtype=w2.dtype)
        return weight, bias.repeat_interleave(S * S), d_min, K

    def _mask(self, side_h: int, side_w: int, c: int, n_h: int, n_w: int, channels: int) -> torch.Tensor:
        """1 where phase a at row j is a row A keeps (0 <= s*j + a - c < n), 0 where its crop dropped it."""
        s = self.first.s

        def axis(side: int, n: int) -> torch.Tensor:  # [s, side]
            pos = s * torch.arange(side)[None, :] + torch.arange(s)[:, None] - c
            return ((pos >= 0) & (pos < n)).float()

        mh, mw = axis(side_h, n_h), axis(side_w, n_w)
        m = mh[:, None, :, None] * mw[None, :, None, :]  # [s, s, H, W]: phase (a, b) at (j, j')
        return m.reshape(1, s * s, side_h, side_w).repeat(1, channels // (s * s), 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        A = self.first
        _, _, H, W = x.shape
        if (H == 1 and W == 1) or A.order is None:  # A's matrix-product path: nothing to fold
            return self.activation(self.second(A(x)))
        q_h, q_w, pad = A.geometry(H, W)
        c = A.crop_start(pad)
        y = A.phases(x, pad)
        key = (H, W)
        if key not in self._built:  # shapes are static under export; build the fold once per input size
            weight, bias, d_min, K = self._weights(c)
            mask = self._mask(y.shape[2], y.shape[3], c, A.s * q_h, A.s * q_w, y.shape[1])
            self._built[key] = weight, bias, d_min, K, mask
        weight, bias, d_min, K, mask = self._built[key]
        B, S = self.second, A.s * self.second.stride[0]
        out_h = (A.s * q_h - 1) * B.stride[0] - 2 * B.padding[0] + B.kernel_size[0]
        out_w = (A.s * q_w - 1) * B.stride[0] - 2 * B.padding[0] + B.kernel_size[0]
        units = -(-max(out_h, out_w) // S)  # output rows per phase needed
        P = max(-d_min, units - 1 + d_min + K - 1 - (max(y.shape[2], y.shape[3]) - 1), 0)
        z = self.activation(F.conv2d(y * mask.to(y.dtype), weight.to(y.dtype), bias.to(y.dtype), padding=P))
        start = S * (d_min + P)
        return F.pixel_shuffle(z, S)[:, :, start:start + out_h, start:start + out_w]


def fold_last_pair(model: nn.Module) -> nn.Module:
    """In place: in each Sequential, the last SubPixelConvTranspose2d B (image channels <= MAX_LAST_CHANNELS)
    right after another one A (Identity between is fine) becomes PhasePair(A, B); B's slot an Identity."""
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        layers = [n for n in names if isinstance(seq._modules[n], SubPixelConvTranspose2d)]
        if len(layers) < 2:
            continue
        a_name, b_name = layers[-2], layers[-1]
        between = names[names.index(a_name) + 1:names.index(b_name)]
        A, B = seq._modules[a_name], seq._modules[b_name]
        if B.cout > MAX_LAST_CHANNELS or not all(isinstance(seq._modules[n], nn.Identity) for n in between):
            continue
        second = nn.ConvTranspose2d(B.project.in_features, B.cout, B.k, B.s, B.p)
        with torch.no_grad():  # B's ConvTranspose weights, read back from its matrix-product form
            second.weight.copy_(B.project.weight.t().reshape(second.weight.shape))
            second.bias.copy_(B.project.bias[::B.k * B.k])
        seq._modules[a_name] = PhasePair(A, second, B.activation)
        seq._modules[b_name] = nn.Identity()
    return model
