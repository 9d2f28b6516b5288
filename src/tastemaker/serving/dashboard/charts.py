"""Charts as inline SVG, drawn on the server: no script, no CDN, the same picture in every browser."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

#: line colours, in order (colour-blind safe: Okabe-Ito)
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def line_chart(series: dict[str, Sequence[tuple[str, float | None]]], *, title: str, bound: float | None = None,
               width: int = 640, height: int = 220, unit: str = "") -> str:
    """A line per series over shared x labels (dates, run times), an optional dashed bound (and its negative,
    for effects that drift either way), each point with a tooltip. An empty chart says so."""
    labels = sorted({x for points in series.values() for x, _ in points})
    values = [y for points in series.values() for _, y in points if y is not None and math.isfinite(y)]
    if not labels or not values:
        return (f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="60">'
                f'<text x="8" y="30">{escape(title)}: no data yet</text></svg>')
    lo, hi = min(values), max(values)
    if bound is not None:
        lo, hi = min(lo, -abs(bound) if lo < 0 else 0.0, bound), max(hi, abs(bound))
    lo, hi = min(lo, 0.0), hi if hi > lo else lo + 1.0
    left, right, top, bottom = 56, 12, 28, 28
    inner_w, inner_h = width - left - right, height - top - bottom
    x_of = {x: left + (inner_w * i / max(len(labels) - 1, 1)) for i, x in enumerate(labels)}

    def y_of(v: float) -> float:
        return top + inner_h * (1 - (v - lo) / (hi - lo))

    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">', f'<text x="{left}" y="16" class="title">{escape(title)}</text>']
    for tick in _ticks(lo, hi):
        y = y_of(tick)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_fmt(tick)}{unit}</text>')
    if bound is not None:
        for b in {bound, -bound} if lo < 0 else {bound}:
            if lo <= b <= hi:
                parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y_of(b):.1f}" y2="{y_of(b):.1f}" '
                             f'class="bound"><title>bound {_fmt(b)}</title></line>')
    for label in (labels[0], labels[-1]) if len(labels) > 1 else (labels[0],):
        anchor = "start" if label == labels[0] else "end"
        parts.append(f'<text x="{x_of[label]:.1f}" y="{height - 8}" class="tick" text-anchor="{anchor}">'
                     f'{escape(label)}</text>')
    for i, (name, points) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        kept = [(x, y) for x, y in points if y is not None and math.isfinite(y)]
        if len(kept) > 1:
            path = " ".join(f"{x_of[x]:.1f},{y_of(y):.1f}" for x, y in kept)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
                         f'class="series" data-series="{escape(name)}"/>')
        for x, y in kept:
            parts.append(f'<circle cx="{x_of[x]:.1f}" cy="{y_of(y):.1f}" r="3" fill="{colour}">'
                         f'<title>{escape(name)} {escape(x)}: {_fmt(y)}{unit}</title></circle>')
        parts.append(f'<text x="{width - right}" y="{16 + 14 * i}" class="legend" text-anchor="end" '
                     f'fill="{colour}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(bars: Sequence[tuple[str, float]], *, title: str, width: int = 640, unit: str = "") -> str:
    """Horizontal bars, one a row, largest first as given."""
    if not bars:
        return (f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="60">'
                f'<text x="8" y="30">{escape(title)}: no data yet</text></svg>')
    row, left, top = 22, 220, 26
    height = top + row * len(bars) + 8
    top_value = max(v for _, v in bars) or 1.0
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">', f'<text x="8" y="16" class="title">{escape(title)}</text>']
    for i, (label, value) in enumerate(bars):
        y = top + i * row
        w = (width - left - 80) * value / top_value
        parts.append(f'<text x="{left - 8}" y="{y + 14}" class="tick" text-anchor="end">{escape(label[:34])}</text>'
                     f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" fill="{PALETTE[0]}">'
                     f'<title>{escape(label)}: {_fmt(value)}{unit}</title></rect>'
                     f'<text x="{left + w + 6:.1f}" y="{y + 14}" class="tick">{_fmt(value)}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    step = (hi - lo) / n
    magnitude = 10 ** math.floor(math.log10(step)) if step > 0 else 1.0
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= step), default=step)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"
