"""Courses as columns: what the figures' rules read, one array entry per course, so that a rule counts a whole cohort
at once (a million cases in a second) instead of calling Python once per case and figure.

Days are day numbers (`date.toordinal()`) as floats, NaN where there is none: a comparison with NaN is false, so a
missing date never satisfies a rule, as `None` did not. Moments (times something happened) keep their UTC instant
in seconds and their day in the jurisdiction. Lists (admissions, stops...) are kept flat beside the index of the
course they belong to. A `Columns` is for the courses of one workflow (one time zone, one set of deadlines).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.definitions.compiled import CompiledWorkflow
from engine.definitions.workflow import Duration
from engine.reports.courses import Course

Days = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
Texts = npt.NDArray[np.object_]
NONE = float("nan")


def day_numbers(values: Sequence[date | None]) -> Days:
    return np.fromiter((NONE if v is None else v.toordinal() for v in values), np.float64, len(values))


def _per_day(days: Days, convert: Callable[[int], float]) -> Days:
    """`convert` applied to each distinct day number (NaN stays NaN): a report spans few distinct days."""
    out = np.full(days.shape, NONE)
    present = ~np.isnan(days)
    if present.any():
        unique, inverse = np.unique(days[present], return_inverse=True)
        out[present] = np.array([convert(int(d)) for d in unique], np.float64)[inverse]
    return out


@dataclass(frozen=True)
class Moments:
    """When something happened: its instant (UTC seconds) and its day in the jurisdiction."""

    epoch: Days
    day: Days

    def take(self, index: npt.NDArray[np.intp]) -> Moments:
        return Moments(self.epoch[index], self.day[index])


@dataclass(frozen=True)
class Ragged:
    """A list of days per course, flat: `owner[i]` is the course of `day[i]`."""

    owner: npt.NDArray[np.intp]
    day: Days
    size: int

    @classmethod
    def of(cls, lists: Sequence[Sequence[date]]) -> Ragged:
        owner = np.repeat(np.arange(len(lists), dtype=np.intp), [len(values) for values in lists])
        flat = np.fromiter((d.toordinal() for values in lists for d in values), np.float64, len(owner))
        return cls(owner, flat, len(lists))

    @classmethod
    def joined_all(cls, parts: Sequence[Ragged]) -> Ragged:
        """The lists of several sets of courses, one after the other."""
        offsets = np.cumsum([0, *(p.size for p in parts)])
        return cls(np.concatenate([p.owner + offset for p, offset in zip(parts, offsets, strict=False)]),
                   np.concatenate([p.day for p in parts]), int(offsets[-1]))

    def take(self, index: npt.NDArray[np.intp]) -> Ragged:
        where = np.full(self.size, -1, np.intp)
        where[index] = np.arange(len(index), dtype=np.intp)
        mapped = where[self.owner]
        kept = mapped >= 0
        return Ragged(mapped[kept], self.day[kept], len(index))

    def joined(self, other: Ragged) -> Ragged:
        return Ragged(np.concatenate([self.owner, other.owner]), np.concatenate([self.day, other.day]), self.size)

    def any(self) -> Mask:
        return np.bincount(self.owner, minlength=self.size) > 0

    def first(self, since: Days | None = None) -> Days:
        """Each course's earliest day (on or after `since`, per course, when given)."""
        chosen = np.ones(len(self.day), np.bool_) if since is None else self.day >= since[self.owner]
        out = np.full(self.size, np.inf)
        np.minimum.at(out, self.owner[chosen], self.day[chosen])
        out[np.isinf(out)] = NONE
        return out

    def last(self, until: Days) -> Days:
        """Each course's latest day on or before `until` (per course)."""
        chosen = self.day <= until[self.owner]
        out = np.full(self.size, -np.inf)
        np.maximum.at(out, self.owner[chosen], self.day[chosen])
        out[np.isinf(out)] = NONE
        return out

    def any_between(self, low: Days, high: Days) -> Mask:
        """Whether a course has a day from `low` to before `high` (per course)."""
        chosen = (self.day >= low[self.owner]) & (self.day < high[self.owner])
        return np.bincount(self.owner[chosen], minlength=self.size) > 0


#: Every column, by name: what `Columns.arrays` builds, and `Columns.joined` puts together.
NAMES = (
    "identified_on", "identification_entered", "identified_at_birth", "born_on", "born_at", "birth_entered",
    "born_to", "substance_affected", "notified_to", "notified_on", "meeting_on", "discharged_on", "discharged_to",
    "plan_by_discharge", "infant_referral", "caregiver_referral", "early_intervention_on", "first_admission",
    "admissions", "priority_referral_on", "interim_on", "stopped_on", "lead_office", "disengaged_at",
)


class Columns:
    """The courses of one workflow as arrays (built on first use), or a selection of another `Columns`' courses.
    Columns built elsewhere (another process reading part of the log) are put together with `joined`."""

    def __init__(self, workflow: CompiledWorkflow, courses: Sequence[Course], now: datetime,
                 parent: Columns | None = None, index: npt.NDArray[np.intp] | None = None) -> None:
        self.workflow = workflow
        self.courses = courses
        self.now = now
        self.size = len(courses) if index is None else len(index)
        self._parent = parent
        self._index = index
        self._cache: dict[str, Any] = {}

    def arrays(self) -> dict[str, Any]:
        """Every column, built: what another process sends back (arrays pickle fast; courses would not)."""
        return {name: getattr(self, name) for name in NAMES}

    @classmethod
    def joined(cls, workflow: CompiledWorkflow, parts: Sequence[dict[str, Any]], now: datetime) -> Columns:
        """One `Columns` of the courses of several `arrays()`, one after the other."""
        joined = cls(workflow, (), now)
        for name in NAMES:
            values = [part[name] for part in parts]
            if isinstance(values[0], Ragged):
                joined._cache[name] = Ragged.joined_all(values)
            elif isinstance(values[0], Moments):
                joined._cache[name] = Moments(np.concatenate([v.epoch for v in values]),
                                              np.concatenate([v.day for v in values]))
            else:
                joined._cache[name] = np.concatenate(values)
        joined.size = sum(len(part["born_on"]) for part in parts)
        return joined

    def take(self, index: npt.NDArray[np.intp]) -> Columns:
        """The courses at `index` (of this selection)."""
        if self._parent is not None and self._index is not None:
            return Columns(self.workflow, self.courses, self.now, self._parent, self._index[index])
        return Columns(self.workflow, self.courses, self.now, self, index)

    def _column(self, name: str, build: Callable[[], Any]) -> Any:
        if name not in self._cache:
            if self._parent is None or self._index is None:
                self._cache[name] = build()
            else:
                whole = getattr(self._parent, name)
                self._cache[name] = whole.take(self._index) if hasattr(whole, "take") else whole[self._index]
        return self._cache[name]

    def _days(self, name: str) -> Days:
        return self._column(name, lambda: day_numbers([getattr(c, name) for c in self.courses]))  # type: ignore[no-any-return]

    def _flags(self, name: str) -> Mask:
        return self._column(  # type: ignore[no-any-return]
            name, lambda: np.fromiter((bool(getattr(c, name)) for c in self.courses), np.bool_, len(self.courses)))

    def _texts(self, name: str) -> Texts:
        def build() -> Texts:
            out = np.empty(len(self.courses), np.object_)
            out[:] = [getattr(c, name) for c in self.courses]
            return out
        return self._column(name, build)  # type: ignore[no-any-return]

    def _lists(self, name: str) -> Ragged:
        return self._column(name, lambda: Ragged.of([getattr(c, name) for c in self.courses]))  # type: ignore[no-any-return]

    # --- what a course says, by column ---

    @property
    def identified_on(self) -> Days:
        return self._days("identified_on")

    @property
    def identification_entered(self) -> Days:
        return self._days("identification_entered")

    @property
    def identified_at_birth(self) -> Mask:
        return self._flags("identified_at_birth")

    @property
    def born_on(self) -> Days:
        return self._days("born_on")

    @property
    def born_at(self) -> Moments:
        def build() -> Moments:
            epoch = np.fromiter((NONE if c.born_at is None else c.born_at.timestamp() for c in self.courses),
                                np.float64, len(self.courses))
            return Moments(epoch, self.born_on)
        return self._column("born_at", build)  # type: ignore[no-any-return]

    @property
    def birth_entered(self) -> Days:
        return self._days("birth_entered")

    @property
    def born_to(self) -> Texts:
        return self._texts("born_to")

    @property
    def substance_affected(self) -> Mask:
        return self._flags("substance_affected")

    @property
    def notified_to(self) -> Texts:
        return self._texts("notified_to")

    @property
    def notified_on(self) -> Days:
        return self._days("notified_on")

    @property
    def meeting_on(self) -> Days:
        return self._days("meeting_on")

    @property
    def discharged_on(self) -> Days:
        return self._days("discharged_on")

    @property
    def discharged_to(self) -> Texts:
        return self._texts("discharged_to")

    @property
    def plan_by_discharge(self) -> Mask:
        return self._flags("plan_by_discharge")

    @property
    def infant_referral(self) -> Mask:
        return self._flags("infant_referral")

    @property
    def caregiver_referral(self) -> Mask:
        return self._flags("caregiver_referral")

    @property
    def early_intervention_on(self) -> Days:
        return self._days("early_intervention_on")

    @property
    def first_admission(self) -> Days:
        return self._days("first_admission")

    @property
    def admissions(self) -> Ragged:
        return self._lists("admissions")

    @property
    def priority_referral_on(self) -> Ragged:
        return self._lists("priority_referral_on")

    @property
    def interim_on(self) -> Ragged:
        return self._lists("interim_on")

    @property
    def stopped_on(self) -> Ragged:
        return self._lists("stopped_on")

    @property
    def lead_office(self) -> Texts:
        def build() -> Texts:
            out = np.empty(len(self.courses), np.object_)
            out[:] = [c.lead_office or "" for c in self.courses]
            return out
        return self._column("lead_office", build)  # type: ignore[no-any-return]

    @property
    def disengaged_at(self) -> Moments:
        """The first disengagement recorded."""
        def build() -> Moments:
            firsts = [c.disengaged_at[0] if c.disengaged_at else None for c in self.courses]
            epoch = np.fromiter((NONE if m is None else m.timestamp() for m in firsts), np.float64, len(firsts))
            days = day_numbers([None if m is None else self.workflow.today(m) for m in firsts])
            return Moments(epoch, days)
        return self._column("disengaged_at", build)  # type: ignore[no-any-return]

    # --- what the rules ask ---

    @cached_property
    def today(self) -> float:
        """The day the report is run, in the jurisdiction."""
        return float(self.workflow.today(self.now).toordinal())

    def in_treatment_on(self, day: Days) -> Mask:
        """Admitted on or before `day` and not stopped since the last admission. A stop is dated by the last day
        attended, so a parent who last attended on `day` was still in treatment that day."""
        last = self.admissions.last(day)
        return ~np.isnan(last) & ~self.stopped_on.any_between(last, day)

    def within(self, deadline: str, start: Days | Moments, done: Days, *, target: bool = False) -> Mask:
        """Whether `done` (a day) is within the workflow's `deadline` (its due time, or its target) counted from
        `start`, as the deadline itself is judged: a day counts from its start in the jurisdiction. From a day to a
        day, hours are whole days (72 hours is 3 days, whatever a change of clocks does to the hours between); from
        a moment, hours are elapsed time to the start of the day `done`, and days are calendar days."""
        spec = self.workflow.deadlines.get(deadline)
        if spec is None:
            return np.zeros(self.size, np.bool_)
        span = spec.target if target else spec.due
        if isinstance(start, Moments):
            if span.unit == "h":
                midnight = _per_day(done, lambda d: self.workflow.start_of_day(date.fromordinal(d)).timestamp())
                return midnight <= start.epoch + span.amount * 3600
            return done <= _shifted(self.workflow, start.day, span)
        if span.unit == "h":
            return (done - start) * 24 <= span.amount
        return done <= _shifted(self.workflow, start, span)

    def months(self, days: Days) -> Texts:
        """Each day's month, as `YYYY-MM`."""
        out = np.empty(len(days), np.object_)
        present = ~np.isnan(days)
        if present.any():
            unique, inverse = np.unique(days[present], return_inverse=True)
            names = np.empty(len(unique), np.object_)
            names[:] = [f"{date.fromordinal(int(d)):%Y-%m}" for d in unique]
            out[present] = names[inverse]
        return out


def _shifted(workflow: CompiledWorkflow, days: Days, span: Duration) -> Days:
    """Each day moved by a calendar span (days, weeks or months, a month's end kept within the month)."""
    if span.unit == "d":
        return days + span.amount
    if span.unit == "w":
        return days + 7 * span.amount

    def moved(d: int) -> float:
        midnight = workflow.start_of_day(date.fromordinal(d))
        return float(workflow.today(span.after(midnight, workflow.timezone)).toordinal())
    return _per_day(days, moved)


def columns_of(courses: Iterable[Course], now: datetime) -> list[Columns]:
    """Courses as columns, one `Columns` per workflow version they run on."""
    by_workflow: dict[int, list[Course]] = {}
    for course in courses:
        by_workflow.setdefault(id(course.workflow), []).append(course)
    return [Columns(group[0].workflow, group, now) for group in by_workflow.values()]
