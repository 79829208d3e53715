"""Bar charts drawn on the server as SVG (pure): no script, readable without colour vision
because every chart comes with its figures as a table, and every colour is at least 3:1
against white (WCAG non-text contrast)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#0b4f8a", "#a34a00", "#00703c", "#6a2c91", "#a4001d", "#005f73", "#7a5c00", "#4a4a4a")

WIDTH = 720
HEIGHT = 240
LEFT = 48
BOTTOM = 36
TOP = 12


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    colour: str


def colours(names: Sequence[str]) -> list[Series]:
    """Empty series with a colour each, in order (callers fill values)."""
    return [Series(n, [], PALETTE[i % len(PALETTE)]) for i, n in enumerate(names)]


def nice_ceiling(value: float) -> float:
    """The axis maximum: 1, 2 or 5 times a power of ten, at least the value."""
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if value <= factor * step:
            return float(factor * step)
    return float(10 * step)  # pragma: no cover - the loop always returns


def stacked_bars(
    categories: Sequence[str], series: Sequence[Series], label: str, *, every: int = 1
) -> Markup:
    """Bars per category, the series stacked in order; `every` labels only every n-th
    category on the axis (30 days do not fit otherwise)."""
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    top = nice_ceiling(max(totals, default=0.0))
    plot_w = WIDTH - LEFT - 8
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(categories), 1)
    bar = max(slot * 0.7, 1.0)
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for tick in range(5):
        value = top * tick / 4
        y = TOP + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - 8}" y2="{y:.1f}" stroke="#767676" '
            f'stroke-width="{1 if tick == 0 else 0.4}"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{_number(value)}</text>'
        )
    for i, category in enumerate(categories):
        x = LEFT + slot * i + (slot - bar) / 2
        base = float(TOP + plot_h)
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            base -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{s.colour}"><title>{escape(category)}: {escape(s.name)} '
                f"{_number(value)}</title></rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" '
                f'text-anchor="middle">{escape(category)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
