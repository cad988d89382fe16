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
from tests.factories import ACTORS, taken
from tests.pathway import open_case, take

AMEND = "amend_identification"


def amend(cases: Cases, case_id: str, actor: Actor = ACTORS["cps"], **data: Any) -> Any:
    return taken(cases, actor, case_id, AMEND, {"reason": "checked against the parent's ID", **data})


def open_rows(cases: Cases, case_id: str) -> dict[str, dict[str, Any]]:
    with cases.db.read() as conn:
        rows = conn.execute(select(DEADLINES).where(DEADLINES.c.case_id == case_id, DEADLINES.c.status == "open"))
        return {r.name: dict(r._mapping) for r in rows}


def test_a_misspelt_last_name_is_corrected_and_the_lookup_finds_the_right_one(cases: Cases, clock: FixedClock) -> None:
    case = open_case(cases, clock, last_name="Rivrea")
    amend(cases, case.id, last_name="Rivera")
    queries = CaseQueries(cases.db, cases.catalogue, cases)
    born = date.fromisoformat(case.data["date_of_birth"])
    assert [m.id for m in queries.lookup(ACTORS["hospital"], "rivera", born)] == [case.id]
    assert queries.lookup(ACTORS["hospital"], "Rivrea", born) == []
    view = queries.view(ACTORS["cps"], case.id)
    assert view.data["last_name"] == "Rivera"
    events = queries.events(ACTORS["cps"], case.id)
    assert events[0].data["last_name"] == "Rivrea"  # the history keeps what was entered
    assert events[-1].action == AMEND and events[-1].data["last_name"] == "Rivera"
    assert cases.verify(case.id) == []


def test_a_corrected_due_date_moves_the_planning_window_and_its_deadline(cases: Cases, clock: FixedClock) -> None:
    today = clock.now().date()
    case = open_case(cases, clock, due_date=(today + timedelta(days=120)).isoformat())
    new_due = today + timedelta(days=90)
    amend(cases, case.id, due_date=new_due.isoformat())
    planning = open_rows(cases, case.id)["planning_meeting"]
    assert planning["due_at"].date() == new_due
    view = CaseQueries(cases.db, cases.catalogue, cases).view(ACTORS["cps"], case.id)
    assert view.windows[0].to == new_due


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
    assert {i.case for i in queries.worklist(river).items} == {case.id}
    with pytest.raises(NotFound):  # the old office holds nothing on the case any more (no consent names it)
        queries.view(ACTORS["cps"], case.id)


def test_the_answer_to_a_correction_names_the_new_lead_office(cases: Cases, clock: FixedClock) -> None:
    """The answer shows the lead contact read with the case; when the action itself moved the lead, the new one."""
    ensure_organisation(cases.db, clock, "river-cps", "River County CPS", "Intake 555-0199", kind="cps")
    case = open_case(cases, clock)
    answer = cases.act(ACTORS["prenatal"], case.id, AMEND, {"reason": "moved", "lead_cps_org": "river-cps"}).case
    assert answer.lead_contact is not None
    assert (answer.lead_contact.organisation, answer.lead_contact.name, answer.lead_contact.contact) == (
        "river-cps", "River County CPS", "Intake 555-0199")
    again = cases.act(ACTORS["prenatal"], case.id, AMEND, {"reason": "phone", "phone": "555-0111"}).case
    assert again.lead_contact == answer.lead_contact


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


def test_a_mistaken_identification_date_escalated_at_once_is_withdrawn_when_corrected(
    cases: Cases, clock: FixedClock, today: date
) -> None:
    """A typo (three months too early) makes the admission and consent clocks missed and escalated the moment the
    case is entered; correcting it opens them again on the right clock and withdraws the escalations. The history
    keeps it."""
    typo = today - timedelta(days=91)
    case = open_case(cases, clock, identified_on=typo.isoformat(), due_date=(today + timedelta(days=120)).isoformat())
    tick(cases.db, cases.catalogue, clock.now())
    assert {f"{ESCALATION_PREFIX}treatment_admission", f"{ESCALATION_PREFIX}consent"} <= set(open_rows(cases, case.id))
    amend(cases, case.id, identified_on=today.isoformat())
    rows = open_rows(cases, case.id)
    assert rows["treatment_admission"]["due_at"] > clock.now() and rows["consent"]["due_at"] > clock.now()
    assert not [name for name in rows if name.startswith(ESCALATION_PREFIX)]
    queries = CaseQueries(cases.db, cases.catalogue, cases)
    assert not [i for i in queries.worklist(ACTORS["cps"]).items if i.deadline.startswith(ESCALATION_PREFIX)]
    assert tick(cases.db, cases.catalogue, clock.now()) == []  # nothing is missed any more
    actions = [e.action for e in queries.events(ACTORS["cps"], case.id)]
    assert actions[-1] == AMEND and "deadline_missed" in actions
    assert cases.verify(case.id) == []


def test_a_correction_that_still_leaves_a_deadline_past_due_keeps_it_missed(
    cases: Cases, clock: FixedClock, today: date
) -> None:
    case = open_case(cases, clock, identified_on=(today - timedelta(days=60)).isoformat(),
                     due_date=(today + timedelta(days=120)).isoformat())
    tick(cases.db, cases.catalogue, clock.now())
    amend(cases, case.id, identified_on=(today - timedelta(days=30)).isoformat())
    rows = open_rows(cases, case.id)
    assert "treatment_admission" not in rows and f"{ESCALATION_PREFIX}treatment_admission" in rows
    with cases.db.read() as conn:
        missed = conn.execute(select(DEADLINES).where(
            DEADLINES.c.case_id == case.id, DEADLINES.c.name == "treatment_admission")).mappings().one()
    assert missed["status"] == "missed" and missed["due_at"].date() == today - timedelta(days=23)


def test_a_due_date_moved_into_the_past_makes_the_planning_meeting_overdue_at_once(
    cases: Cases, clock: FixedClock, today: date
) -> None:
    case = open_case(cases, clock, identified_on=(today - timedelta(days=200)).isoformat(),
                     due_date=(today + timedelta(days=40)).isoformat())
    amend(cases, case.id, due_date=(today - timedelta(days=2)).isoformat())
    planning = open_rows(cases, case.id)["planning_meeting"]
    assert planning["due_at"] < clock.now()
    view = CaseQueries(cases.db, cases.catalogue, cases).view(ACTORS["cps"], case.id)
    assert next(d for d in view.deadlines if d.deadline == "planning_meeting").overdue is True


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(6))
def test_an_amendment_racing_an_action_is_serialised_and_each_sees_the_other(
    cases: Cases, clock: FixedClock, today: date, attempt: int
) -> None:
    """CPS moves the due date two months later while a partner schedules the meeting for a date inside the old
    window only: whichever commits first, the other is checked against it. Either the meeting is scheduled first and
    the correction follows, or the correction wins and the meeting is refused; never a meeting outside the window of
    the due date it was checked against, and never a lost correction."""
    import threading

    from engine.errors import GuardFailed as Refused

    case = take(cases, clock, open_case(cases, clock, due_date=(today + timedelta(days=20)).isoformat()),
                "record_consent")
    later = (today + timedelta(days=80)).isoformat()
    meeting = {"meeting_date": (today + timedelta(days=3)).isoformat()}  # inside the old window only
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def run(name: str, act: Any) -> None:
        barrier.wait()
        try:
            act()
            outcomes[name] = "ok"
        except Refused:
            outcomes[name] = "refused"

    threads = [
        threading.Thread(target=run, args=("amend", lambda: amend(cases, case.id, due_date=later))),
        threading.Thread(target=run, args=("schedule", lambda: take(cases, clock, case, "schedule_planning_meeting",
                                                                    **meeting))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes["amend"] == "ok"
    history = [e.action for e in cases.history(case.id)]
    if outcomes["schedule"] == "ok":
        assert history[-2:] == ["schedule_planning_meeting", AMEND]
    else:
        assert history[-1] == AMEND and "schedule_planning_meeting" not in history
    assert cases.verify(case.id) == []
