"""What the figures know about one case: its course, folded from its events in order, and how it is read.

Nothing here leaves the reports package: the figures publish counts, shares and medians of courses, never a course.
Dates are the jurisdiction's (the workflow's time zone) and come from the forms (when things happened), as the
deadlines' clocks do; when the log was written is used only to measure how late things were entered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Select, bindparam, literal_column, select, text, union

from engine.definitions.catalogue import Catalogue
from engine.definitions.compiled import CompiledWorkflow
from engine.definitions.vocabulary import OPEN_EVENT
from engine.store.database import Database
from engine.store.tables import Case, Event

CASES = Case.__table__  # type: ignore[attr-defined]
EVENTS = Event.__table__  # type: ignore[attr-defined]

# The pathway's action and field names are part of the reporting interface (the pathway reference, "Actions").
BIRTH = "record_birth"
NOTIFICATION = "notify_cps"
ADMISSION = "admit_to_treatment"
TREATMENT_REFERRAL = "refer_to_treatment"
INTERIM_SERVICES = "record_interim_services"
DISENGAGEMENT = "record_disengagement"
PROGRESS = "record_treatment_progress"
PLANNING_MEETING = "record_planning_meeting"
SERVICE_REFERRAL = "record_referral"
DISCHARGE = "discharge"
AMENDMENT = "amend_identification"
#: `service_referral.service` values that are services for the infant, and for the parent or caregiver.
INFANT_SERVICES = frozenset({"early_intervention", "home_visiting", "pediatric_care"})
CAREGIVER_SERVICES = frozenset({"treatment", "mental_health", "housing"})
#: The state a birth goes to when a plan was agreed before it, and the state of a CPS assessment.
BORN_WITH_PLAN = "born_with_plan"
CPS_ASSESSMENT = "cps_assessment"
#: Events that find a case for a period's cohorts, with the form field holding the cohort's date (None: the day the
#: event was recorded). The dates are compared as text, which orders ISO dates and times by their date.
FINDING = {
    OPEN_EVENT: "identified_on", BIRTH: "born_at", ADMISSION: "admitted_on", TREATMENT_REFERRAL: "referred_on",
    DISENGAGEMENT: None, AMENDMENT: "identified_on",
}
#: The dated ones, in the order the index spells them (migration 0009).
_DATED = (
    (OPEN_EVENT, "identified_on"), (AMENDMENT, "identified_on"), (BIRTH, "born_at"), (ADMISSION, "admitted_on"),
    (TREATMENT_REFERRAL, "referred_on"),
)


def cohort_day(dialect: str) -> tuple[str, str]:
    """The SQL of a finding event's cohort date, and of the actions that have one, spelled exactly as the partial
    expression index `ix_events_cohort` (migration 0009) is, so that the database reads a range of the index."""
    field = "json_extract(data, '$.{}')" if dialect == "sqlite" else "(data ->> '{}')"
    cases = " ".join(f"WHEN '{action}' THEN {field.format(name)}" for action, name in _DATED)
    return f"(CASE action {cases} END)", "action IN ({})".format(", ".join(f"'{action}'" for action, _ in _DATED))


_READ = {
    NOTIFICATION, INTERIM_SERVICES, PROGRESS, PLANNING_MEETING, SERVICE_REFERRAL, DISCHARGE,
}
#: Case ids per `IN (...)` list: well under SQLite's and PostgreSQL's limits on bound parameters.
CHUNK = 500

Progress = Callable[[int, int], None]


@dataclass(slots=True)
class Course:
    """One case as the figures see it."""

    workflow: CompiledWorkflow
    plan_actions: frozenset[str]
    lead_office: str | None = None
    identified_on: date | None = None
    identification_entered: date | None = None
    identified_at_birth: bool = False
    born_at: datetime | None = None
    born_on: date | None = None
    birth_entered: date | None = None
    born_to: str | None = None
    substance_affected: bool = False
    notified_to: str | None = None
    notified_on: date | None = None
    meeting_on: date | None = None
    plan_recorded: bool = False
    discharged_on: date | None = None
    discharged_to: str | None = None
    plan_by_discharge: bool = False
    infant_referral: bool = False
    caregiver_referral: bool = False
    early_intervention_on: date | None = None
    admissions: list[date] = field(default_factory=list)
    first_admission: date | None = None
    priority_referral_on: list[date] = field(default_factory=list)
    interim_on: list[date] = field(default_factory=list)
    #: When the parent stopped attending (a disengagement, or progress recorded as `left`), by the day it happened.
    stopped_on: list[date] = field(default_factory=list)
    #: The local days `record_disengagement` was recorded (the re-engagement clock starts then).
    disengaged_at: list[datetime] = field(default_factory=list)

    def add(self, action: str, to_state: str, when: Any, data: dict[str, Any] | None) -> None:
        """One event, in order: `when` it was recorded, as the driver gives it (decoded only if needed)."""
        step = _STEPS.get(action)
        if step is not None:
            step(self, to_state, when, data or {})
        if action in self.plan_actions:
            self.plan_recorded = True

    def _opened(self, _: str, when: Any, data: dict[str, Any]) -> None:
        way = self.workflow.variants.get(self.workflow.opened_with(data) or "")
        self.identified_at_birth = way is not None and way.then == BIRTH
        self.identified_on = _day(data.get("identified_on"))
        self.identification_entered = _recorded_day(self.workflow, when)
        office = data.get("lead_cps_org")
        self.lead_office = office if isinstance(office, str) else None

    def _amended(self, _: str, __: Any, data: dict[str, Any]) -> None:
        self.identified_on = _day(data.get("identified_on")) or self.identified_on
        office = data.get("lead_cps_org")
        if isinstance(office, str):
            self.lead_office = office

    def _born(self, to_state: str, when: Any, data: dict[str, Any]) -> None:
        if self.born_at is None:
            self.born_at = _moment(data.get("born_at"))
            self.born_on = _local_day(self.workflow, self.born_at)
            self.birth_entered = _recorded_day(self.workflow, when)
            self.born_to = to_state
            self.substance_affected = data.get("substance_affected") == "yes"

    def _notified(self, to_state: str, _: Any, data: dict[str, Any]) -> None:
        if self.notified_to is None:
            self.notified_to = to_state
            self.notified_on = _day(data.get("notified_on"))

    def _admitted(self, _: str, __: Any, data: dict[str, Any]) -> None:
        day = _day(data.get("admitted_on"))
        if day is not None:
            self.admissions.append(day)
            if self.first_admission is None or day < self.first_admission:
                self.first_admission = day
        self.caregiver_referral = True

    def _referred(self, _: str, __: Any, data: dict[str, Any]) -> None:
        self.caregiver_referral = True
        if data.get("priority_requested") == "yes":
            self._dated(self.priority_referral_on, data.get("referred_on"))

    def _interim(self, _: str, __: Any, data: dict[str, Any]) -> None:
        self._dated(self.interim_on, data.get("started_on"))

    def _disengaged(self, _: str, when: Any, data: dict[str, Any]) -> None:
        at = _recorded(when)
        self._dated(self.stopped_on, data.get("last_attended_on") or self.workflow.today(at).isoformat())
        self.disengaged_at.append(at)

    def _progress(self, _: str, __: Any, data: dict[str, Any]) -> None:
        if data.get("status") == "left":
            self._dated(self.stopped_on, data.get("last_attended_on") or data.get("recorded_on"))

    def _met(self, _: str, __: Any, data: dict[str, Any]) -> None:
        if self.born_at is None:
            self.meeting_on = _day(data.get("meeting_date")) or self.meeting_on

    def _service(self, _: str, __: Any, data: dict[str, Any]) -> None:
        service = data.get("service")
        self.infant_referral = self.infant_referral or service in INFANT_SERVICES
        self.caregiver_referral = self.caregiver_referral or service in CAREGIVER_SERVICES
        if service == "early_intervention" and self.early_intervention_on is None:
            self.early_intervention_on = _day(data.get("referred_on"))

    def _discharged(self, _: str, when: Any, data: dict[str, Any]) -> None:
        if self.discharged_on is None:
            self.discharged_on = _day(data.get("discharged_on")) or _recorded_day(self.workflow, when)
            to = data.get("discharged_to")
            self.discharged_to = to if isinstance(to, str) else None
            self.plan_by_discharge = self.plan_recorded
            self.infant_referral = self.infant_referral or bool(data.get("referrals"))

    @staticmethod
    def _dated(days: list[date], value: Any) -> None:
        day = _day(value)
        if day is not None:
            days.append(day)


#: The actions whose fold needs when the event was recorded (to the driver's time type, only for these).
_TIMED = frozenset({OPEN_EVENT, BIRTH, DISENGAGEMENT, DISCHARGE})
#: What each action tells the course (in the order the log has them); any other action only counts as a plan
#: recorded when it is one of the workflow's plan actions.
_STEPS: dict[str, Callable[[Course, str, Any, dict[str, Any]], None]] = {
    OPEN_EVENT: Course._opened, AMENDMENT: Course._amended, BIRTH: Course._born, NOTIFICATION: Course._notified,
    ADMISSION: Course._admitted, TREATMENT_REFERRAL: Course._referred, INTERIM_SERVICES: Course._interim,
    DISENGAGEMENT: Course._disengaged, PROGRESS: Course._progress, PLANNING_MEETING: Course._met,
    SERVICE_REFERRAL: Course._service, DISCHARGE: Course._discharged,
}


def by_cohort_date(dialect: str, *, bounded: bool) -> Select[tuple[str]]:
    """The cases with a finding event whose cohort date is from `:low` (and, when `bounded`, before `:high`), as
    ISO text: a range of `ix_events_cohort`."""
    day, dated = cohort_day(dialect)
    return select(EVENTS.c.case_id).where(
        text(dated), literal_column(day) >= bindparam("low"),
        *((literal_column(day) < bindparam("high"),) if bounded else ()),
    )


def read_courses(
    db: Database, catalogue: Catalogue, earliest: datetime, after: datetime | None = None,
    progress: Progress | None = None,
) -> list[Course]:
    """Every case with an event that can place it in a cohort of a period from `earliest` to before `after`,
    folded: `find_cases`, then `fold_cases`, in one transaction."""
    with db.read() as conn:
        found = find_cases(conn, earliest, after)
        return list(fold_cases(conn, catalogue, found, progress).values())


def find_cases(conn: Connection, earliest: datetime, after: datetime | None = None) -> list[str]:
    """The ids of the cases with an event that can place them in a cohort of a period from `earliest` to before
    `after`, in order: by the cohort dates in their forms (a range of the `ix_events_cohort` index, with a day's
    margin either side for the time zone, however late the form was entered), and by the disengagements recorded
    in the period."""
    occurred = EVENTS.c.occurred_at.type
    disengaged = select(EVENTS.c.case_id).where(
        EVENTS.c.action == DISENGAGEMENT, EVENTS.c.occurred_at >= bindparam("earliest", type_=occurred),
        *(() if after is None else (EVENTS.c.occurred_at < bindparam("latest", type_=occurred),)),
    )
    by_date = by_cohort_date(conn.dialect.name, bounded=after is not None)
    bounds: dict[str, Any] = {"earliest": earliest, "low": (earliest - timedelta(days=1)).date().isoformat()}
    if after is not None:
        bounds |= {"latest": after + timedelta(days=1), "high": (after + timedelta(days=2)).date().isoformat()}
    if conn.dialect.name == "postgresql":
        # A year's finding events make a bitmap of a hundred thousand pages: with the default 4 MB it turns lossy
        # and every event on those pages has its form decoded again (5 s at a million cases, against 2 s).
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
    return sorted(conn.execute(union(by_date, disengaged), bounds).scalars())


def fold_cases(
    conn: Connection, catalogue: Catalogue, ids: Sequence[str], progress: Progress | None = None,
) -> dict[str, Course]:
    """The courses of the cases `ids`, from their relevant events read by case id (the `(case_id, seq)` index), a
    chunk at a time (with the workflow each case runs on), each chunk reported to `progress` (done, total)."""
    plan_actions = {w.id: w.plan_actions for w in catalogue.workflows.values()}
    relevant = set(_READ).union(FINDING, *plan_actions.values())
    courses: dict[str, Course] = {}
    if progress is not None:
        progress(0, len(ids))
    # The bulk of a report: rows fetched from the driver's cursor, without a per-row result layer; a form is read
    # only for the actions whose fields the fold uses (a plan's long form is not), as text decoded here, and a time
    # only where it is used. PostgreSQL takes each list as one array parameter, SQLite as a list of them.
    postgres = conn.dialect.name == "postgresql"

    def among(column: str, values: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
        if postgres:
            return f"{column} = ANY(%s)", (list(values),)
        return f"{column} IN ({', '.join('?' * len(values))})", tuple(values)

    timed, timed_values = among("action", sorted(_TIMED))
    folded, folded_values = among("action", sorted(_STEPS))
    actions, action_values = among("action", sorted(relevant))
    form = "data::text" if postgres else "data"
    runs_on: dict[tuple[str, int], tuple[CompiledWorkflow, frozenset[str]]] = {}
    for done, chunk in enumerate(_chunks(ids, CHUNK), start=1):
        these, chunk_values = among("id", chunk)
        result = conn.exec_driver_sql(
            f"SELECT id, workflow_id, workflow_version FROM {CASES.name} WHERE {these}", chunk_values)
        for case_id, workflow_id, version in result.cursor.fetchall():
            if (workflow_id, version) not in runs_on:
                workflow = catalogue.workflow(workflow_id, version)
                runs_on[(workflow_id, version)] = (workflow, plan_actions.get(workflow.id, frozenset()))
            courses[case_id] = Course(*runs_on[(workflow_id, version)])
        result.close()
        these, chunk_values = among("case_id", chunk)
        result = conn.exec_driver_sql(
            f"SELECT case_id, action, to_state, CASE WHEN {timed} THEN occurred_at END, "
            f"CASE WHEN {folded} THEN {form} END FROM {EVENTS.name} "
            f"WHERE {these} AND {actions} ORDER BY case_id, seq",
            (*timed_values, *folded_values, *chunk_values, *action_values),
        )
        try:
            _fold(courses, result.cursor.fetchall())
        finally:
            result.close()
        if progress is not None:
            progress(min(done * CHUNK, len(ids)), len(ids))
    return courses


def _fold(courses: dict[str, Course], rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows (case id, action, state reached, when recorded, form) in each case's order, into their courses."""
    decode, steps, course, current = _DECODER.raw_decode, _STEPS, None, None
    for case_id, action, to_state, at, data in rows:
        if case_id != current:
            course, current = courses[case_id], case_id
        assert course is not None
        step = steps.get(action)
        if step is not None:
            step(course, to_state, at, decode(data)[0] if isinstance(data, str) else data or {})
        if action in course.plan_actions:
            course.plan_recorded = True


#: Forms as stored (serialised by posc, so starting with their JSON): decoded without `json.loads`' checks around
#: the decoder, a third of its cost.
_DECODER = json.JSONDecoder()


def _recorded_day(workflow: CompiledWorkflow, value: Any) -> date:
    """The jurisdiction's day an event was recorded (`value` as the driver gives it): the day of the whole UTC hour
    it falls in when the hour is all one day there, as almost every hour is, else worked out from the time."""
    if isinstance(value, str):
        hour: tuple[int, ...] | str = value[:13]
    elif isinstance(value, datetime) and value.utcoffset() == timedelta(0):
        hour = (value.year, value.month, value.day, value.hour)
    else:
        return workflow.today(_recorded(value))
    day = _hour_day(workflow.timezone, hour)
    return day if day is not None else workflow.today(_recorded(value))


@lru_cache(maxsize=65536)
def _hour_day(zone: tzinfo, hour: tuple[int, ...] | str) -> date | None:
    """The day in `zone` of every moment of a UTC hour (`YYYY-MM-DD HH`, or its numbers); None if the hour holds a
    change of offset or a local midnight."""
    try:
        if isinstance(hour, str):
            start = datetime.fromisoformat(f"{hour}:00").replace(tzinfo=UTC)
        else:
            year, month, day, hour_of_day = hour
            start = datetime(year, month, day, hour_of_day, tzinfo=UTC)
    except ValueError:
        return None
    first, last = start.astimezone(zone), (start + timedelta(hours=1, microseconds=-1)).astimezone(zone)
    if first.utcoffset() != last.utcoffset() or first.date() != last.date():
        return None
    return first.date()


def _recorded(value: Any) -> datetime:
    """When an event was recorded, from the driver: an aware time (PostgreSQL), or UTC as text (SQLite)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


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


def days_between(start: date | None, end: date | None) -> int | None:
    return None if start is None or end is None else (end - start).days


def add_days(day: date, days: int) -> date:
    return day + timedelta(days=days)
