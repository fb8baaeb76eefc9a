"""Charts as inline SVG, drawn by commlog itself: no script, no library, readable with the numbers
written beside every bar (seed 003's statistics, "at a glance")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from commlog.store.stats import Day

#: Series of the daily chart: attribute of `Day`, legend label, CSS class (the colour).
DAILY_SERIES = (("sent", "Sent", "sent"), ("failed", "Failed", "failed"), ("retried", "Retried", "retried"))


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    css: str = "bar"


def bars(items: Sequence[Bar], title: str, width: int = 560) -> Markup:
    """Horizontal bars, one per item, longest first as given, each with its count at its end."""
    row, label_w, count_w = 26, 210, 64
    span = max(width - label_w - count_w, 40)
    top = max((item.value for item in items), default=0) or 1
    height = max(row * len(items), row)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for index, item in enumerate(items):
        y = index * row
        length = round(span * item.value / top) if item.value else 0
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" class="label">{escape(item.label)}</text>'
            f'<rect x="{label_w}" y="{y + 5}" width="{max(length, 1)}" height="16" rx="2" class="{escape(item.css)}"/>'
            f'<text x="{label_w + length + 6}" y="{y + 17}" class="value">{item.value:,}</text>'
        )
    if not items:
        parts.append('<text x="0" y="17" class="label">Nothing in this range</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def daily(days: Sequence[Day], title: str, width: int = 1000, height: int = 240) -> Markup:
    """Grouped columns per UTC day: sent, failed and retried attempts, the day's counts below them."""
    left, bottom, top_pad = 36, 34, 10
    plot_h = height - bottom - top_pad
    slot = (width - left) / max(len(days), 1)
    bar_w = max(min(slot / (len(DAILY_SERIES) + 1), 18), 1)
    peak = max((getattr(day, name) for day in days for name, _, _ in DAILY_SERIES), default=0) or 1
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width}" y2="{top_pad + plot_h}" class="axis"/>',
        f'<text x="{left - 4}" y="{top_pad + 8}" text-anchor="end" class="tick">{peak:,}</text>',
        f'<text x="{left - 4}" y="{top_pad + plot_h}" text-anchor="end" class="tick">0</text>',
    ]
    label_every = max(1, round(len(days) / 10))
    for index, day in enumerate(days):
        x0 = left + index * slot + (slot - bar_w * len(DAILY_SERIES)) / 2
        for offset, (name, label, css) in enumerate(DAILY_SERIES):
            value = getattr(day, name)
            h = plot_h * value / peak
            x = x0 + offset * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" class="{css}">'
                f"<title>{day.day.isoformat()}: {value:,} {label.lower()}</title></rect>"
            )
        if index % label_every == 0:
            cx = left + index * slot + slot / 2
            label = day.day.strftime("%d %b")
            parts.append(f'<text x="{cx:.1f}" y="{height - 16}" text-anchor="middle" class="tick">{label}</text>')
    legend_x = left
    for _, label, css in DAILY_SERIES:
        parts.append(
            f'<rect x="{legend_x}" y="{height - 10}" width="10" height="10" class="{css}"/>'
            f'<text x="{legend_x + 14}" y="{height - 1}" class="tick">{label}</text>'
        )
        legend_x += 80
    parts.append("</svg>")
    return Markup("".join(parts))
