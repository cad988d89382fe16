"""The CAPTA figures (`/reports/capta`, PATHWAY.md "Figures"): what a state reports each year about infants born
affected by substance use and their Plans of Safe Care, and how fast parents reach treatment.

The figures are computed from the event log (events are the truth; the case row is only a cache) and are
de-identified: they carry counts, shares and medians, never a case reference, a name, a date of birth or any other
case value. Counts from 1 to 4 are suppressed (small-cell suppression), and so is any share or median that would
give such a count away.

Two cohorts, each chosen by a calendar date in the case's jurisdiction (its workflow's time zone):

- births in the period: cases whose `record_birth` form says the infant was born (`born_at`) in the period;
- cases opened in the period: cases whose `open_case` event happened in the period.

A cohort is followed through everything recorded about it so far, including events after the period ends (a birth
on the last day of the period is discharged in the next one). Running the report again later can therefore raise a
figure such as "referred to services" as the record fills in; it never moves a case in or out of a cohort.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, and_, or_, select

from engine.definitions.catalogue import Catalogue
from engine.definitions.compiled import CompiledWorkflow
from engine.definitions.vocabulary import OPEN_EVENT
from engine.errors import FieldError, InvalidForm
from engine.store.database import Database
from engine.store.tables import Case, Event

CASES = Case.__table__  # type: ignore[attr-defined]
EVENTS = Event.__table__  # type: ignore[attr-defined]

#: Counts below this, except 0, are shown as "<5".
SMALL_CELL = 5
SUPPRESSION = "counts from 1 to 4 are shown as <5"
#: What a share or a median shows when it would reveal a suppressed count.
SUPPRESSED = "suppressed"
MAX_PERIOD_YEARS = 3

# The pathway's action names are part of the reporting interface (PATHWAY.md "Actions").
BIRTH = "record_birth"
ADMISSION = "admit_to_treatment"
TREATMENT_REFERRAL = "refer_to_treatment"
PLANNING_MEETING = "record_planning_meeting"
SERVICE_REFERRAL = "record_referral"
DISCHARGE = "discharge"
#: `service_referral.service` values that are services for the infant, and for the parent or caregiver.
INFANT_SERVICES = frozenset({"early_intervention", "home_visiting", "pediatric_care"})
CAREGIVER_SERVICES = frozenset({"treatment", "mental_health", "housing"})

_ADMITTED_WITHIN = {"admitted_within_72h": timedelta(hours=72), "admitted_within_7d": timedelta(days=7)}
#: Case ids per `IN (...)` list: well under SQLite's and PostgreSQL's limits on bound parameters.
_CHUNK = 500


@dataclass(frozen=True)
class Count:
    """A count of cases, as it may be published.

    Counts from 1 to 4 are shown as "<5": in a small jurisdiction a cell that small can point at a family. Zero is
    shown as 0, as CDC and ACF (NCANDS) tables do: "none" reveals nothing about any one case, and hiding it would
    make an empty period look like a suppressed one.
    """

    value: int

    @property
    def suppressed(self) -> bool:
        return 0 < self.value < SMALL_CELL

    def shown(self) -> int | str:
        return f"<{SMALL_CELL}" if self.suppressed else self.value


@dataclass
class _Course:
    """What the figures need to know about one case, gathered from its events in order. Never leaves this module."""

    workflow: CompiledWorkflow
    opened_at: datetime | None = None
    born_on: date | None = None
    birth_to: str | None = None
    substance_affected: bool = False
    first_admission_at: datetime | None = None
    meeting_on: date | None = None
    has_plan: bool = False
    discharged: bool = False
    plan_by_discharge: bool = False
    infant_referral: bool = False
    caregiver_referral: bool = False
    plan_actions: frozenset[str] = field(default_factory=frozenset)
    identified_at_birth: bool = False

    def add(self, event: RowMapping) -> None:
        action, data = event["action"], event["data"] or {}
        if action == OPEN_EVENT:
            self.opened_at = event["occurred_at"]
            way = self.workflow.variants.get(self.workflow.opened_with(data) or "")
            self.identified_at_birth = way is not None and way.then == BIRTH
        elif action == BIRTH and self.born_on is None:
            self.born_on = _local_day(self.workflow, _moment(data.get("born_at")))
            self.birth_to = event["to_state"]
            self.substance_affected = data.get("substance_affected") == "yes"
        elif action == ADMISSION:
            self.first_admission_at = self.first_admission_at or event["occurred_at"]
            self.caregiver_referral = True
        elif action == TREATMENT_REFERRAL:
            self.caregiver_referral = True
        elif action == PLANNING_MEETING and self.born_on is None:
            self.meeting_on = _day(data.get("meeting_date")) or self.meeting_on
        elif action == SERVICE_REFERRAL:
            service = data.get("service")
            self.infant_referral = self.infant_referral or service in INFANT_SERVICES
            self.caregiver_referral = self.caregiver_referral or service in CAREGIVER_SERVICES
        elif action == DISCHARGE and not self.discharged:
            self.discharged = True
            self.plan_by_discharge = self.has_plan
            self.infant_referral = self.infant_referral or bool(data.get("referrals"))
        if action in self.plan_actions:
            self.has_plan = True


def capta_report(db: Database, catalogue: Catalogue, start: date, end: date) -> dict[str, Any]:
    """The CAPTA figures for the period `start`..`end` (inclusive), JSON-ready and de-identified.

    Births in the period (by the local date of `born_at`):

    - `births`: every birth recorded; `births_before_plan_agreed`: those born before a plan was agreed
      (`record_birth` into `born_without_plan`), over all births, as the pathway's own measure;
    - `identified_prenatally` and `identified_at_birth`: the births by how the parent was identified: a case opened
      before the birth, or opened by hospital staff at delivery with the birth (the opening variant whose action is
      `record_birth`). The two add up to `births`, so when one is suppressed the other is too ("suppressed"): with
    the total shown, it would give the small one away;
    - `substance_affected`: births whose form says the infant is substance-affected; of those:
    - `discharged`, and `with_plan_by_discharge`: discharged with a plan recorded (any action with the
      `new_plan_version` effect) before the discharge. An infant still in hospital is not counted yet, even with a
      plan: "by discharge" is only known at discharge, and `discharged` gives the figure its denominator;
    - `plan_agreed_before_birth`: born into `born_with_plan` (the plan was agreed at the prenatal meeting);
    - `referred_infant_services`: a `record_referral` to early intervention, home visiting or pediatric care, or a
      discharge that lists referrals (that form's referrals are all for the infant);
    - `referred_caregiver_services`: a `record_referral` to treatment, mental health or housing, or a referral to or
      admission into substance use treatment at any point of the case (before birth included). Referrals count
      whatever their status: the figure is "referred", not "engaged". Plans' service lists are free text and do not
      count.

    Cases opened in the period (by the local date of the `open_case` event), identified before birth (a case opened
    at delivery is counted with the births; its parent was never on the prenatal pathway these figures measure):

    - `cases_opened`, `admitted` (admitted to treatment at any point so far);
    - `median_hours_to_admission`: from opening to the first `admit_to_treatment`, both as recorded in the log;
    - `admitted_within_72h` and `admitted_within_7d`: `count` (72 hours and 7 days inclusive) and `share` of the
      cases opened, rounded to 3 decimals;
    - `median_days_meeting_to_birth`: from the agreed plan's `meeting_date` to the local date of birth, over the
      cases with both.

    Every count goes through `Count`. A share is null when no case was opened, and "suppressed" when its count is;
    a median is null when there is nothing to take it over, and "suppressed" when it is taken over 1 to 4 cases (a
    median of one case is that case's own value).
    """
    _check_period(start, end)
    courses = _courses(db, catalogue, start, end)
    born = [c for c in courses if c.born_on is not None and start <= c.born_on <= end]
    opened = [
        c for c in courses
        if c.opened_at is not None and not c.identified_at_birth and start <= c.workflow.today(c.opened_at) <= end
    ]
    return {
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "suppression": SUPPRESSION,
        "births": _birth_figures(born),
        "cases": _case_figures(opened),
    }


def _check_period(start: date, end: date) -> None:
    if end < start:
        raise InvalidForm("report", [FieldError("to", "must not be before from")])
    if end >= _years_after(start, MAX_PERIOD_YEARS):
        raise InvalidForm("report", [FieldError("to", f"must be at most {MAX_PERIOD_YEARS} years after from")])


def _years_after(day: date, years: int) -> date:
    """The same calendar day `years` later; 29 February becomes 1 March."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def _birth_figures(born: Sequence[_Course]) -> dict[str, Any]:
    affected = [c for c in born if c.substance_affected]
    return {
        "births": _shown(born),
        "births_before_plan_agreed": _shown(c for c in born if c.birth_to == "born_without_plan"),
        **_complementary({
            "identified_prenatally": Count(sum(1 for c in born if not c.identified_at_birth)),
            "identified_at_birth": Count(sum(1 for c in born if c.identified_at_birth)),
        }),
        "substance_affected": _shown(affected),
        "discharged": _shown(c for c in affected if c.discharged),
        "with_plan_by_discharge": _shown(c for c in affected if c.plan_by_discharge),
        "plan_agreed_before_birth": _shown(c for c in affected if c.birth_to == "born_with_plan"),
        "referred_infant_services": _shown(c for c in affected if c.infant_referral),
        "referred_caregiver_services": _shown(c for c in affected if c.caregiver_referral),
    }


def _case_figures(opened: Sequence[_Course]) -> dict[str, Any]:
    waits = [c.first_admission_at - c.opened_at for c in opened if c.first_admission_at and c.opened_at]
    meeting_to_birth = [(c.born_on - c.meeting_on).days for c in opened if c.born_on and c.meeting_on]
    figures: dict[str, Any] = {
        "cases_opened": Count(len(opened)).shown(),
        "admitted": Count(len(waits)).shown(),
        "median_hours_to_admission": _median([w.total_seconds() / 3600 for w in waits]),
    }
    for name, limit in _ADMITTED_WITHIN.items():
        count = Count(sum(1 for w in waits if w <= limit))
        figures[name] = {"count": count.shown(), "share": _share(count, len(opened))}
    figures["median_days_meeting_to_birth"] = _median([float(d) for d in meeting_to_birth])
    return figures


def _complementary(parts: dict[str, Count]) -> dict[str, int | str]:
    """Counts that add up to a published total: if any is suppressed, every other one but a 0 is too (it would give
    the suppressed one away by subtraction; a 0 gives nothing away)."""
    if not any(c.suppressed for c in parts.values()):
        return {name: c.shown() for name, c in parts.items()}
    return {name: c.shown() if c.suppressed or c.value == 0 else SUPPRESSED for name, c in parts.items()}


def _shown(courses: Iterable[_Course]) -> int | str:
    return Count(sum(1 for _ in courses)).shown()


def _share(count: Count, denominator: int) -> float | str | None:
    if denominator == 0:
        return None
    if count.suppressed:
        return SUPPRESSED
    return round(count.value / denominator, 3)


def _median(values: Sequence[float]) -> float | str | None:
    if not values:
        return None
    if Count(len(values)).suppressed:
        return SUPPRESSED
    return round(float(statistics.median(values)), 1)


# --- reading the log ---------------------------------------------------------------------------------------------


def _courses(db: Database, catalogue: Catalogue, start: date, end: date) -> list[_Course]:
    """Every case in either cohort, with its relevant events folded in.

    Two kinds of query, both narrowed before anything is read in full: one finds the cases (births recorded since
    the period began, openings during it); the other reads only those cases' relevant events, by case id (the
    `(case_id, seq)` index). A birth is recorded after it happens (`born_at` may not be in the future), so no birth
    in the period is recorded before the period starts."""
    workflows = list(catalogue.workflows.values())
    if not workflows:
        return []
    earliest = min(w.start_of_day(start) for w in workflows)
    after_end = max(w.start_of_day(end + timedelta(days=1)) for w in workflows)
    plan_actions = {w.id: w.plan_actions for w in workflows}
    relevant = {OPEN_EVENT, BIRTH, ADMISSION, TREATMENT_REFERRAL, PLANNING_MEETING, SERVICE_REFERRAL, DISCHARGE}
    relevant |= set().union(*plan_actions.values())
    found = (
        select(EVENTS.c.case_id, CASES.c.workflow_id, CASES.c.workflow_version)
        .join(CASES, CASES.c.id == EVENTS.c.case_id)
        .where(or_(
            and_(EVENTS.c.action == BIRTH, EVENTS.c.occurred_at >= earliest),
            and_(EVENTS.c.action == OPEN_EVENT, EVENTS.c.occurred_at >= earliest, EVENTS.c.occurred_at < after_end),
        ))
        .distinct()
    )
    courses: dict[str, _Course] = {}
    with db.read() as conn:
        for row in conn.execute(found).mappings():
            workflow = catalogue.workflow(row["workflow_id"], row["workflow_version"])
            courses[row["case_id"]] = _Course(workflow, plan_actions=plan_actions.get(workflow.id, frozenset()))
        for ids in _chunks(sorted(courses), _CHUNK):
            events = conn.execute(
                select(EVENTS.c.case_id, EVENTS.c.seq, EVENTS.c.action, EVENTS.c.to_state, EVENTS.c.occurred_at,
                       EVENTS.c.data)
                .where(EVENTS.c.case_id.in_(ids), EVENTS.c.action.in_(sorted(relevant)))
                .order_by(EVENTS.c.case_id, EVENTS.c.seq)
            ).mappings()
            for event in events:
                courses[event["case_id"]].add(event)
    return list(courses.values())


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for index in range(0, len(items), size):
        yield items[index:index + size]


def _moment(value: Any) -> datetime | None:
    """An aware time from a stored ISO-8601 value (forms refuse times without an offset)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None


def _local_day(workflow: CompiledWorkflow, moment: datetime | None) -> date | None:
    """The jurisdiction's calendar day of a stored time; None when there is none or it has no such day (a time
    stored before forms refused it, such as `0001-01-01T00:00:00+14:00`): such a birth is in no period's cohort."""
    if moment is None:
        return None
    try:
        return workflow.today(moment)
    except OverflowError:
        return None


def _day(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None

