"""The outcome report for a period: its cohorts counted from the event log, protected, and laid out for the API, the
figures page and the exports (JSON, and CSV rows)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from engine.access_log import access_row, record_in
from engine.actor import Actor
from engine.definitions.catalogue import Catalogue
from engine.errors import FieldError, Forbidden, InvalidForm
from engine.reports.courses import Course, Progress, read_courses
from engine.reports.figures import SECTIONS, Context, Figure, Section, median
from engine.reports.suppression import SMALL_CELL, SUPPRESSED, SUPPRESSION, Protection, Relations, protect
from engine.store.database import Database
from engine.store.tables import Organisation

ORGANISATIONS = Organisation.__table__  # type: ignore[attr-defined]
#: How a breakdown names cases with no lead CPS office recorded.
NO_OFFICE = ""
PERIOD_RULE = (
    "must be a whole month, a calendar quarter (starting in January, April, July or October) or a year "
    "(starting in January, or in October for a federal fiscal year)"
)
CSV_COLUMNS = ("section", "figure", "label", "breakdown", "key", "value", "share", "unit", "definition")


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    kind: str

    @property
    def months(self) -> list[str]:
        months, day = [], self.start
        while day <= self.end:
            months.append(f"{day.year:04d}-{day.month:02d}")
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        return months


def period(start: date, end: date) -> Period:
    """The period `start`..`end` (inclusive) if it is a whole month, quarter or year; `InvalidForm` naming the field
    otherwise. Whole periods only: two reports that differ by a day or a week would give away the cases between."""
    errors = []
    if start.day != 1:
        errors.append(FieldError("from", "must be the first day of a month"))
    if (end + timedelta(days=1)).day != 1:
        errors.append(FieldError("to", "must be the last day of a month"))
    if errors:
        raise InvalidForm("report", errors)
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    kinds = {1: ("month", range(1, 13)), 3: ("quarter", (1, 4, 7, 10)), 12: ("year", (1, 10))}
    kind, starts = kinds.get(months, ("", ()))
    if start.month not in starts:
        raise InvalidForm("report", [FieldError("to", PERIOD_RULE)])
    return Period(start, end, kind)


@dataclass(frozen=True)
class Cell:
    section: str
    figure: str
    breakdown: str  # "period", "month" or "office"
    key: str


@dataclass
class Tabulation:
    """The report's counts before protection, and the relations between them that any reader knows. Kept apart
    from the published report so that tests can audit the protection against the truth."""

    cells: list[Cell]
    values: list[int]
    relations: Relations
    #: Cells never published: the differences a reader can take (a count's complement in the count it is part of).
    hidden: frozenset[int]
    medians: dict[tuple[str, str], list[float]]
    offices: dict[str, list[str]]


def tabulate(courses: Sequence[Course], window: Period, now: datetime) -> Tabulation:
    context = Context(now)
    counted: Counter[tuple[str, str, str, str]] = Counter()  # (section, figure, breakdown, key)
    medians: dict[tuple[str, str], list[float]] = {}
    offices: dict[str, set[str]] = {s.id: set() for s in SECTIONS}
    plans = [
        (section, [(f.id, f.test, f.breakdown) for f in section.figures if f.test is not None],
         [(f.id, f.value) for f in section.figures if f.value is not None])
        for section in SECTIONS
    ]
    start, end = window.start, window.end
    for course in courses:
        for section, counts, median_rules in plans:
            day = section.date(course)
            if day is None or not start <= day <= end:
                continue
            month, office = f"{day.year:04d}-{day.month:02d}", course.lead_office or NO_OFFICE
            offices[section.id].add(office)
            for figure_id, test, breakdown in counts:
                if test(course, context):
                    counted[(section.id, figure_id, "period", "")] += 1
                    if breakdown:
                        counted[(section.id, figure_id, "month", month)] += 1
                        counted[(section.id, figure_id, "office", office)] += 1
            for figure_id, value_of in median_rules:
                value = value_of(course, context)
                if value is not None:
                    medians.setdefault((section.id, figure_id), []).append(value)
    listed = {s: sorted(o) for s, o in offices.items()}
    cells = [
        Cell(section.id, figure.id, breakdown, key)
        for section in SECTIONS for figure in section.figures if figure.test is not None
        for breakdown, key in _slices(figure, window, listed[section.id])
    ]
    values = [counted[(c.section, c.figure, c.breakdown, c.key)] for c in cells]
    relations, hidden = _relations(cells, values, window, listed)
    return Tabulation(cells, values, relations, hidden, medians, listed)


def _slices(figure: Figure, window: Period, offices: Sequence[str]) -> list[tuple[str, str]]:
    slices = [("period", "")]
    if figure.breakdown:
        slices += [("month", m) for m in window.months] + [("office", o) for o in offices]
    return slices


def _relations(
    cells: list[Cell], values: list[int], window: Period, offices: dict[str, list[str]],
) -> tuple[Relations, frozenset[int]]:
    """The sums and inclusions the definitions declare, for every slice both sides are published in; any that does
    not hold on these counts (a stored date out of order) is left out: a reader relying on it would be wrong. Each
    inclusion adds a hidden cell, the difference, to `cells` and `values`: whole = part + difference."""
    index = {cell: i for i, cell in enumerate(cells)}
    sums: list[tuple[int, list[int]]] = []
    within: list[tuple[int, int]] = []

    def add_sum(total: Cell, parts: Sequence[Cell]) -> None:
        if total in index and all(p in index for p in parts):
            sums.append((index[total], [index[p] for p in parts]))

    def slices_of(section: str) -> list[tuple[str, str]]:
        return [("period", ""), *(("month", m) for m in window.months), *(("office", o) for o in offices[section])]

    for section in SECTIONS:
        for figure in section.figures:
            if figure.test is None:
                continue
            whole = Cell(section.id, figure.id, "period", "")
            if figure.breakdown:
                add_sum(whole, [Cell(section.id, figure.id, "month", m) for m in window.months])
                add_sum(whole, [Cell(section.id, figure.id, "office", o) for o in offices[section.id]])
            for other in (*((figure.of,) if figure.of else ()), *figure.within):
                other_section, _, other_id = other.rpartition(".")
                other_section = other_section or section.id
                for breakdown, key in slices_of(section.id):
                    part, container = Cell(section.id, figure.id, breakdown, key), Cell(other_section, other_id,
                                                                                         breakdown, key)
                    if part in index and container in index:
                        within.append((index[part], index[container]))
        for total, parts in section.sums:
            for breakdown, key in slices_of(section.id):
                add_sum(Cell(section.id, total, breakdown, key), [Cell(section.id, p, breakdown, key) for p in parts])
    hidden: list[int] = []
    for inside, outside in within:
        if values[inside] <= values[outside]:
            inner, outer = cells[inside], cells[outside]
            hidden.append(len(cells))
            cells.append(Cell(outer.section, f"{outer.figure} but not {inner.section}.{inner.figure}", inner.breakdown,
                              inner.key))
            values.append(values[outside] - values[inside])
            sums.append((outside, [inside, hidden[-1]]))
    return Relations([(t, p) for t, p in sums if values[t] == sum(values[i] for i in p)]), frozenset(hidden)


def check_may_read_figures(catalogue: Catalogue, actor: Actor) -> None:
    """`Forbidden` unless the actor's role is one of the workflows' figure roles (analysts, CPS, administrators)."""
    if actor.role not in catalogue.figure_roles:
        raise Forbidden(f"the {actor.role} role may not read outcome reports")


def figures_for(
    db: Database, catalogue: Catalogue, actor: Actor, start: date, end: date, now: datetime,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The outcome report as `actor` may read it, its run recorded in the access log (with no case) before it is
    returned: the command line's way in (the API's goes through `CaseQueries.capta_report`)."""
    check_may_read_figures(catalogue, actor)
    report = outcome_report(db, catalogue, start, end, now, progress)
    with db.write() as conn:
        record_in(conn, [access_row(actor, None, "report", set(), now)])
    return report


def outcome_report(
    db: Database, catalogue: Catalogue, start: date, end: date, now: datetime, progress: Progress | None = None,
) -> dict[str, Any]:
    """The outcome figures for a whole month, quarter or year, JSON-ready, de-identified and protected."""
    window = period(start, end)
    tabulation, protection = protected_tabulation(db, catalogue, window, now, progress)
    return publish(tabulation, protection, window, _office_names(db, tabulation), now)


def protected_tabulation(
    db: Database, catalogue: Catalogue, window: Period, now: datetime, progress: Progress | None = None,
) -> tuple[Tabulation, Protection]:
    workflows = list(catalogue.workflows.values())
    earliest = min((w.start_of_day(window.start) for w in workflows), default=now)
    after = max((w.start_of_day(window.end + timedelta(days=1)) for w in workflows), default=now)
    courses = read_courses(db, catalogue, earliest, after, progress)
    tabulation = tabulate(courses, window, now)
    return tabulation, protect(tabulation.values, tabulation.relations, tabulation.hidden)


def publish(
    tabulation: Tabulation, protection: Protection, window: Period, names: dict[str, str], now: datetime,
) -> dict[str, Any]:
    index = {cell: i for i, cell in enumerate(tabulation.cells)}

    def shown(section: str, figure: str, breakdown: str = "period", key: str = "") -> tuple[int | str, int | None]:
        """What is published for a cell, and its value when it is published as a number."""
        i = index[Cell(section, figure, breakdown, key)]
        value = tabulation.values[i]
        return protection.display(i, value), value if protection.shown(i) else None

    sections = []
    for section in SECTIONS:
        figures = []
        for figure in section.figures:
            entry: dict[str, Any] = {"id": figure.id, "label": figure.label, "definition": figure.definition,
                                     "kind": figure.kind, "of": figure.of}
            if figure.test is None:
                entry["unit"] = figure.unit
                entry["value"] = _median(tabulation.medians.get((section.id, figure.id), []))
            else:
                entry["value"], value = shown(section.id, figure.id)
                if figure.of is not None:
                    entry["share"] = _share(value, shown(section.id, figure.of))
                if figure.breakdown:
                    entry["by_month"] = [
                        {"month": m, "value": shown(section.id, figure.id, "month", m)[0]} for m in window.months
                    ]
                    entry["by_office"] = [
                        {"office": o or None, "name": names.get(o, "no lead office recorded"),
                         "value": shown(section.id, figure.id, "office", o)[0]}
                        for o in tabulation.offices[section.id]
                    ]
            figures.append(entry)
        sections.append({
            "id": section.id, "title": section.title, "cohort": section.cohort, "figures": figures,
            "charts": [{"id": c.id, "title": c.title, "kind": c.kind, "figures": list(c.figures),
                        "marks": [{"after": a, "label": label} for a, label in c.marks]} for c in section.charts],
        })
    return {
        "period": {"from": window.start.isoformat(), "to": window.end.isoformat(), "kind": window.kind,
                   "months": window.months},
        "as_of": now.isoformat(timespec="seconds"),
        "suppression": SUPPRESSION,
        "sections": sections,
    }


def csv_rows(report: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The report as flat rows (`CSV_COLUMNS`): one per published number, breakdowns included."""
    for section in report["sections"]:
        for figure in section["figures"]:
            common = {"section": section["id"], "figure": figure["id"], "label": figure["label"],
                      "unit": figure.get("unit") or "", "definition": figure["definition"]}
            share = figure.get("share")
            yield {**common, "breakdown": "period", "key": "", "value": _cell(figure["value"]),
                   "share": _cell(share)}
            for month in figure.get("by_month", []):
                yield {**common, "breakdown": "month", "key": month["month"], "value": _cell(month["value"]),
                       "share": ""}
            for office in figure.get("by_office", []):
                yield {**common, "breakdown": "office", "key": office["name"], "value": _cell(office["value"]),
                       "share": ""}


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _share(value: int | None, of: tuple[int | str, int | None]) -> float | str | None:
    """A share is published only when both counts are: it would give either away."""
    denominator = of[1]
    if of[0] == 0:
        return None
    if value is None or denominator is None:
        return SUPPRESSED
    return round(value / denominator, 3)


def _median(values: list[float]) -> float | str | None:
    """A median over 1 to 4 cases is one of them (or halfway between two): suppressed."""
    if not values:
        return None
    if len(values) < SMALL_CELL:
        return SUPPRESSED
    return median(values)


def _office_names(db: Database, tabulation: Tabulation) -> dict[str, str]:
    ids = sorted({o for offices in tabulation.offices.values() for o in offices if o})
    if not ids:
        return {}
    with db.read() as conn:
        rows = conn.execute(select(ORGANISATIONS.c.id, ORGANISATIONS.c.name).where(ORGANISATIONS.c.id.in_(ids)))
        return {row.id: row.name for row in rows}


__all__ = [
    "CSV_COLUMNS", "Figure", "Period", "Section", "check_may_read_figures", "csv_rows", "figures_for",
    "outcome_report", "period", "publish",
]
