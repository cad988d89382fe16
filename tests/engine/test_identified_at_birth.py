"""Identification at birth: hospital staff open a case at delivery for an infant whose parent was not identified
before birth. The identification and the birth are recorded in one step; the case starts in the birth phase on the
CAPTA notification clock, and no prenatal clock ever opens. Every refusal leaves nothing behind."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine import Cases, FixedClock, Forbidden, GuardFailed, InvalidForm
from engine.cases import DEADLINES
from engine.errors import AlreadyOpen
from engine.queries import CaseQueries
from tests.engine.test_cases import snapshot
from tests.factories import ACTORS, identification, local_date, opened
from tests.pathway import at_delivery, open_at_delivery, open_case, take


def deadline_rows(cases: Cases, case_id: str) -> dict[str, Any]:
    with cases.db.read() as conn:
        rows = conn.execute(select(DEADLINES).where(DEADLINES.c.case_id == case_id)).mappings().all()
    return {r["name"]: r for r in rows}


def test_a_case_opened_at_delivery_starts_in_the_birth_phase_on_the_capta_clock(
    cases: Cases, clock: FixedClock
) -> None:
    data, birth = at_delivery(clock)
    case = opened(cases, ACTORS["hospital"], "charm-posc", data, variant=("birth", birth))
    assert (case.state, case.phase, case.version) == ("born_without_plan", "birth", 2)
    assert case.data["identified_by"] == "hospital"
    assert case.parties["opened_by"] == "city-hospital" and case.parties["cps"] == "county-cps"
    first, born = cases.history(case.id)
    assert (first.action, first.to_state, born.action, born.from_state, born.to_state) == (
        "open_case", "identified", "record_birth", "identified", "born_without_plan")
    assert first.occurred_at == born.occurred_at and born.actor_role == "hospital"
    rows = deadline_rows(cases, case.id)
    # No prenatal clock: not even opened and cancelled. The birth's clocks run from the time of birth.
    assert set(rows) == {"capta_notification", "plan_before_discharge", "early_intervention_referral",
                         "postpartum_contact", "monitoring_period"}
    assert rows["capta_notification"]["opened_at"] == clock.now() - timedelta(hours=1)
    assert all(r["status"] == "open" for r in rows.values())
    assert cases.verify(case.id) == []


def test_the_hospital_sees_its_case_and_the_lead_cps_office_has_the_plan_to_make(
    cases: Cases, clock: FixedClock
) -> None:
    case = open_at_delivery(cases, clock)
    queries = CaseQueries(cases.db, cases.catalogue, cases)
    hospital = queries.view(ACTORS["hospital"], case.id)
    assert hospital.state == "born_without_plan"
    cps = queries.worklist(ACTORS["cps"], limit=50).items
    assert "plan_before_discharge" in {i.deadline for i in cps if i.case == case.id}
    # The pathway goes on as for any birth without a plan.
    take(cases, clock, case, "notify_cps")
    assert cases.get(case.id).state == "cps_assessment"


def test_a_late_entry_at_delivery_is_overdue_at_once(cases: Cases, clock: FixedClock) -> None:
    born_at = clock.now() - timedelta(hours=60)
    data, birth = at_delivery(clock, identified_on=local_date(born_at).isoformat())
    case = opened(cases, ACTORS["hospital"], "charm-posc", data,
                           variant=("birth", {**birth, "born_at": born_at.isoformat()}))
    capta = deadline_rows(cases, case.id)["capta_notification"]
    assert capta["due_at"] == born_at + timedelta(hours=48) < clock.now()


@pytest.mark.parametrize("role", ["prenatal", "cps", "treatment", "peer"])
def test_only_hospital_staff_open_a_case_at_delivery(cases: Cases, clock: FixedClock, role: str) -> None:
    data, birth = at_delivery(clock)
    before = snapshot(cases)
    with pytest.raises(Forbidden):
        opened(cases, ACTORS[role], "charm-posc", data, variant=("birth", birth))
    assert snapshot(cases) == before


def test_a_hospital_may_not_open_a_prenatal_case(cases: Cases, clock: FixedClock) -> None:
    with pytest.raises(Forbidden):
        opened(cases, ACTORS["hospital"], "charm-posc", identification(local_date(clock.now())))


def test_a_prenatal_opening_cannot_claim_identification_by_the_hospital(cases: Cases, clock: FixedClock) -> None:
    with pytest.raises(InvalidForm) as refused:
        open_case(cases, clock, identified_by="hospital")
    [error] = refused.value.errors
    assert error.field == "identified_by" and "open a case at delivery" in error.message


def test_the_opening_at_delivery_sets_identified_by_and_refuses_another_value(
    cases: Cases, clock: FixedClock
) -> None:
    with pytest.raises(InvalidForm) as refused:
        open_at_delivery(cases, clock, identified_by="cps")
    assert [e.field for e in refused.value.errors] == ["identified_by"]


def test_birth_form_errors_are_named_under_birth_and_nothing_is_stored(cases: Cases, clock: FixedClock) -> None:
    before = snapshot(cases)
    with pytest.raises(InvalidForm) as refused:
        open_at_delivery(cases, clock, birth={"birth_weight_grams": 12, "safety_concern": None})
    assert {e.field for e in refused.value.errors} == {"birth.birth_weight_grams", "birth.safety_concern"}
    assert snapshot(cases) == before


def test_the_birth_rules_apply_to_a_case_opened_at_delivery(cases: Cases, clock: FixedClock) -> None:
    before = snapshot(cases)
    future = (clock.now() + timedelta(hours=2)).isoformat()
    with pytest.raises(GuardFailed) as refused:
        open_at_delivery(cases, clock, birth={"born_at": future})
    assert "in the future" in refused.value.reasons[0]
    # Born before the identification date: the hospital identifies on the day of birth or before.
    tomorrow = (local_date(clock.now()) + timedelta(days=1)).isoformat()
    with pytest.raises(GuardFailed):
        open_at_delivery(cases, clock, identified_on=tomorrow)
    # A due date 30 weeks after the birth is no live birth the form knows.
    far = (local_date(clock.now()) + timedelta(weeks=30)).isoformat()
    with pytest.raises(GuardFailed) as refused:
        open_at_delivery(cases, clock, due_date=far)
    assert "range of a birth around the due date" in refused.value.reasons[0]
    assert snapshot(cases) == before


def test_a_post_term_birth_after_the_due_date_is_accepted(cases: Cases, clock: FixedClock) -> None:
    due = (local_date(clock.now()) - timedelta(days=10)).isoformat()
    assert open_at_delivery(cases, clock, due_date=due).state == "born_without_plan"


def test_the_hospital_opens_only_for_itself(cases: Cases, clock: FixedClock) -> None:
    with pytest.raises(InvalidForm) as refused:
        open_at_delivery(cases, clock, delivery_hospital="valley-hospital")
    assert [e.field for e in refused.value.errors] == ["delivery_hospital"]


def test_a_parent_with_an_open_case_the_hospital_can_find_is_not_opened_twice(
    cases: Cases, clock: FixedClock
) -> None:
    existing = open_case(cases, clock)
    with pytest.raises(AlreadyOpen) as refused:
        open_at_delivery(cases, clock, new_pregnancy=False)
    assert refused.value.existing == existing.id


def test_an_unknown_way_in_is_refused(cases: Cases, clock: FixedClock) -> None:
    data, birth = at_delivery(clock)
    with pytest.raises(InvalidForm) as refused:
        opened(cases, ACTORS["hospital"], "charm-posc", data, variant=("adoption", birth))
    assert refused.value.errors[0].field == "adoption"
