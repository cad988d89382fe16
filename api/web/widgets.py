"""HTML forms from form definitions, and posted HTML form fields back into form data.

A page never decides what a form holds: the fields, labels, help, choices and required marks all come from
`forms/*.yaml`, and the engine validates what comes back exactly as it validates a JSON submission. This module
only translates between the two encodings (an HTML form posts flat strings; the engine takes typed JSON).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from engine import FieldSpec, FormSpec

#: Blank rows offered for a list of records (more on request, without JavaScript).
BLANK_ROWS = 1
MAX_ROWS = 50
_INDEXED = re.compile(r"^([a-z][a-z0-9_]*)\[(\d{1,2})\]\.([a-z][a-z0-9_]*)$")
_INT = re.compile(r"^[+-]?\d+$")
_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$")
_FLOAT = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def choice_label(value: str) -> str:
    """How a stored choice reads on a page: `prenatal_screening` → `prenatal screening`."""
    return value.replace("_", " ")


@dataclass
class Widget:
    """One input on a page: its HTML name (the engine's field path), what to show, and what was entered."""

    name: str
    spec: FieldSpec
    value: Any = None
    error: str | None = None
    rows: list[list[Widget]] = field(default_factory=list)
    options: list[tuple[str, str]] = field(default_factory=list)

    @property
    def dom_id(self) -> str:
        return "f-" + re.sub(r"[^a-zA-Z0-9_-]", "-", self.name)

    @property
    def described_by(self) -> str:
        parts = [f"{self.dom_id}-help"] if self.spec.help else []
        if self.error:
            parts.append(f"{self.dom_id}-error")
        return " ".join(parts)

    @property
    def checked(self) -> set[str]:
        return {str(v) for v in self.value} if isinstance(self.value, list) else {str(self.value or "")}


def widgets(
    form: FormSpec, values: Mapping[str, Any], errors: Mapping[str, str],
    organisations: Sequence[tuple[str, str, str]], min_rows: Mapping[str, int] | None = None, *,
    prefix: str = "", leave_out: frozenset[str] = frozenset(),
) -> list[Widget]:
    """The inputs of `form`, filled with `values` (as posted) and the `errors` by field path; a list of records
    shows its rows, a blank one to add another, and at least `min_rows[name]` rows. `organisations` are
    (id, name, kind): an organisation field offers only those of the kinds it accepts. With `prefix` (`birth.`),
    the inputs are named under it, as the engine names the errors of a second form in one submission; fields in
    `leave_out` are not asked for (the engine sets them)."""
    rows = min_rows or {}
    return [
        _widget(spec, f"{prefix}{spec.id}", values.get(spec.id), errors, organisations, rows)
        for spec in form.fields if spec.id not in leave_out
    ]


def _widget(
    spec: FieldSpec, name: str, value: Any, errors: Mapping[str, str], organisations: Sequence[tuple[str, str, str]],
    min_rows: Mapping[str, int],
) -> Widget:
    widget = Widget(name, spec, value, errors.get(name))
    if spec.type in ("choice", "multi_choice"):
        widget.options = [(c, choice_label(c)) for c in spec.choices or []]
    elif spec.type == "yes_no":
        widget.options = [("yes", "yes"), ("no", "no")]
    elif spec.type == "organisation":
        widget.options = [(org, org_name) for org, org_name, kind in organisations if kind in (spec.kinds or ())]
    elif spec.type == "records":
        rows = value if isinstance(value, list) else []
        usual = max(len(rows), spec.min_items or 0, 1) + BLANK_ROWS
        count = min(MAX_ROWS, max(usual, min_rows.get(name, 0)))
        for index in range(count):
            row = rows[index] if index < len(rows) and isinstance(rows[index], dict) else {}
            widget.rows.append([
                _widget(sub, f"{name}[{index}].{sub.id}", row.get(sub.id), errors, organisations, min_rows)
                for sub in spec.fields or []
            ])
    return widget


def posted_values(form: FormSpec, posted: Sequence[tuple[str, str]], prefix: str = "") -> dict[str, Any]:
    """The posted fields of `form` as they were typed (strings and lists of strings), records grouped into rows;
    with `prefix`, only the fields named under it."""
    single: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    rows: dict[str, dict[int, dict[str, Any]]] = {}
    for name, raw in posted:
        if not name.startswith(prefix):
            continue
        key = name[len(prefix):]
        value = raw.strip()
        found = _INDEXED.match(key)
        if found:
            parent, index, sub = found.group(1), int(found.group(2)), found.group(3)
            cell = rows.setdefault(parent, {}).setdefault(index, {})
            spec = _sub_spec(form, parent, sub)
            if spec is not None and _is_list(spec):
                cell.setdefault(sub, []).append(value)
            elif spec is not None:
                cell[sub] = value
            continue
        spec = form.field(key)
        if spec is None:
            continue
        if _is_list(spec):
            lists.setdefault(key, []).append(value)
        else:
            single[key] = value
    values: dict[str, Any] = {**single, **lists}
    for parent, by_index in rows.items():
        # Blank rows are dropped here, so the rows shown again line up with the engine's error paths.
        values[parent] = [by_index[i] for i in sorted(by_index) if _filled(by_index[i])]
    return values


def posted_row_counts(posted: Sequence[tuple[str, str]]) -> dict[str, int]:
    """How many rows of each list of records the posted form showed (its highest row index, plus one)."""
    counts: dict[str, int] = {}
    for key, _ in posted:
        found = _INDEXED.match(key)
        if found:
            counts[found.group(1)] = max(counts.get(found.group(1), 0), int(found.group(2)) + 1)
    return counts


def form_data(form: FormSpec, values: Mapping[str, Any], timezone: tzinfo) -> dict[str, Any]:
    """Typed form data for the engine from posted values: blanks left out (so a missing required field is named),
    numbers parsed, a local date and time given the jurisdiction's offset, empty rows of records dropped.
    Anything that does not parse is passed on as typed, for the engine to name the field and say why."""
    return _typed(form.fields, values, timezone)


def _typed(fields: Sequence[FieldSpec], values: Mapping[str, Any], timezone: tzinfo) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for spec in fields:
        raw = values.get(spec.id)
        if spec.type == "records":
            rows = [r for r in raw if isinstance(r, dict) and _filled(r)] if isinstance(raw, list) else []
            chosen: list[Any] = [_typed(spec.fields or [], r, timezone) for r in rows]
        elif _is_list(spec):
            chosen = [v for v in raw if v] if isinstance(raw, list) else []
        else:
            chosen = []
        if spec.type == "records" or _is_list(spec):
            # Nothing entered: an optional list is left out, a required one is named by the engine, unless an
            # empty list is allowed (min_items: 0).
            if chosen or (spec.required and spec.min_items == 0):
                data[spec.id] = chosen
            continue
        if not isinstance(raw, str) or raw == "":
            continue
        data[spec.id] = _scalar(spec, raw, timezone)
    return data


def _scalar(spec: FieldSpec, raw: str, timezone: tzinfo) -> Any:
    if spec.type == "number":
        number = raw.replace(",", "") if _GROUPED.match(raw) else raw  # "3,200" as typed in the United States
        if len(number) > 30:  # no field takes a number this long; the engine names the field
            return raw
        if _INT.match(number):
            return int(number)
        if _FLOAT.match(number) and not spec.integer:
            return float(number)
        return raw
    if spec.type == "datetime":
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            return raw
        if moment.tzinfo is None:  # a browser's datetime-local: the jurisdiction's wall-clock time
            moment = moment.replace(tzinfo=timezone)
        return moment.isoformat()
    return raw


def local_input(value: Any, timezone: tzinfo) -> str:
    """A stored ISO date and time as a `datetime-local` input shows it, in the jurisdiction's time."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not None:
            moment = moment.astimezone(timezone)
    except (ValueError, OverflowError):  # not a time, or none in the jurisdiction (0001-01-01T00:00:00+14:00)
        return value
    return moment.strftime("%Y-%m-%dT%H:%M")


def errors_by_field(errors: Sequence[Any]) -> dict[str, str]:
    """`InvalidForm.errors` keyed by field path (the first message of each)."""
    found: dict[str, str] = {}
    for error in errors:
        found.setdefault(error.field, error.message)
    return found


def _filled(row: Mapping[str, Any]) -> bool:
    return any(v not in ("", None, []) for v in row.values())


def _is_list(spec: FieldSpec) -> bool:
    return spec.type == "multi_choice" or (spec.type == "organisation" and spec.many)


def _sub_spec(form: FormSpec, parent: str, sub: str) -> FieldSpec | None:
    spec = form.field(parent)
    if spec is None or spec.type != "records":
        return None
    return next((f for f in spec.fields or [] if f.id == sub), None)
