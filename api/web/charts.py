"""Charts for the figures page, drawn on the server as SVG: no script, no build step, nothing fetched from elsewhere.

Presentation only: every number drawn is one the engine published (and protected) in the report. A suppressed value
is drawn as no bar, labelled "<5" or "suppressed"; each chart has a text table beside it (the template) for screen
readers and anyone who prefers numbers, and the SVG itself is `role="img"` with a title and a description.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from engine import LESS_THAN, SMALL_CELL

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 16, 56
#: Series colours (dark enough for text contrast on white; distinguished by pattern position and legend too).
COLOURS = ("#1d4f91", "#00622f", "#6b4400", "#a4000f")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def chart(spec: Mapping[str, Any], figures: Mapping[str, Mapping[str, Any]], key: str) -> Markup:
    """The SVG for one of a section's charts (`spec` from the report), its figures by id; `key` makes ids unique."""
    drawing = {"bars": _bars, "months": _months, "curve": _curve}[spec["kind"]]
    body, description = drawing(spec, figures)
    title_id, desc_id = f"chart-{key}-title", f"chart-{key}-desc"
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{title_id} {desc_id}" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{title_id}">{escape(spec["title"])}</title><desc id="{desc_id}">{escape(description)}</desc>'
        f'{body}</svg>'
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _axis(top: float, *, percent: bool = False) -> str:
    """The value axis from 0 to `top`, with gridlines at quarters (as percentages of 1 with `percent`)."""
    lines = []
    for step in range(5):
        value = top * step / 4
        y = _y(value, top)
        tick = f"{value:.0%}" if percent else _tick(value)
        lines.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    return "".join(lines)


def _tick(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def _y(value: float, top: float) -> float:
    return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * (value / top if top else 0)


def _scale(values: Sequence[float | None]) -> float:
    """A round top for the axis above the largest value."""
    largest = max((v for v in values if v is not None), default=0.0)
    if largest <= 0:
        return 4.0
    for top in (4, 8, 10, 20, 40, 50, 100, 200, 400, 500, 1000):
        if largest <= top:
            return float(top)
    return float(10 ** len(str(int(largest))))


def _bar(x: float, width: float, value: Any, top: float, colour: str, label: str, *, text: bool = True) -> str:
    """A bar for a published count; a "<5" is a dashed outline up to 4 (all a reader may know), a suppressed count
    or a 0 only a label (`text`: also the number above the bar)."""
    number = _number(value)
    tip = f"<title>{escape(label)}: {escape(str(value))}</title>"
    if value == LESS_THAN:
        y = _y(min(SMALL_CELL - 1, top), top)
        outline = (f'<rect class="small" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
                   f'height="{HEIGHT - BOTTOM - y:.1f}" stroke="{colour}">{tip}</rect>')
        return outline + (_label(x + width / 2, y - 4, str(value)) if text else "")
    if number is None or number == 0:
        shown = "0" if number == 0 else str(value)
        return _label(x + width / 2, HEIGHT - BOTTOM - 6, shown, hidden=True) if text else ""
    y = _y(number, top)
    bar = (f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{HEIGHT - BOTTOM - y:.1f}" '
           f'fill="{colour}">{tip}</rect>')
    return bar + (_label(x + width / 2, y - 4, str(value)) if text else "")


def _label(x: float, y: float, text: str, *, hidden: bool = False) -> str:
    css = "hidden-value" if hidden else "value"
    return f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" text-anchor="middle">{escape(text)}</text>'


def _bars(spec: Mapping[str, Any], figures: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    ids = spec["figures"]
    values = [figures[i]["value"] for i in ids]
    top = _scale([_number(v) for v in values])
    slot = (WIDTH - LEFT - RIGHT) / len(ids)
    parts = [_axis(top)]
    marks = {m["after"]: m["label"] for m in spec.get("marks", [])}
    for n, (figure_id, value) in enumerate(zip(ids, values, strict=True)):
        x = LEFT + n * slot
        label = figures[figure_id]["label"]
        parts.append(_bar(x + slot * 0.15, slot * 0.7, value, top, COLOURS[0], label))
        parts.append(_wrapped(_short(label), x + slot / 2, HEIGHT - BOTTOM + 16))
        if figure_id in marks:
            mx = x + slot
            parts.append(f'<line class="mark" x1="{mx:.1f}" x2="{mx:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>'
                         f'<text class="mark-label" x="{mx - 4:.1f}" y="{TOP + 10}" text-anchor="end">'
                         f'{escape(marks[figure_id])}</text>')
    description = "; ".join(f"{figures[i]['label']}: {v}" for i, v in zip(ids, values, strict=True))
    return "".join(parts), description


def _months(spec: Mapping[str, Any], figures: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    ids = spec["figures"]
    months = [m["month"] for m in figures[ids[0]].get("by_month", [])]
    series = {i: {m["month"]: m["value"] for m in figures[i].get("by_month", [])} for i in ids}
    top = _scale([_number(series[i].get(m)) for i in ids for m in months])
    slot = (WIDTH - LEFT - RIGHT) / max(len(months), 1)
    width = slot * 0.8 / len(ids)
    parts = [_axis(top)]
    for n, month in enumerate(months):
        x = LEFT + n * slot + slot * 0.1
        for s, figure_id in enumerate(ids):  # numbers are in the table beside: none above these narrow bars
            parts.append(_bar(x + s * width, width, series[figure_id].get(month), top, COLOURS[s % len(COLOURS)],
                              f"{figures[figure_id]['label']}, {month}", text=False))
        year, number = month.split("-")
        centre = LEFT + n * slot + slot / 2
        first = n == 0 or number == "01"
        parts.append(f'<text class="tick" x="{centre:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                     f'{MONTHS[int(number) - 1]}' + (f'<tspan x="{centre:.1f}" dy="14">{year}</tspan>' if first else "")
                     + "</text>")
    description = "; ".join(
        f"{month}: " + ", ".join(f"{figures[i]['label']} {series[i].get(month)}" for i in ids) for month in months
    )
    return "".join(parts), description


def _curve(spec: Mapping[str, Any], figures: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """Shares from 0 to 100%, one point per figure (its last number is the day: `retained_30`), joined by a line;
    a share that is suppressed or not known yet breaks the line and is labelled."""
    ids = spec["figures"]
    days = [int(i.rsplit("_", 1)[-1]) for i in ids]
    span = max(days) if days else 1
    x_of = {d: LEFT + (WIDTH - LEFT - RIGHT) * d / span for d in [0, *days]}
    parts = [_axis(1.0, percent=True)]
    points: list[tuple[float, float]] = [(x_of[0], _y(1.0, 1.0))]
    segments: list[list[tuple[float, float]]] = [points]
    notes = ["day 0: 100%"]
    for figure_id, day in zip(ids, days, strict=True):
        share = figures[figure_id].get("share")
        x = x_of[day]
        parts.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">day {day}'
                     f'</text>')
        if isinstance(share, int | float):
            point = (x, _y(float(share), 1.0))
            segments[-1].append(point)
            parts.append(f'<circle cx="{point[0]:.1f}" cy="{point[1]:.1f}" r="4" fill="{COLOURS[0]}"/>'
                         f'<text class="value" x="{point[0]:.1f}" y="{point[1] - 8:.1f}" text-anchor="middle">'
                         f'{share:.0%}</text>')
            notes.append(f"day {day}: {share:.0%}")
        else:
            shown = "not known yet" if share is None else str(share)
            segments.append([])
            parts.append(f'<text class="hidden-value" x="{x:.1f}" y="{HEIGHT - BOTTOM - 6}" text-anchor="middle">'
                         f'{escape(shown)}</text>')
            notes.append(f"day {day}: {shown}")
    for segment in segments:
        if len(segment) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in segment)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{COLOURS[0]}" stroke-width="2"/>')
    return "".join(parts), "; ".join(notes)


def legend(spec: Mapping[str, Any], figures: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The colour and label of each series of a `months` chart (the page lists them under the chart)."""
    return [(COLOURS[n % len(COLOURS)], figures[i]["label"]) for n, i in enumerate(spec["figures"])]


def _short(label: str) -> str:
    """A label short enough to sit under a bar."""
    for prefix in ("Admitted after ", "Meeting ", "Admitted "):
        if label.startswith(prefix):
            return label.removeprefix(prefix)
    return label


def _wrapped(text: str, x: float, y: float) -> str:
    """Text centred at x, broken into two lines if long."""
    words = text.split()
    if len(text) <= 16 or len(words) < 2:
        return f'<text class="tick" x="{x:.1f}" y="{y}" text-anchor="middle">{escape(text)}</text>'
    half = len(words) // 2
    first, second = " ".join(words[:half]), " ".join(words[half:])
    return (f'<text class="tick" x="{x:.1f}" y="{y}" text-anchor="middle">{escape(first)}'
            f'<tspan x="{x:.1f}" dy="14">{escape(second)}</tspan></text>')
