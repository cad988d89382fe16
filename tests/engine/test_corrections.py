"""Corrections (`amend_identification`): a typo in a name, a wrong due date, a case moving to another CPS office.
The history keeps what was replaced; the lookup, the deadlines and the planning window follow the new values at once.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine import Actor, Cases, FixedClock, ensure_organisation
from engine.cases import DEADLINES
from engine.deadlines import ESCALATION_PREFIX
from engine.errors import GuardFailed, NotFound
from engine.queries import CaseQueries
from engine.ticker import tick
from tests.factories import ACTORS
from tests.pathway import open_case, take

AMEND = "amend_identification"


def amend(cases: Cases, case_id: str, actor: Actor = ACTORS["cps"], **data: Any) -> Any:
    return cases.take_action(actor, case_id, AMEND, {"reason": "checked against the parent's ID", **data})


def open_rows(cases: Cases, case_id: str) -> dict[str, dict[str, Any]]:
    with cases.db.read() as conn:
        rows = conn.execute(select(DEADLINES).where(DEADLINES.c.case_id == case_id, DEADLINES.c.status == "open"))
        return {r.name: dict(r._mapping) for r in rows}


def test_a_misspelt_last_name_is_corrected_and_the_lookup_finds_the_right_one(cases: Cases, clock: FixedClock) -> None:
    case = open_case(cases, clock, last_name="Rivrea")
    amend(cases, case.id, last_name="Rivera")
    queries = CaseQueries(cases.db, cases.catalogue, cases)
    born = date.fromisoformat(case.data["date_of_birth"])
    assert [m["id"] for m in queries.lookup(ACTORS["hospital"], "rivera", born)] == [case.id]
    assert queries.lookup(ACTORS["hospital"], "Rivrea", born) == []
    view = queries.view(ACTORS["cps"], case.id)
    assert view["data"]["last_name"] == "Rivera"
    events = queries.events(ACTORS["cps"], case.id)
    assert events[0]["data"]["last_name"] == "Rivrea"  # the history keeps what was entered
    assert events[-1]["action"] == AMEND and events[-1]["data"]["last_name"] == "Rivera"
    assert cases.verify(case.id) == []


def test_a_corrected_due_date_moves_the_planning_window_and_its_deadline(cases: Cases, clock: FixedClock) -> None:
    today = clock.now().date()
    case = open_case(cases, clock, due_date=(today + timedelta(days=120)).isoformat())
    new_due = today + timedelta(days=90)
    amend(cases, case.id, due_date=new_due.isoformat())
    planning = open_rows(cases, case.id)["planning_meeting"]
    assert planning["due_at"].date() == new_due
    view = CaseQueries(cases.db, cases.catalogue, cases).view(ACTORS["cps"], case.id)
    assert view["windows"][0]["to"] == new_due


def test_a_corrected_identification_date_restarts_the_treatment_clocks_from_it(cases: Cases, clock: FixedClock) -> None:
    case = open_case(cases, clock)
    earlier = clock.now().date() - timedelta(days=10)
    amend(cases, case.id, identified_on=earlier.isoformat())
    admission = open_rows(cases, case.id)["treatment_admission"]
    assert admission["due_at"] < clock.now()  # identified 10 days ago: the 7-day admission is overdue


def test_a_new_lead_cps_office_takes_over_the_worklist_and_the_escalations(
    cases: Cases, clock: FixedClock, today: date
) -> None:
    ensure_organisation(cases.db, clock, "river-cps", "River County CPS", kind="cps")
    case = open_case(cases, clock, due_date=(today + timedelta(days=120)).isoformat())
    clock.advance(timedelta(days=8))
    tick(cases.db, cases.catalogue, clock.now())  # treatment admission and consent missed, escalated to county-cps
    amend(cases, case.id, lead_cps_org="river-cps")
    owners = {name: row["owner_org"] for name, row in open_rows(cases, case.id).items()}
    assert owners[f"{ESCALATION_PREFIX}treatment_admission"] == "river-cps"
    assert owners["planning_meeting"] == "river-cps"
    river = Actor("river-user", "cps", "river-cps")
    queries = CaseQueries(cases.db, cases.catalogue, cases)
    assert {i["case"] for i in queries.worklist(river).items} == {case.id}
    with pytest.raises(NotFound):  # the old office holds nothing on the case any more (no consent names it)
        queries.view(ACTORS["cps"], case.id)


def test_only_the_lead_or_the_identifying_organisation_corrects_and_only_a_real_change(
    cases: Cases, clock: FixedClock
) -> None:
    case = take(cases, clock, open_case(cases, clock), "record_consent")  # every organisation may now see it
    with pytest.raises(GuardFailed, match="only the organisation that is the lead CPS office or the one that"):
        amend(cases, case.id, ACTORS["peer"], phone="555-0101")
    with pytest.raises(GuardFailed, match="changes nothing"):
        amend(cases, case.id, last_name=case.data["last_name"])
    version = cases.get(case.id).version
    amend(cases, case.id, ACTORS["prenatal"], phone="555-0101")  # the clinic that identified the parent
    assert cases.get(case.id).version == version + 1
