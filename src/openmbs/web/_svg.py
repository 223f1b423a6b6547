"""Server-rendered SVG line charts (no script, no external file).

A chart is drawn from plain sequences: the x values (periods) and one or more named y
series of the same length; ``None`` in a series leaves a gap. The axes carry titles and
five ticks each, chosen as round numbers (1, 2 or 5 times a power of ten).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Series", "line_chart"]

#: Colours of the series, in order (colour-blind safe: Okabe and Ito's palette).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


@dataclass(frozen=True)
class Series:
    """One line: its legend name and y values (None where there is no value)."""

    name: str
    values: Sequence[float | None]


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    out = []
    v = start
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    if out[-1] < hi:
        out.append(round(v, 12))
    return out


def _label(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v - round(v)) < 1e-9:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def line_chart(
    title: str,
    x: Sequence[float],
    series: Sequence[Series],
    *,
    x_title: str,
    y_title: str,
    width: int = 720,
    height: int = 320,
) -> str:
    """An ``<svg>`` element: lines of ``series`` over ``x`` with titled axes and a legend.

    Raises
    ------
    ValueError
        When a series' length differs from ``x``'s (a programming error, not user input).
    """
    for s in series:
        if len(s.values) != len(x):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(x)} x values")
    left, right, top, bottom = 80, 20, 36, 70
    pw, ph = width - left - right, height - top - bottom
    ys = [v for s in series for v in s.values if v is not None and math.isfinite(v)]
    xt = _ticks(min(x), max(x)) if x else [0.0, 1.0]
    yt = _ticks(min([0.0, *ys]), max(ys) if ys else 1.0)
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]

    def px(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        return top + ph - (v - y0) / (y1 - y0) * ph

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{width / 2:.0f}" y="20" text-anchor="middle" class="chart-title">{escape(title)}</text>',
    ]
    for v in yt:
        y = py(v)
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(v)}</text>')
    for v in xt:
        xx = px(v)
        parts.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{top + ph}" y2="{top + ph + 5}" stroke="#333"/>')
        parts.append(f'<text x="{xx:.1f}" y="{top + ph + 18}" text-anchor="middle">{_label(v)}</text>')
    parts.append(
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>'
    )
    parts.append(
        f'<text class="axis-title x-title" x="{left + pw / 2:.0f}" y="{top + ph + 38}" '
        f'text-anchor="middle">{escape(x_title)}</text>'
    )
    parts.append(
        f'<text class="axis-title y-title" x="18" y="{top + ph / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 18 {top + ph / 2:.0f})">{escape(y_title)}</text>'
    )
    for k, s in enumerate(series):
        colour = COLOURS[k % len(COLOURS)]
        path: list[str] = []
        pen = "M"
        for xv, yv in zip(x, s.values, strict=True):
            if yv is None or not math.isfinite(yv):
                pen = "M"
                continue
            path.append(f"{pen}{px(xv):.1f},{py(yv):.1f}")
            pen = "L"
        parts.append(
            f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="1.5">'
            f"<title>{escape(s.name)}</title></path>"
        )
        lx = left + k * 150
        ly = height - 12
        parts.append(f'<line x1="{lx}" x2="{lx + 20}" y1="{ly - 4}" y2="{ly - 4}" stroke="{colour}" stroke-width="3"/>')
        parts.append(f'<text x="{lx + 26}" y="{ly}" class="legend">{escape(s.name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
