"""Small inline-SVG charts for report.html (scatter with a Pareto front, lines, grouped bars): no matplotlib,
no CDN, so the report opens anywhere and can be mailed as one file."""

from __future__ import annotations

import math
from html import escape

W, H = 560, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 48
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step)
    last = math.ceil(hi / step)  # the last tick at or above the highest value: no point falls off the chart
    return [round(i * step, 10) for i in range(first, last + 1)]


def _fmt(v: float) -> str:
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:g}G"
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


class _Axes:
    """Maps data to pixels and draws the frame, ticks and labels."""

    def __init__(self, xs: list[float], ys: list[float], x_label: str, y_label: str, log_x: bool = False) -> None:
        self.log_x = log_x and all(x > 0 for x in xs)
        tx = [math.log10(x) for x in xs] if self.log_x else xs
        self.xt = _nice_ticks(min(tx), max(tx)) if not self.log_x else list(range(math.floor(min(tx)),
                                                                                    math.ceil(max(tx)) + 1))
        if self.log_x and len(self.xt) < 2:
            self.xt = [self.xt[0], self.xt[0] + 1]
        self.yt = _nice_ticks(min(ys), max(ys))
        self.x_label, self.y_label = x_label, y_label

    def x(self, v: float) -> float:
        v = math.log10(v) if self.log_x else v
        lo, hi = self.xt[0], self.xt[-1]
        return LEFT + (v - lo) / ((hi - lo) or 1) * (W - LEFT - RIGHT)

    def y(self, v: float) -> float:
        lo, hi = self.yt[0], self.yt[-1]
        return H - BOTTOM - (v - lo) / ((hi - lo) or 1) * (H - TOP - BOTTOM)

    def frame(self) -> list[str]:
        out = [f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" '
               'fill="none" stroke="#999"/>']
        for t in self.xt:
            px = LEFT + (t - self.xt[0]) / ((self.xt[-1] - self.xt[0]) or 1) * (W - LEFT - RIGHT)
            label = _fmt(10 ** t) if self.log_x else _fmt(t)
            out.append(f'<line x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" y2="{H - BOTTOM}" stroke="#eee"/>'
                       f'<text x="{px:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{label}</text>')
        for t in self.yt:
            py = self.y(t)
            out.append(f'<line x1="{LEFT}" y1="{py:.1f}" x2="{W - RIGHT}" y2="{py:.1f}" stroke="#eee"/>'
                       f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
        out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 8}" text-anchor="middle">{escape(self.x_label)}</text>')
        out.append(f'<text transform="translate(14,{(TOP + H - BOTTOM) / 2}) rotate(-90)" '
                   f'text-anchor="middle">{escape(self.y_label)}</text>')
        return out


def _svg(body: list[str], title: str) -> str:
    return (f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
            f'font-family="sans-serif" font-size="11" role="img"><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def _empty(title: str, why: str) -> str:
    return _svg([f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" fill="#777">{escape(why)}</text>'], title)


def pareto_front(points: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """Points no other point beats on both axes (lower x and lower y are better), sorted by x."""
    front, best = [], math.inf
    for p in sorted(points, key=lambda p: (p[1], p[2])):
        if p[2] < best:
            front.append(p)
            best = p[2]
    return front


def scatter(points: list[tuple[str, float, float]], x_label: str, y_label: str, title: str,
            log_x: bool = False) -> str:
    """Labelled points; the Pareto front (lower-left is better) joined by a line."""
    points = [p for p in points if p[1] is not None and p[2] is not None and math.isfinite(p[1] + p[2])]
    if not points:
        return _empty(title, "no variant has both numbers")
    ax = _Axes([p[1] for p in points], [p[2] for p in points], x_label, y_label, log_x)
    body = ax.frame()
    front = pareto_front(points)
    if len(front) > 1:
        path = " ".join(f"{ax.x(x):.1f},{ax.y(y):.1f}" for _, x, y in front)
        body.append(f'<polyline points="{path}" fill="none" stroke="#2ca02c" stroke-dasharray="4 3"/>')
    on_front = {p[0] for p in front}
    labels: dict[tuple[int, int], list[str]] = {}  # variants on the same spot (a model and its ONNX) share a label
    for i, (name, x, y) in enumerate(points):
        color = PALETTE[i % len(PALETTE)]
        r = 6 if name in on_front else 4
        body.append(f'<circle cx="{ax.x(x):.1f}" cy="{ax.y(y):.1f}" r="{r}" fill="{color}" fill-opacity="0.8">'
                    f'<title>{escape(name)}: {_fmt(x)}, {y:.4g}</title></circle>')
        labels.setdefault((round(ax.x(x)), round(ax.y(y))), []).append(name)
    placed: list[tuple[float, float, float]] = []  # (left, right, baseline) of labels already drawn
    for (px, py), names in labels.items():
        text = ", ".join(names)
        right = px > W / 2  # labels on the right half grow leftwards so they stay inside the chart
        width = 6.5 * len(text)
        left = px - 8 - width if right else px + 8
        y = max(py - 8, TOP + 10)
        while any(a < left + width and left < b and abs(y - by) < 12 for a, b, by in placed):
            y += 12  # nearby points: stack their labels instead of printing one over the other
        placed.append((left, left + width, y))
        body.append(f'<text x="{px - 8 if right else px + 8}" y="{y}" '
                    f'text-anchor="{"end" if right else "start"}">{escape(text)}</text>')
    return _svg(body, title)


def lines(series: dict[str, list[tuple[float, float]]], x_label: str, y_label: str, title: str) -> str:
    """One polyline per series with a legend on the right edge."""
    pts = [(x, y) for s in series.values() for x, y in s if y is not None and math.isfinite(y)]
    if not pts:
        return _empty(title, "no data")
    ax = _Axes([p[0] for p in pts], [p[1] for p in pts], x_label, y_label)
    body = ax.frame()
    for i, (name, s) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        good = [(x, y) for x, y in sorted(s) if y is not None and math.isfinite(y)]
        path = " ".join(f"{ax.x(x):.1f},{ax.y(y):.1f}" for x, y in good)
        body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5">'
                    f'<title>{escape(name)}</title></polyline>')
        body += [f'<circle cx="{ax.x(x):.1f}" cy="{ax.y(y):.1f}" r="2.5" fill="{color}"/>' for x, y in good]
        body.append(f'<text x="{W - RIGHT - 4}" y="{TOP + 14 + 13 * i}" text-anchor="end" fill="{color}">'
                    f'{escape(name)}</text>')
    return _svg(body, title)


def bars(labels: list[str], series: dict[str, list[float]], y_label: str, title: str) -> str:
    """Grouped vertical bars: one group per label, one bar per series."""
    vals = [v for s in series.values() for v in s if v is not None]
    if not labels or not vals:
        return _empty(title, "no data")
    yt = _nice_ticks(min(0.0, min(vals)), max(vals))
    ax = _Axes([0, 1], [yt[0], yt[-1]], "", y_label)
    ax.xt = [0, 1]
    body = [f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" fill="none" '
            'stroke="#999"/>']
    for t in ax.yt:
        body.append(f'<line x1="{LEFT}" y1="{ax.y(t):.1f}" x2="{W - RIGHT}" y2="{ax.y(t):.1f}" stroke="#eee"/>'
                    f'<text x="{LEFT - 6}" y="{ax.y(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    body.append(f'<text transform="translate(14,{(TOP + H - BOTTOM) / 2}) rotate(-90)" text-anchor="middle">'
                f'{escape(y_label)}</text>')
    group_w = (W - LEFT - RIGHT) / len(labels)
    bar_w = group_w * 0.8 / max(1, len(series))
    for g, label in enumerate(labels):
        gx = LEFT + g * group_w + group_w * 0.1
        for i, (name, s) in enumerate(series.items()):
            v = s[g] if g < len(s) else None
            if v is None:
                continue
            top, base = ax.y(max(v, 0.0)), ax.y(min(v, 0.0))
            body.append(f'<rect x="{gx + i * bar_w:.1f}" y="{top:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                        f'height="{max(base - top, 0.5):.1f}" fill="{PALETTE[i % len(PALETTE)]}">'
                        f'<title>{escape(label)} {escape(name)}: {v:.4g}</title></rect>')
        short = label if len(label) <= 14 else "…" + label[-13:]
        body.append(f'<text transform="translate({gx + group_w * 0.4:.1f},{H - BOTTOM + 12}) rotate(20)" '
                    f'font-size="9">{escape(short)}</text>')
    for i, name in enumerate(series):
        body.append(f'<text x="{W - RIGHT - 4}" y="{TOP + 14 + 13 * i}" text-anchor="end" '
                    f'fill="{PALETTE[i % len(PALETTE)]}">{escape(name)}</text>')
    return _svg(body, title)
