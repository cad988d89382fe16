"""How engine answers read on a page: labels for field ids and choices, local times, event titles.

Presentation only: what may be shown was decided by the engine (at the reader's tiers) before anything gets here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from api.web.widgets import choice_label
from engine import MISSED_EVENT, OPEN_EVENT, CompiledWorkflow, EventView, FieldSpec, FormSpec

#: Field types whose stored values are choices (shown with their label, not their id).
_CHOICES = ("choice", "multi_choice", "yes_no")


@dataclass(frozen=True)
class Shown:
    """One field as a page shows it: text, a list of texts, or a small table (records)."""

    label: str
    text: str = ""
    items: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def when(value: Any, zone: tzinfo) -> str:
    """A moment in the jurisdiction's local time: `Mon 23 Nov 2026, 08:30`."""
    moment = _moment(value)
    if moment is None:
        return str(value or "")
    try:
        return moment.astimezone(zone).strftime("%a %d %b %Y, %H:%M")
    except OverflowError:  # stored before forms refused it (0001-01-01T00:00:00+14:00): shown as stored
        return str(value)


def day(value: Any) -> str:
    """A calendar date: `Mon 23 Nov 2026`."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    return value.strftime("%a %d %b %Y") if isinstance(value, date) else str(value or "")


def relative(value: Any, now: datetime) -> str:
    """How far a moment is from now, in words: `in 3 days`, `2 hours ago`."""
    moment = _moment(value)
    if moment is None:
        return ""
    try:
        seconds = (moment - now).total_seconds()
    except (OverflowError, TypeError):  # outside the calendar in UTC, or without an offset: no distance to say
        return ""
    size = abs(seconds)
    if size < 3600:
        amount, unit = max(1, round(size / 60)), "minute"
    elif size < 2 * 86400:
        amount, unit = round(size / 3600), "hour"
    else:
        amount, unit = round(size / 86400), "day"
    words = f"{amount} {unit}{'' if amount == 1 else 's'}"
    return f"in {words}" if seconds >= 0 else f"{words} ago"


def state_label(state: str) -> str:
    return choice_label(state)


def event_title(workflow: CompiledWorkflow, action: str, data: Mapping[str, Any]) -> str:
    if action == OPEN_EVENT:
        return "Case opened"
    if action == MISSED_EVENT:
        deadline = workflow.deadlines.get(str(data.get("deadline", "")))
        return f"Deadline missed: {deadline.title if deadline else choice_label(str(data.get('deadline', '')))}"
    found = workflow.actions.get(action)
    return found.title if found else choice_label(action)


@dataclass(frozen=True)
class TimelineEntry:
    """One event of a case's history as the page shows it: the event (as the engine gave it) with its title and
    its fields labelled."""

    event: EventView
    title: str
    fields: list[Shown]
    withheld_labels: list[str]

    def __getattr__(self, name: str) -> Any:  # the event's own fields: occurred_at, actor_role, ...
        return getattr(self.event, name)


def timeline_entry(workflow: CompiledWorkflow, event: EventView) -> TimelineEntry:
    form = event_form(workflow, event.action)
    return TimelineEntry(
        event, event_title(workflow, event.action, event.data),
        shown_fields(form, event.data, workflow.timezone) if form else [], withheld_labels(form, event.withheld),
    )


def event_form(workflow: CompiledWorkflow, action: str) -> FormSpec | None:
    if action == OPEN_EVENT:
        return workflow.open.form.spec
    found = workflow.actions.get(action)
    return found.form.spec if found else None


def shown_fields(form: FormSpec | None, data: Mapping[str, Any], zone: tzinfo) -> list[Shown]:
    """The fields of `data` in the form's order, labelled; fields the form does not know are left out."""
    if form is None:
        return []
    return [_shown(spec, data[spec.id], zone) for spec in form.fields if spec.id in data]


def withheld_labels(form: FormSpec | None, names: list[str]) -> list[str]:
    if form is None:
        return []
    return [(form.field(n).label if form.field(n) else choice_label(n)) for n in names]  # type: ignore[union-attr]


def _shown(spec: FieldSpec, value: Any, zone: tzinfo) -> Shown:
    if spec.type == "records" and isinstance(value, list):
        subs = spec.fields or []
        return Shown(
            spec.label, columns=tuple(s.label for s in subs),
            rows=tuple(tuple(_text(s, row.get(s.id), zone) for s in subs) for row in value if isinstance(row, dict)),
        )
    if isinstance(value, list):
        return Shown(spec.label, items=tuple(_text(spec, v, zone) for v in value))
    return Shown(spec.label, text=_text(spec, value, zone))


def _text(spec: FieldSpec, value: Any, zone: tzinfo) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(spec, v, zone) for v in value)
    if spec.type in _CHOICES:
        return choice_label(str(value))
    if spec.type == "date":
        return day(value)
    if spec.type == "datetime":
        return when(value, zone)
    return str(value)


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None
