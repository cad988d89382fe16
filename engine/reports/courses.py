"""What the figures know about one case: its course, folded from its events in order, and how it is read.

Nothing here leaves the reports package: the figures publish counts, shares and medians of courses, never a course.
Dates are the jurisdiction's (the workflow's time zone) and come from the forms (when things happened), as the
deadlines' clocks do; when the log was written is used only to measure how late things were entered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select

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
#: event was recorded). The date is compared as text, which orders ISO dates and times by their date.
FINDING = {
    OPEN_EVENT: "identified_on", BIRTH: "born_at", ADMISSION: "admitted_on", TREATMENT_REFERRAL: "referred_on",
    DISENGAGEMENT: None, AMENDMENT: "identified_on",
}
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
        data = data or {}
        if action == OPEN_EVENT:
            at = _recorded(when)
            way = self.workflow.variants.get(self.workflow.opened_with(data) or "")
            self.identified_at_birth = way is not None and way.then == BIRTH
            self.identified_on = _day(data.get("identified_on"))
            self.identification_entered = self.workflow.today(at)
            self.lead_office = data.get("lead_cps_org") if isinstance(data.get("lead_cps_org"), str) else None
        elif action == AMENDMENT:
            self.identified_on = _day(data.get("identified_on")) or self.identified_on
            if isinstance(data.get("lead_cps_org"), str):
                self.lead_office = data["lead_cps_org"]
        elif action == BIRTH and self.born_at is None:
            self.born_at = _moment(data.get("born_at"))
            self.born_on = _local_day(self.workflow, self.born_at)
            self.birth_entered = self.workflow.today(_recorded(when))
            self.born_to = to_state
            self.substance_affected = data.get("substance_affected") == "yes"
        elif action == NOTIFICATION and self.notified_to is None:
            self.notified_to = to_state
            self.notified_on = _day(data.get("notified_on"))
        elif action == ADMISSION:
            self._dated(self.admissions, data.get("admitted_on"))
            self.first_admission = min(self.admissions, default=None)
            self.caregiver_referral = True
        elif action == TREATMENT_REFERRAL:
            self.caregiver_referral = True
            if data.get("priority_requested") == "yes":
                self._dated(self.priority_referral_on, data.get("referred_on"))
        elif action == INTERIM_SERVICES:
            self._dated(self.interim_on, data.get("started_on"))
        elif action == DISENGAGEMENT:
            at = _recorded(when)
            self._dated(self.stopped_on, data.get("last_attended_on") or self.workflow.today(at).isoformat())
            self.disengaged_at.append(at)
        elif action == PROGRESS and data.get("status") == "left":
            self._dated(self.stopped_on, data.get("last_attended_on") or data.get("recorded_on"))
        elif action == PLANNING_MEETING and self.born_at is None:
            self.meeting_on = _day(data.get("meeting_date")) or self.meeting_on
        elif action == SERVICE_REFERRAL:
            service = data.get("service")
            self.infant_referral = self.infant_referral or service in INFANT_SERVICES
            self.caregiver_referral = self.caregiver_referral or service in CAREGIVER_SERVICES
            if service == "early_intervention" and self.early_intervention_on is None:
                self.early_intervention_on = _day(data.get("referred_on"))
        elif action == DISCHARGE and self.discharged_on is None:
            self.discharged_on = _day(data.get("discharged_on")) or self.workflow.today(_recorded(when))
            self.discharged_to = data.get("discharged_to") if isinstance(data.get("discharged_to"), str) else None
            self.plan_by_discharge = self.plan_recorded
            self.infant_referral = self.infant_referral or bool(data.get("referrals"))
        if action in self.plan_actions:
            self.plan_recorded = True

    @staticmethod
    def _dated(days: list[date], value: Any) -> None:
        day = _day(value)
        if day is not None:
            days.append(day)


def read_courses(
    db: Database, catalogue: Catalogue, earliest: datetime, after: datetime | None = None,
    progress: Progress | None = None,
) -> list[Course]:
    """Every case with an event that can place it in a cohort of a period from `earliest` to before `after`,
    folded.

    Two kinds of query, both narrowed before anything is read in full: one finds the cases (by the finding events
    recorded since the period began, as nothing in a period is recorded before it starts, since no date may be in
    the future; and, with `after`, whose date is not after the period, with a day's margin for the time zone, however
    late it was entered); the other reads only those cases' relevant events, by case id (the `(case_id, seq)`
    index), a chunk at a time, reporting each chunk to `progress` (done, total)."""
    workflows = list(catalogue.workflows.values())
    if not workflows:
        return []
    plan_actions = {w.id: w.plan_actions for w in workflows}
    relevant = set(_READ).union(*plan_actions.values())
    relevant.update(FINDING)
    finding = []
    for action, dated in FINDING.items():
        condition = and_(EVENTS.c.action == action, EVENTS.c.occurred_at >= earliest)
        if after is not None and dated is None:
            condition = and_(condition, EVENTS.c.occurred_at < after + timedelta(days=1))
        elif after is not None:
            later = (after + timedelta(days=2)).date().isoformat()
            condition = and_(condition, EVENTS.c.data[dated].as_string() < later)
        finding.append(condition)
    found = (
        select(EVENTS.c.case_id, CASES.c.workflow_id, CASES.c.workflow_version)
        .join(CASES, CASES.c.id == EVENTS.c.case_id)
        .where(or_(*finding))
        .distinct()
    )
    courses: dict[str, Course] = {}
    with db.read() as conn:
        for row in conn.execute(found).mappings():
            workflow = catalogue.workflow(row["workflow_id"], row["workflow_version"])
            courses[row["case_id"]] = Course(workflow, plan_actions.get(workflow.id, frozenset()))
        ids = sorted(courses)
        if progress is not None:
            progress(0, len(ids))
        # The bulk of a report: read through the driver, without a per-row result layer; a time or a form is decoded
        # only where the fold needs it.
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        actions = tuple(sorted(relevant))
        for done, chunk in enumerate(_chunks(ids, CHUNK), start=1):
            sql = (
                f"SELECT case_id, action, to_state, occurred_at, data FROM {EVENTS.name} "
                f"WHERE case_id IN ({', '.join([mark] * len(chunk))}) "
                f"AND action IN ({', '.join([mark] * len(actions))}) ORDER BY case_id, seq"
            )
            for case_id, action, to_state, at, data in conn.exec_driver_sql(sql, (*chunk, *actions)):
                courses[case_id].add(action, to_state, at, json.loads(data) if isinstance(data, str) else data)
            if progress is not None:
                progress(min(done * CHUNK, len(ids)), len(ids))
    return list(courses.values())


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
