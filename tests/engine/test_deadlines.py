"""Every deadline of PATHWAY.md: it opens when it should, is met by the right action (and not by a look-alike), is
cancelled when the case closes, and goes overdue, is marked missed and escalates when the clock passes its due time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine import Cases, FixedClock
from engine.cases import DEADLINES, CaseRecord
from engine.deadlines import ESCALATION_PREFIX
from engine.queries import CaseQueries
from engine.ticker import MISSED_EVENT, tick
from tests.factories import ACTORS, action_data, taken
from tests.pathway import ROUTES, drive, open_case, take


def deadlines_of(cases: Cases, case_id: str) -> dict[str, dict[str, Any]]:
    """The latest row of each deadline of the case, by name."""
    with cases.db.read() as conn:
        rows = conn.execute(select(DEADLINES).where(DEADLINES.c.case_id == case_id).order_by(DEADLINES.c.id))
        return {r.name: dict(r._mapping) for r in rows}


def status(cases: Cases, case_id: str, name: str) -> str | None:
    row = deadlines_of(cases, case_id).get(name)
    return None if row is None else str(row["status"])


@dataclass(frozen=True)
class Story:
    """A deadline: the state where it is open, the action that meets it, and a look-alike that must not."""

    opened_in: str
    meet: tuple[str, dict[str, Any]]
    lookalike: tuple[str, dict[str, Any]] | None
    wait_days: int = 0
    changes: dict[str, Any] = field(default_factory=dict)


STORIES: dict[str, Story] = {
    "treatment_admission": Story("identified", ("admit_to_treatment", {}), ("refer_to_treatment", {})),
    "interim_services": Story("referred", ("record_interim_services", {}), ("record_consent", {})),
    "consent": Story("identified", ("record_consent", {}), ("record_declined", {})),
    "re_engagement": Story("disengaged", ("admit_to_treatment", {}), ("record_consent", {})),
    "planning_meeting": Story("meeting_scheduled", ("record_planning_meeting", {}), ("record_consent", {})),
    "capta_notification": Story("born_without_plan", ("notify_cps", {}), ("record_referral", {})),
    "plan_before_discharge": Story("born_without_plan", ("notify_cps", {}), None),
    "early_intervention_referral": Story(
        "born_without_plan", ("record_referral", {"service": "early_intervention"}),
        ("record_referral", {"service": "home_visiting"}),
    ),
    "newborn_visit": Story(
        "follow_up", ("record_follow_up", {"contact_type": "pediatric_visit"}),
        ("record_follow_up", {"contact_type": "home_visit"}),
    ),
    "postpartum_contact": Story(
        "follow_up", ("record_follow_up", {"contact_type": "postpartum_visit"}),
        ("record_follow_up", {"contact_type": "phone"}),
    ),
    "follow_up_30": Story("follow_up", ("record_follow_up", {}), ("record_referral", {})),
    "follow_up_90": Story("follow_up", ("record_follow_up", {}), ("record_follow_up", {}), wait_days=84),
    "monitoring_period": Story("follow_up", ("close_case", {}), ("record_follow_up", {})),
}


def test_every_deadline_of_the_pathway_has_a_story(cases: Cases) -> None:
    assert set(STORIES) == set(cases.catalogue.workflow("charm-posc").deadlines)


@pytest.mark.parametrize("name", sorted(STORIES))
def test_each_deadline_opens_is_not_met_by_a_lookalike_and_is_met_by_its_action(
    cases: Cases, clock: FixedClock, name: str
) -> None:
    story = STORIES[name]
    case = drive(cases, clock, open_case(cases, clock), story.opened_in)
    if name == "plan_before_discharge":  # met by the plan at birth, once CPS assesses
        assert status(cases, case.id, name) == "open"
        case = take(cases, clock, case, "notify_cps")
        case = take(cases, clock, case, "record_plan_at_birth")
        assert status(cases, case.id, name) == "met"
        return
    assert status(cases, case.id, name) == "open", deadlines_of(cases, case.id)
    if story.lookalike is not None:
        action, changes = story.lookalike
        clock.advance(timedelta(hours=1))
        case = take(cases, clock, case, action, **changes)
        assert status(cases, case.id, name) == "open", f"{action} {changes} must not meet {name}"
    clock.advance(timedelta(days=story.wait_days, hours=1))
    action, changes = story.meet
    case = take(cases, clock, case, action, **changes)
    assert status(cases, case.id, name) == "met"
    assert cases.verify(case.id) == []


def test_plan_before_discharge_opens_only_for_a_birth_without_a_plan(cases: Cases, clock: FixedClock) -> None:
    with_plan = drive(cases, clock, open_case(cases, clock), "born_with_plan")
    assert status(cases, with_plan.id, "plan_before_discharge") is None
    without = drive(cases, clock, open_case(cases, clock), "born_without_plan")
    assert status(cases, without.id, "plan_before_discharge") == "open"


def test_early_intervention_opens_only_for_a_substance_affected_infant(cases: Cases, clock: FixedClock) -> None:
    case = drive(cases, clock, open_case(cases, clock), "identified")
    case = take(cases, clock, case, "record_birth", substance_affected="no")
    assert status(cases, case.id, "early_intervention_referral") is None
    assert status(cases, case.id, "capta_notification") == "open"


def test_closing_a_case_cancels_every_open_deadline(cases: Cases, clock: FixedClock) -> None:
    case = drive(cases, clock, open_case(cases, clock), "referred")
    assert {n for n, r in deadlines_of(cases, case.id).items() if r["status"] == "open"} == {
        "treatment_admission", "consent", "planning_meeting", "interim_services"
    }
    case = take(cases, clock, case, "transfer_out")
    assert {r["status"] for r in deadlines_of(cases, case.id).values()} == {"cancelled"}


def test_a_birth_before_the_window_opens_cancels_the_planning_meeting(cases: Cases, clock: FixedClock) -> None:
    months_away = (clock.now().date() + timedelta(days=120)).isoformat()
    case = drive(cases, clock, open_case(cases, clock, due_date=months_away), "identified")
    row = deadlines_of(cases, case.id)["planning_meeting"]
    assert row["opened_at"] > clock.now()  # the window opens 30 days before the due date, months away
    case = take(cases, clock, case, "record_birth")
    assert status(cases, case.id, "planning_meeting") == "cancelled"


def test_a_due_date_less_than_30_days_away_opens_the_window_at_once(
    cases: Cases, clock: FixedClock
) -> None:
    soon = (clock.now().date() + timedelta(days=20)).isoformat()
    case = open_case(cases, clock, due_date=soon)
    worklist = CaseQueries(cases.db, cases.catalogue, cases).worklist(ACTORS["cps"])
    planning = [i for i in worklist.items if i.deadline == "planning_meeting" and i.case == case.id]
    assert planning and planning[0].open_now and planning[0].due_at.date().isoformat() == soon


def test_calendar_days_hold_across_a_daylight_saving_change(cases: Cases, clock: FixedClock) -> None:
    # 2027-03-14 02:00 New York time springs forward: midnight EST on the 10th is 05:00 UTC, midnight EDT 04:00 UTC.
    # The admission clock starts at the start of the identification day, whenever the case is entered.
    clock.set(datetime(2027, 3, 10, 14, 0, tzinfo=UTC))
    case = open_case(cases, clock, due_date="2027-07-01", identified_on="2027-03-10")
    admission = deadlines_of(cases, case.id)["treatment_admission"]
    assert admission["opened_at"] == datetime(2027, 3, 10, 5, 0, tzinfo=UTC)
    assert admission["target_at"] == datetime(2027, 3, 13, 5, 0, tzinfo=UTC)  # 72 hours: elapsed time
    assert admission["due_at"] == datetime(2027, 3, 17, 4, 0, tzinfo=UTC)  # 7 days: midnight local again
    planning = deadlines_of(cases, case.id)["planning_meeting"]
    assert planning["opened_at"] == datetime(2027, 6, 1, 4, 0, tzinfo=UTC)  # midnight EDT, 30 days before
    assert planning["due_at"] == datetime(2027, 7, 1, 4, 0, tzinfo=UTC)


# --- the clock: missed, recorded, escalated, once ---


def opened_for_escalation(cases: Cases, clock: FixedClock) -> CaseRecord:
    """A case referred to treatment, due months from now (so only the treatment clocks run)."""
    months_away = (clock.now().date() + timedelta(days=120)).isoformat()
    return drive(cases, clock, open_case(cases, clock, due_date=months_away), "referred")


def test_a_missed_deadline_is_recorded_escalated_and_never_processed_twice(cases: Cases, clock: FixedClock) -> None:
    case = opened_for_escalation(cases, clock)
    clock.advance(timedelta(days=3))  # interim services (48 h) is overdue; admission (7 days) is not yet
    missed = tick(cases.db, cases.catalogue, clock.now())
    assert [(m.case_id, m.deadline) for m in missed] == [(case.id, "interim_services")]
    rows = deadlines_of(cases, case.id)
    assert rows["interim_services"]["status"] == "missed"
    assert rows[f"{ESCALATION_PREFIX}interim_services"]["owner_org"] == "county-cps"
    assert rows["treatment_admission"]["status"] == "open"
    last = cases.history(case.id)[-1]
    assert (last.action, last.actor_role, last.from_state, last.to_state) == (
        MISSED_EVENT, "system", "referred", "referred")
    assert last.data["deadline"] == "interim_services"
    assert tick(cases.db, cases.catalogue, clock.now()) == []  # nothing the second time
    assert cases.verify(case.id) == []
    work = CaseQueries(cases.db, cases.catalogue, cases).worklist(ACTORS["cps"]).items
    escalation = next(i for i in work if i.deadline == f"{ESCALATION_PREFIX}interim_services")
    assert escalation.title == "Escalation: Interim services while waiting for treatment missed"
    assert escalation.overdue and escalation.due_at == rows["interim_services"]["due_at"]
    assert work[0].deadline == f"{ESCALATION_PREFIX}interim_services"  # the most urgent item comes first


def test_doing_the_work_late_settles_the_escalation(cases: Cases, clock: FixedClock) -> None:
    case = opened_for_escalation(cases, clock)
    clock.advance(timedelta(days=3))
    missed = tick(cases.db, cases.catalogue, clock.now())
    assert [(m.case_id, m.deadline, m.escalated_to) for m in missed] == [(case.id, "interim_services", "county-cps")]
    case = take(cases, clock, case, "record_interim_services")
    rows = deadlines_of(cases, case.id)
    assert rows["interim_services"]["status"] == "missed"  # it was missed; doing it late does not undo that
    assert rows[f"{ESCALATION_PREFIX}interim_services"]["status"] == "met"


def test_two_workers_never_process_the_same_deadline(cases: Cases, clock: FixedClock) -> None:
    opened = [opened_for_escalation(cases, clock) for _ in range(6)]
    clock.advance(timedelta(days=30))
    results: list[list[Any]] = []
    barrier = threading.Barrier(2)

    def work() -> None:
        barrier.wait()
        results.append(tick(cases.db, cases.catalogue, clock.now(), batch=3))

    workers = [threading.Thread(target=work) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    processed = [(m.case_id, m.deadline) for result in results for m in result]
    assert len(processed) == len(set(processed))
    expected = {(c.id, d) for c in opened for d in ("treatment_admission", "interim_services", "consent")}
    assert set(processed) == expected
    for case in opened:
        missed_events = [e for e in cases.history(case.id) if e.action == MISSED_EVENT]
        assert len(missed_events) == 3 and cases.verify(case.id) == []


def test_overdue_is_computed_when_read_even_without_a_tick(cases: Cases, clock: FixedClock) -> None:
    case = opened_for_escalation(cases, clock)
    clock.advance(timedelta(days=3))
    queries = CaseQueries(cases.db, cases.catalogue, cases)
    view = queries.view(ACTORS["cps"], case.id)
    interim = next(d for d in view.deadlines if d.deadline == "interim_services")
    assert interim.overdue and interim.past_target
    assert [c.id for c in queries.list_cases(ACTORS["cps"], overdue=True).items] == [case.id]


def test_the_routes_cover_every_state(cases: Cases) -> None:
    assert set(ROUTES) == set(cases.catalogue.workflow("charm-posc").states)


# --- clocks start when things happened, not when they were entered ---


def test_a_case_entered_long_after_identification_is_overdue_at_once(cases: Cases, clock: FixedClock) -> None:
    today = clock.now().astimezone(cases.catalogue.workflow("charm-posc").timezone).date()
    case = open_case(cases, clock, identified_on=(today - timedelta(days=61)).isoformat(),
                     due_date=(today + timedelta(days=100)).isoformat())
    admission = deadlines_of(cases, case.id)["treatment_admission"]
    assert admission["due_at"] < clock.now()  # 7 days after identification, long gone
    missed = tick(cases.db, cases.catalogue, clock.now())
    assert {(m.case_id, m.deadline) for m in missed} >= {(case.id, "treatment_admission"), (case.id, "consent")}
    with cases.db.read() as conn:
        row = conn.execute(select(cases_table()).where(cases_table().c.id == case.id)).mappings().one()
    assert row["facts"]["entered_late"] == {"open_case": 61}


def test_a_birth_entered_days_late_gets_no_fresh_clock(cases: Cases, clock: FixedClock) -> None:
    case = drive(cases, clock, open_case(cases, clock, identified_on="2026-10-01"), "plan_agreed")
    born_at = clock.now() - timedelta(days=3)
    take(cases, clock, case, "record_birth", born_at=born_at.isoformat())
    notification = deadlines_of(cases, case.id)["capta_notification"]
    assert notification["opened_at"] == born_at
    assert notification["due_at"] == born_at + timedelta(hours=48)  # already past: a late notification shows
    assert notification["due_at"] < clock.now()


def test_work_done_on_time_but_entered_late_counts_as_on_time(cases: Cases, clock: FixedClock) -> None:
    today = clock.now().astimezone(cases.catalogue.workflow("charm-posc").timezone).date()
    identified = today - timedelta(days=20)
    case = open_case(cases, clock, identified_on=identified.isoformat(),
                     due_date=(today + timedelta(days=100)).isoformat())
    take(cases, clock, case, "record_consent", signed_on=(identified + timedelta(days=1)).isoformat())
    take(cases, clock, case, "admit_to_treatment", admitted_on=(identified + timedelta(days=2)).isoformat())
    admission = deadlines_of(cases, case.id)["treatment_admission"]
    assert admission["status"] == "met"
    assert admission["closed_at"] <= admission["target_at"]  # admitted within 72 hours, as recorded
    consent = deadlines_of(cases, case.id)["consent"]
    assert consent["status"] == "met" and consent["closed_at"] <= consent["target_at"]


def cases_table() -> Any:
    from engine.cases import CASES

    return CASES


def test_tick_processes_at_once_and_actions_meanwhile_never_deadlock(cases: Cases, clock: FixedClock) -> None:
    """Three `posc tick` processes started together, while this process takes actions on the same cases: every
    process ends cleanly, each deadline is missed exactly once, and every case's chain verifies."""
    opened = []
    for _ in range(150):  # three clocks each, the cases three hours apart: their due times interleave
        opened.append(opened_for_escalation(cases, clock))
        clock.advance(timedelta(hours=3))
    env = {**os.environ, "POSC_DATABASE_URL": cases.db.url}
    start = time.time() + 2.0
    script = (
        "import sys, time\n"
        "time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
        "from api.cli import main\n"
        "sys.argv = ['posc', 'tick', '--now', '2027-01-01T00:00:00+00:00', '--allow-future']\n"
        "main()\n"
    )
    runs = [subprocess.Popen([sys.executable, "-c", script, str(start)], env=env, cwd=Path(__file__).parents[2],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    time.sleep(max(0.0, start - time.time()))
    for case in opened[::10]:  # the treatment provider acts on some of the cases while they are ticked
        taken(cases, ACTORS["treatment"], case.id, "record_interim_services",
              action_data("record_interim_services", clock.now(), clock.now().date()))
    results = [(run.wait(timeout=120), *run.communicate()) for run in runs]
    assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    assert not [err for _, _, err in results if "Traceback" in err]
    for case in opened:
        missed = [e.data["deadline"] for e in cases.history(case.id) if e.action == MISSED_EVENT]
        assert sorted(missed) == sorted(set(missed)) and set(missed) >= {"treatment_admission", "consent"}
        assert cases.verify(case.id) == []
