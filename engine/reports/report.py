"""The outcome report for a period: its cohorts counted from the event log, protected, and laid out for the API, the
figures page and the exports (JSON, and CSV rows)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from engine.access_log import access_row, record_in
from engine.actor import Actor
from engine.definitions.catalogue import Catalogue
from engine.errors import FieldError, Forbidden, InvalidForm
from engine.reports.columns import Columns, columns_of
from engine.reports.courses import Course, Progress
from engine.reports.figures import SECTIONS, Figure, Section, median
from engine.reports.reading import read_columns
from engine.reports.suppression import SMALL_CELL, SUPPRESSED, SUPPRESSION, AtLeast, Protection, Relations, protect
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
    """Counts every figure over the courses (the cohorts in `window`, and their breakdowns), with what a reader
    knows ties the counts together."""
    return tabulate_columns(columns_of(courses, now), window)


def tabulate_columns(groups: Sequence[Columns], window: Period) -> Tabulation:
    """`tabulate`, from courses already read as columns (one `Columns` per workflow version)."""
    counted: Counter[tuple[str, str, str, str]] = Counter()  # (section, figure, breakdown, key)
    medians: dict[tuple[str, str], list[float]] = {}
    offices: dict[str, set[str]] = {s.id: set() for s in SECTIONS}
    first, last = float(window.start.toordinal()), float(window.end.toordinal())
    for everyone in groups:
        for section in SECTIONS:
            day = section.date(everyone)
            inside = (day >= first) & (day <= last)
            members = everyone.take(np.flatnonzero(inside))
            if not members.size:
                continue
            office = members.lead_office
            month = members.months(day[inside])
            offices[section.id].update(office.tolist())
            for figure in section.figures:
                if figure.test is not None:
                    hit = np.asarray(figure.test(members), np.bool_)
                    counted[(section.id, figure.id, "period", "")] += int(hit.sum())
                    if figure.breakdown:
                        for breakdown, keys in (("month", month), ("office", office)):
                            for key, count in Counter(keys[hit].tolist()).items():
                                counted[(section.id, figure.id, breakdown, key)] += count
                elif figure.value is not None:
                    measured = np.asarray(figure.value(members), np.float64)
                    present = measured[~np.isnan(measured)]
                    if len(present):
                        medians.setdefault((section.id, figure.id), []).extend(present.tolist())
    listed = {s: sorted(o) for s, o in offices.items()}
    cells = [
        Cell(section.id, figure.id, breakdown, key)
        for section in SECTIONS for figure in section.figures if figure.test is not None
        for breakdown, key in _slices(figure, window, listed[section.id])
    ]
    values = [counted[(c.section, c.figure, c.breakdown, c.key)] for c in cells]
    relations, hidden = _relations(cells, values, window, listed, medians)
    return Tabulation(cells, values, relations, hidden, medians, listed)


def _slices(figure: Figure, window: Period, offices: Sequence[str]) -> list[tuple[str, str]]:
    slices = [("period", "")]
    if figure.breakdown:
        slices += [("month", m) for m in window.months] + [("office", o) for o in offices]
    return slices


def _relations(
    cells: list[Cell], values: list[int], window: Period, offices: dict[str, list[str]],
    medians: dict[tuple[str, str], list[float]],
) -> tuple[Relations, frozenset[int]]:
    """What a reader knows ties the cells together, for every slice both sides are published in: the sums the
    definitions declare; each inclusion (a count and what it is a share of, `within`, a counterpart), as a sum with a
    hidden cell, the difference, added to `cells` and `values`; and what each median says about its bins. Anything
    that does not hold on these counts (a stored date out of order) is left out: a reader relying on it would be
    wrong, and learn nothing."""
    index = {cell: i for i, cell in enumerate(cells)}
    sums: list[tuple[int, list[int]]] = []
    differences: dict[tuple[int, int], int] = {}

    def add_sum(total: Cell, parts: Sequence[Cell]) -> None:
        if total in index and all(p in index for p in parts):
            sums.append((index[total], [index[p] for p in parts]))

    def difference(inside: int | None, outside: int | None) -> int | None:
        """The hidden cell `outside` minus `inside` (outside = inside + it), made once; None if it cannot be."""
        if inside is None or outside is None or values[inside] > values[outside]:
            return None
        if (inside, outside) not in differences:
            inner, outer = cells[inside], cells[outside]
            differences[(inside, outside)] = len(cells)
            cells.append(Cell(outer.section, f"{outer.figure} but not {inner.section}.{inner.figure}",
                              inner.breakdown, inner.key))
            values.append(values[outside] - values[inside])
            sums.append((outside, [inside, len(cells) - 1]))
        return differences[(inside, outside)]

    def slices_of(section: str) -> list[tuple[str, str]]:
        return [("period", ""), *(("month", m) for m in window.months), *(("office", o) for o in offices[section])]

    def at(name: str, section: str, breakdown: str, key: str) -> int | None:
        other_section, _, other_id = name.rpartition(".")
        return index.get(Cell(other_section or section, other_id, breakdown, key))

    sections = {s.id: s for s in SECTIONS}
    for section in SECTIONS:
        for figure in section.figures:
            if figure.test is None:
                continue
            whole = Cell(section.id, figure.id, "period", "")
            if figure.breakdown:
                add_sum(whole, [Cell(section.id, figure.id, "month", m) for m in window.months])
                add_sum(whole, [Cell(section.id, figure.id, "office", o) for o in offices[section.id]])
            for breakdown, key in slices_of(section.id):
                this = index.get(Cell(section.id, figure.id, breakdown, key))
                for other in (*((figure.of,) if figure.of else ()), *figure.within):
                    difference(this, at(other, section.id, breakdown, key))
                if figure.counterpart:
                    other_section, _, other_id = figure.counterpart.rpartition(".")
                    counterpart = at(figure.counterpart, section.id, breakdown, key)
                    difference(this, counterpart)
                    wider = next(f for f in sections[other_section].figures if f.id == other_id)
                    if figure.of and wider.of:  # what this leaves of its whole is within what the counterpart leaves
                        left = difference(this, at(figure.of, section.id, breakdown, key))
                        left_wider = difference(counterpart, at(f"{other_section}.{wider.of}", section.id, breakdown,
                                                                key))
                        difference(left, left_wider)
        for total, parts in section.sums:
            for breakdown, key in slices_of(section.id):
                add_sum(Cell(section.id, total, breakdown, key), [Cell(section.id, p, breakdown, key) for p in parts])
    bounds = [bound for section in SECTIONS for figure in section.figures if figure.bins
              for bound in _median_bounds(section.id, figure, medians.get((section.id, figure.id), []), index)]
    return Relations(
        [(t, p) for t, p in sums if values[t] == sum(values[i] for i in p)],
        [b for b in bounds if sum(c * values[i] for i, c in b.terms.items()) >= b.least],
    ), frozenset(differences.values())


def _median_bounds(section: str, figure: Figure, values: list[float], index: dict[Cell, int]) -> list[AtLeast]:
    """What a published (lower) median m over N says about its bins: at least half the values are at most m, and
    more than half at least m (2 x the bins that can hold values up to m >= N; 2 x those from m up >= N + 1). Only
    if the median is published, that is, when its count N is (the `guard`)."""
    over = index.get(Cell(section, figure.of or "", "period", ""))
    if not values or over is None or len(values) < SMALL_CELL:
        return []
    middle, total = median(values), len(values)
    named = {name: index.get(Cell(section, name, "period", "")) for name, _, _ in figure.bins if name is not None}
    if any(i is None for i in named.values()):
        return []
    bounds = []
    for side, extra in (("low", 0), ("high", 1)):
        terms: dict[int, float] = {}
        constant = 0.0
        for name, low, high in figure.bins:
            holds = (low is None or low <= middle) if side == "low" else (high is None or high >= middle)
            if not holds:
                continue
            if name is None:  # the rest: N minus the named bins
                constant += 2 * total
                for i in named.values():
                    assert i is not None
                    terms[i] = terms.get(i, 0.0) - 2
            else:
                i = named[name]
                assert i is not None
                terms[i] = terms.get(i, 0.0) + 2
        bounds.append(AtLeast(over, terms, total + extra - constant))
    return bounds


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
    tabulation = tabulate_columns(read_columns(db, catalogue, earliest, after, now, progress), window)
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
                entry["value"] = _median(tabulation.medians.get((section.id, figure.id), []),
                                         shown(section.id, figure.of or "")[1] is not None)
            else:
                entry["value"], value = shown(section.id, figure.id)
                if figure.of is not None:
                    entry["share"] = _share(value, shown(section.id, figure.of))
                if figure.breakdown:
                    entry["by_month"] = [
                        {"month": m, "value": shown(section.id, figure.id, "month", m)[0]} for m in window.months
                    ]
                    entry["by_office"] = [
                        {"office": o or None, "name": names.get(o, o) if o else "no lead office recorded",
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


def _median(values: list[float], count_shown: bool) -> float | str | None:
    """A median is published only beside its count (so a suppressed median says no more than the count's own
    "<5" or "suppressed"): never over 1 to 4 cases, which would be one of them."""
    if not values:
        return None
    if not count_shown or len(values) < SMALL_CELL:
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
