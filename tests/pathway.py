"""Drives a case along the CHARM pathway with valid data, so a test can start from any state."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from engine import CaseRecord, Cases, FixedClock
from tests.factories import ACTION_ROLE, ACTORS, action_data, identification, local_date, opened, taken

_PLAN = ["record_consent", "admit_to_treatment", "schedule_planning_meeting", "record_planning_meeting"]
ROUTES: dict[str, list[str]] = {
    "identified": [],
    "referred": ["refer_to_treatment"],
    "in_treatment": ["record_consent", "admit_to_treatment"],
    "disengaged": ["record_consent", "admit_to_treatment", "record_disengagement"],
    "declined": ["record_declined"],
    "meeting_scheduled": _PLAN[:3],
    "plan_agreed": _PLAN,
    "born_with_plan": [*_PLAN, "record_birth"],
    "born_without_plan": ["record_birth"],
    "notified": [*_PLAN, "record_birth", "notify_cps"],
    "cps_assessment": ["record_birth", "notify_cps", "record_plan_at_birth"],
    "follow_up": [*_PLAN, "record_birth", "notify_cps", "discharge"],
    "investigation": [*_PLAN, "record_birth", "notify_cps", "discharge", "report_safety_concern"],
    "closed": [*_PLAN, "record_birth", "notify_cps", "discharge", "close_case"],
}


def open_case(cases: Cases, clock: FixedClock, *, new_pregnancy: bool = True, **changes: Any) -> CaseRecord:
    """Opens a case due in 25 days (inside the planning window, so a plan can be agreed today), unless told. Each
    case a test opens for the sample parent is its own pregnancy unless the test says otherwise."""
    today = local_date(clock.now())
    changes.setdefault("due_date", (today + timedelta(days=25)).isoformat())
    changes.setdefault("gestational_weeks", 36)
    data = identification(today, **changes)
    return opened(cases, ACTORS["prenatal"], "charm-posc", data, new_pregnancy=new_pregnancy)


def at_delivery(clock: FixedClock, **changes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The identification as hospital staff know it at delivery (due in 5 days, identified today) and the birth an
    hour ago; `changes` go to the identification."""
    today = local_date(clock.now())
    data = identification(today, due_date=(today + timedelta(days=5)).isoformat(), gestational_weeks=39)
    del data["identified_by"]  # the opening at delivery sets it
    data.update(changes)
    return data, action_data("record_birth", clock.now(), today)


def open_at_delivery(
    cases: Cases, clock: FixedClock, birth: dict[str, Any] | None = None, *, new_pregnancy: bool = True,
    **changes: Any,
) -> CaseRecord:
    """Hospital staff open a case at delivery (identification at birth); `birth` changes the birth form."""
    data, default_birth = at_delivery(clock, **changes)
    return opened(cases,
        ACTORS["hospital"], "charm-posc", data, variant=("birth", {**default_birth, **(birth or {})}),
        new_pregnancy=new_pregnancy,
    )


def due_date(case: CaseRecord) -> date:
    return date.fromisoformat(case.data["due_date"])


def take(cases: Cases, clock: FixedClock, case: CaseRecord, action: str, **changes: Any) -> CaseRecord:
    data = {**action_data(action, clock.now(), due_date(case)), **changes}
    return taken(cases, ACTORS[ACTION_ROLE[action]], case.id, action, data)


def drive(cases: Cases, clock: FixedClock, case: CaseRecord, state: str) -> CaseRecord:
    """Takes the route to `state`, an hour between actions."""
    for action in ROUTES[state]:
        clock.advance(timedelta(hours=1))
        case = take(cases, clock, case, action)
    assert case.state == state
    return case
