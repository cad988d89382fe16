"""Cases through the engine: opening, the whole pathway, conditional targets, and every kind of refusal, each of
which leaves the database exactly as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from engine import (
    Actor,
    Cases,
    FixedClock,
    Forbidden,
    GuardFailed,
    InvalidForm,
    NotAvailable,
    NotFound,
    StaleVersion,
    UnknownAction,
    caselog,
)
from engine.cases import CASES, DEADLINES, EVENTS, IdempotencyConflict
from engine.errors import AlreadyOpen
from tests.factories import ACTORS, action_data, identification, opened, taken
from tests.pathway import ROUTES, drive, open_case, take


def snapshot(cases: Cases) -> dict[str, Any]:
    """Everything a refusal must leave untouched."""
    with cases.db.read() as conn:
        return {
            "cases": [dict(r) for r in conn.execute(select(CASES).order_by(CASES.c.id)).mappings()],
            "events": conn.execute(select(func.count()).select_from(EVENTS)).scalar(),
            "deadlines": [dict(r) for r in conn.execute(select(DEADLINES).order_by(DEADLINES.c.id)).mappings()],
        }


def test_opening_a_case_records_the_first_event_and_opens_deadlines(cases: Cases, clock: FixedClock) -> None:
    case = open_case(cases, clock)
    assert (case.state, case.phase, case.version) == ("identified", "prenatal", 1)
    assert case.id.startswith("PC-") and "Rivera" not in case.id
    assert case.parties == {"opened_by": "prenatal-clinic", "cps": "county-cps", "hospital": "city-hospital"}
    [event] = cases.history(case.id)
    assert (event.seq, event.action, event.from_state, event.to_state) == (1, "open_case", None, "identified")
    assert event.actor_role == "prenatal" and event.data["last_name"] == "Rivera"
    with cases.db.read() as conn:
        names = set(conn.execute(select(DEADLINES.c.name).where(DEADLINES.c.case_id == case.id)).scalars())
    assert names == {"treatment_admission", "consent", "planning_meeting"}
    assert cases.verify(case.id) == []


@pytest.mark.parametrize("state", sorted(ROUTES))
def test_every_state_is_reached_through_the_pathway_and_replays(cases: Cases, clock: FixedClock, state: str) -> None:
    case = drive(cases, clock, open_case(cases, clock), state)
    assert cases.get(case.id).state == state
    assert [e.seq for e in cases.history(case.id)] == list(range(1, len(ROUTES[state]) + 2))
    assert cases.verify(case.id) == []


def test_birth_goes_to_born_with_plan_only_from_plan_agreed(cases: Cases, clock: FixedClock) -> None:
    with_plan = drive(cases, clock, open_case(cases, clock), "born_with_plan")
    assert with_plan.state == "born_with_plan"
    for state in ("identified", "in_treatment", "meeting_scheduled", "declined"):
        case = drive(cases, clock, open_case(cases, clock), state)
        clock.advance(timedelta(hours=1))
        assert take(cases, clock, case, "record_birth").state == "born_without_plan"


@pytest.mark.parametrize(
    ("start", "concern", "expected"),
    [("born_with_plan", "no", "notified"), ("born_with_plan", "yes", "cps_assessment"),
     ("born_without_plan", "no", "cps_assessment"), ("born_without_plan", "yes", "cps_assessment")],
)
def test_notify_cps_goes_to_notified_only_with_a_plan_and_no_concern(
    cases: Cases, clock: FixedClock, start: str, concern: str, expected: str
) -> None:
    case = drive(cases, clock, open_case(cases, clock), start)
    assert take(cases, clock, case, "notify_cps", safety_concern=concern).state == expected


@pytest.mark.parametrize(("ends_case", "expected"), [("yes", "closed"), ("no", "follow_up")])
def test_concluding_an_investigation_closes_only_when_the_outcome_ends_the_case(
    cases: Cases, clock: FixedClock, ends_case: str, expected: str
) -> None:
    case = drive(cases, clock, open_case(cases, clock), "investigation")
    assert take(cases, clock, case, "conclude_investigation", ends_case=ends_case).state == expected


def test_each_plan_records_a_new_plan_version(cases: Cases, clock: FixedClock) -> None:
    case = drive(cases, clock, open_case(cases, clock), "plan_agreed")
    assert case.facts["plan_version"] == 1
    assert take(cases, clock, case, "update_plan").facts["plan_version"] == 2


def test_discharge_needs_a_plan(cases: Cases, clock: FixedClock) -> None:
    case = drive(cases, clock, open_case(cases, clock), "born_without_plan")
    case = take(cases, clock, case, "notify_cps")
    with pytest.raises(GuardFailed) as refused:
        take(cases, clock, case, "discharge")
    assert refused.value.reasons == ["no discharge without a Plan of Safe Care"]
    case = take(cases, clock, case, "record_plan_at_birth")
    assert take(cases, clock, case, "discharge").state == "follow_up"


def test_closing_as_completed_needs_the_90_day_follow_up(cases: Cases, clock: FixedClock) -> None:
    case = drive(cases, clock, open_case(cases, clock), "follow_up")
    with pytest.raises(GuardFailed, match="90-day follow-up is not met"):
        take(cases, clock, case, "close_case", reason="plan_completed")
    clock.advance(timedelta(days=84))
    case = take(cases, clock, case, "record_follow_up")
    assert take(cases, clock, case, "close_case", reason="plan_completed").state == "closed"


def test_revoking_consent_ends_the_consent_for_scheduling(cases: Cases, clock: FixedClock) -> None:
    case = drive(cases, clock, open_case(cases, clock), "in_treatment")
    case = take(cases, clock, case, "record_consent")
    case = take(cases, clock, case, "revoke_consent")
    with pytest.raises(GuardFailed) as refused:
        take(cases, clock, case, "schedule_planning_meeting")
    assert refused.value.reasons == [
        "no active consent covers county-cps (lead CPS organisation)",
        "no active consent covers recovery-clinic (treatment provider)",
    ]
    with pytest.raises(GuardFailed, match="no active consent to revoke"):
        take(cases, clock, case, "revoke_consent")


# --- refusals: each with its own error, and nothing written ---


def test_a_meeting_outside_the_planning_window_is_refused_with_the_window_dates(
    cases: Cases, clock: FixedClock
) -> None:
    case = drive(cases, clock, open_case(cases, clock, due_date="2027-03-01"), "in_treatment")
    case = take(cases, clock, case, "record_consent")
    before = snapshot(cases)
    with pytest.raises(GuardFailed) as refused:
        take(cases, clock, case, "schedule_planning_meeting", meeting_date="2027-01-10")
    assert refused.value.reasons == [
        "the meeting date 2027-01-10 is outside the planning window 2027-01-30 to 2027-03-01"
    ]
    assert snapshot(cases) == before


def test_refusals_raise_their_own_errors_and_change_nothing(cases: Cases, clock: FixedClock) -> None:
    case = drive(cases, clock, open_case(cases, clock), "referred")
    data = action_data("admit_to_treatment", clock.now(), clock.now().date() + timedelta(days=100))
    before = snapshot(cases)
    treatment, hospital = ACTORS["treatment"], ACTORS["hospital"]
    attempts: list[tuple[type[Exception], str, Any]] = [
        (UnknownAction, "has no action 'admit'", lambda: taken(cases, treatment, case.id, "admit", data)),
        (NotFound, "no case", lambda: taken(cases, treatment, "PC-NONE-NONE", "admit_to_treatment", data)),
        (Forbidden, "hospital role may not admit",
         lambda: taken(cases, hospital, case.id, "admit_to_treatment", data)),
        (NotAvailable, "^notify_cps is not available$",  # the hospital may not see the state "referred"
         lambda: taken(cases, hospital, case.id, "notify_cps", {})),
        (InvalidForm, "level_of_care: must be one of", lambda: taken(cases,
            treatment, case.id, "admit_to_treatment", {**data, "level_of_care": "spa"})),
        (InvalidForm, "provider_org: unknown organisation 'nowhere'", lambda: taken(cases,
            treatment, case.id, "admit_to_treatment", {**data, "provider_org": "nowhere"})),
        (GuardFailed, "is in the future", lambda: taken(cases,
            treatment, case.id, "admit_to_treatment", {**data, "admitted_on": "2027-06-01"})),
        (StaleVersion, "is at version 2, not 1", lambda: taken(cases,
            treatment, case.id, "admit_to_treatment", data, expected_version=1)),
    ]
    for error, message, attempt in attempts:
        with pytest.raises(error, match=message):
            attempt()
        assert snapshot(cases) == before, f"{error.__name__} changed the database"


def test_form_errors_name_every_field_and_why(cases: Cases, clock: FixedClock) -> None:
    bad = identification(
        clock.now().date(), due_date="2027-13-01", gestational_weeks="22", substances=["opioids", "opioids"],
        nickname="Al",
    )
    del bad["last_name"]
    with pytest.raises(InvalidForm) as refused:
        opened(cases, ACTORS["prenatal"], "charm-posc", bad)
    errors = {e.field: e.message for e in refused.value.errors}
    assert errors == {
        "last_name": "is required",
        "due_date": "is not a real calendar date",
        "gestational_weeks": "must be a whole number",
        "substances": "must not repeat a value",
        "nickname": "is not a field of this form",
    }
    assert snapshot(cases)["cases"] == []


def test_nested_record_errors_give_the_path(cases: Cases, clock: FixedClock) -> None:
    case = drive(cases, clock, open_case(cases, clock), "meeting_scheduled")
    with pytest.raises(InvalidForm) as refused:
        take(cases, clock, case, "record_planning_meeting", participants=[{"name": "", "role": "judge"}])
    assert {e.field for e in refused.value.errors} == {"participants[0].name", "participants[0].role"}


def test_born_at_needs_an_offset(cases: Cases, clock: FixedClock) -> None:
    case = drive(cases, clock, open_case(cases, clock), "identified")
    with pytest.raises(InvalidForm, match="born_at: must include a UTC offset"):
        take(cases, clock, case, "record_birth", born_at="2026-11-02T10:00:00")


def test_opening_is_refused_for_a_due_date_too_far_ahead_or_before_identification(
    cases: Cases, clock: FixedClock
) -> None:
    with pytest.raises(GuardFailed, match=r"more than 294 days \(42 weeks\) after the identification date"):
        open_case(cases, clock, due_date="2027-12-01")
    with pytest.raises(GuardFailed, match="must be after the identification date"):
        open_case(cases, clock, due_date="2026-10-01")
    with pytest.raises(Forbidden, match="hospital role may not open a case"):
        opened(cases, ACTORS["hospital"], "charm-posc", identification(clock.now().date()))
    assert snapshot(cases)["cases"] == []


def test_available_actions_explain_what_is_not_allowed(cases: Cases, clock: FixedClock) -> None:
    case = drive(cases, clock, open_case(cases, clock), "referred")
    options = {o.action: o for o in cases.actions(ACTORS["cps"], case.id)}
    # Without a consent the lead CPS may not see that the parent was referred to treatment (a treatment-tier state):
    # it is offered its role's actions of the prenatal phase, and those the state refuses do not say why.
    assert set(options) == {
        "record_consent", "revoke_consent", "refer_to_treatment", "record_declined", "schedule_planning_meeting",
        "record_planning_meeting", "update_plan", "record_pregnancy_loss", "transfer_out", "close_case",
        "amend_identification",
    }
    assert options["transfer_out"].allowed and options["transfer_out"].targets == ["closed"]
    assert options["refer_to_treatment"].reasons == ["not available at this stage of the case"]
    assert options["update_plan"].reasons == ["not available at this stage of the case"]
    assert "no active consent covers county-cps (lead CPS organisation)" in options["schedule_planning_meeting"].reasons
    assert "record_birth" not in options  # another role's action is not offered at all
    treatment = {o.action: o for o in cases.actions(ACTORS["treatment"], case.id)}
    assert treatment["admit_to_treatment"].allowed and treatment["admit_to_treatment"].targets == ["in_treatment"]
    notify = {o.action: o for o in cases.actions(ACTORS["hospital"], drive(
        cases, clock, open_case(cases, clock), "born_with_plan").id)}["notify_cps"]
    assert notify.allowed and notify.targets == []  # a hospital never sees "notified" or "cps_assessment"


def test_terminal_cases_accept_nothing(cases: Cases, clock: FixedClock) -> None:
    case = drive(cases, clock, open_case(cases, clock), "closed")
    assert cases.actions(ACTORS["cps"], case.id) == []
    with pytest.raises(NotAvailable):
        take(cases, clock, case, "transfer_out")


def test_the_database_refuses_to_change_or_delete_events(cases: Cases, clock: FixedClock) -> None:
    case = open_case(cases, clock)
    for statement in ("UPDATE events SET action = 'x'", "DELETE FROM events"):
        with pytest.raises(Exception, match="append-only"), cases.db.write() as conn:
            conn.execute(text(statement))
    assert len(cases.history(case.id)) == 1


def test_verify_reports_a_case_row_that_disagrees_with_its_events(cases: Cases, clock: FixedClock) -> None:
    case = open_case(cases, clock)
    with cases.db.write() as conn:
        conn.execute(CASES.update().where(CASES.c.id == case.id).values(state="plan_agreed"))
    assert cases.verify(case.id) == [
        "case state 'plan_agreed' differs from the replay of its events ('identified')"
    ]


def test_an_organisation_unrelated_to_the_case_may_not_know_it_exists(cases: Cases, clock: FixedClock) -> None:
    case = open_case(cases, clock)
    treatment = Actor("t2", "treatment", "recovery-clinic")
    admission = action_data("admit_to_treatment", clock.now(), clock.now().date() + timedelta(days=120))
    before = snapshot(cases)
    with pytest.raises(NotFound, match="no case"):
        taken(cases, treatment, case.id, "admit_to_treatment", admission)
    with pytest.raises(NotFound, match="no case"):
        cases.actions(treatment, case.id)
    assert snapshot(cases) == before

    case = take(cases, clock, case, "record_consent")  # the consent names recovery-clinic
    case = taken(cases, treatment, case.id, "admit_to_treatment", admission)
    last = cases.history(case.id)[-1]
    assert (last.actor_id, last.organisation, case.state) == ("t2", "recovery-clinic", "in_treatment")
    assert case.parties["treatment"] == "recovery-clinic"


def test_an_evening_birth_is_discharged_on_the_jurisdictions_calendar_day(cases: Cases, clock: FixedClock) -> None:
    # 20:30 in New York on 2 November is 01:30 UTC on 3 November: the birth's calendar day is the 2nd there.
    case = drive(cases, clock, open_case(cases, clock), "plan_agreed")
    clock.set(datetime(2026, 11, 3, 2, 0, tzinfo=UTC))  # 21:00 on 2 November in New York
    case = take(cases, clock, case, "record_birth", born_at="2026-11-03T01:30:00+00:00")
    case = take(cases, clock, case, "notify_cps")
    assert take(cases, clock, case, "discharge", discharged_on="2026-11-02").state == "follow_up"


def test_opening_with_the_same_idempotency_key_opens_one_case(cases: Cases, clock: FixedClock) -> None:
    data = identification(clock.now().date())
    first = cases.open(ACTORS["cps"], "charm-posc", data, idempotency_key="k1")
    again = cases.open(ACTORS["cps"], "charm-posc", data, idempotency_key="k1")
    with pytest.raises(AlreadyOpen):  # another key is another request: the same parent has a case already
        cases.open(ACTORS["cps"], "charm-posc", data, idempotency_key="k2")
    other = cases.open(ACTORS["cps"], "charm-posc", data, idempotency_key="k2", new_pregnancy=True)
    assert again.case.id == first.case.id != other.case.id
    assert (first.replayed, again.replayed) == (False, True)
    with cases.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(CASES)).scalar() == 2
    with pytest.raises(IdempotencyConflict):
        cases.open(ACTORS["cps"], "charm-posc", {**data, "last_name": "Other"}, idempotency_key="k1")
    # Keys belong to their user: another user's "k1" is a new request.
    again_elsewhere = cases.open(ACTORS["prenatal"], "charm-posc", data, idempotency_key="k1", new_pregnancy=True)
    assert again_elsewhere.case.id != first.case.id


def test_a_parent_with_an_open_case_gets_no_second_one_unless_it_is_a_new_pregnancy(
    cases: Cases, clock: FixedClock
) -> None:
    first = open_case(cases, clock, new_pregnancy=False)
    with pytest.raises(AlreadyOpen) as refused:
        open_case(cases, clock, new_pregnancy=False, last_name="  RIVERA ")  # the lookup's match: case, spaces
    assert refused.value.existing == first.id and first.id in refused.value.reasons[0]
    with cases.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(CASES)).scalar() == 1  # nothing half-written
    second = open_case(cases, clock, new_pregnancy=True)
    assert second.id != first.id
    closed = drive(cases, clock, open_case(cases, clock, last_name="Okafor"), "closed")
    reopened = open_case(cases, clock, new_pregnancy=False, last_name="Okafor")
    assert reopened.id != closed.id  # a closed case does not count


def test_a_part_2_programs_case_is_never_named_to_an_organisation_it_has_not_consented_to(
    cases: Cases, clock: FixedClock
) -> None:
    data = identification(clock.now().date(), identified_by="treatment_provider")
    opened(cases, ACTORS["treatment"], "charm-posc", data)
    # The prenatal clinic may not learn that the parent is in a treatment program: its own case opens.
    assert opened(cases, ACTORS["prenatal"], "charm-posc", data).id


def test_the_case_log_appends_nothing_to_a_case_that_moved_on(cases: Cases, clock: FixedClock) -> None:
    """The compare-and-set of `caselog.append` (one statement on PostgreSQL, two on SQLite): an event built on a
    stale read of the case is refused and nothing is written, neither the row nor the event."""
    case = open_case(cases, clock)
    workflow = cases.catalogue.workflow("charm-posc")
    data = action_data("record_consent", clock.now(), clock.now().date())
    with cases.db.write() as conn:
        stale = dict(caselog.load(conn, case.id))
    take(cases, clock, case, "record_consent")  # the case moves on meanwhile
    with pytest.raises(StaleVersion), cases.db.write() as conn:
        caselog.append(conn, workflow, stale, action="record_consent", form="universal_consent",
                       to_state="identified", actor=ACTORS["prenatal"], now=clock.now(), data=data)
    assert [e.action for e in cases.history(case.id)] == ["open_case", "record_consent"]
    assert cases.get(case.id).version == 2 and cases.verify(case.id) == []
