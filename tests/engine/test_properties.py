"""Property tests: random sequences of actions (allowed and not), by random roles, with valid and broken data,
never reach a state the definition does not allow, never leave a partial write after a refusal, and always leave
the case row equal to the replay of its events with an intact hash chain, the party rows (the case list's filters)
equal to the case, and answer with the case as the caller reads it afterwards."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from engine import CaseQueries, Cases, FixedClock, NotFound, PoscError
from engine.actor import Actor
from engine.cases import CASES, CONSENT_PARTY, CONSENTS, DEADLINES, EVENTS
from engine.readmodels import CaseView
from engine.scope import PARTIES
from tests.conftest import START
from tests.factories import ACTORS, action_data, identification, local_date
from tests.pathway import at_delivery, due_date

ACTIONS = sorted(
    ["record_consent", "revoke_consent", "refer_to_treatment", "record_interim_services", "admit_to_treatment",
     "record_disengagement", "record_declined", "schedule_planning_meeting", "record_planning_meeting",
     "update_plan", "record_birth", "notify_cps", "record_plan_at_birth", "record_referral", "discharge",
     "record_follow_up", "report_safety_concern", "conclude_investigation", "record_pregnancy_loss",
     "transfer_out", "close_case", "no_such_action"]
)
#: Data variations that pick different conditional targets and guards.
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "notify_cps": [{"safety_concern": "no"}, {"safety_concern": "yes"}],
    "conclude_investigation": [{"ends_case": "no"}, {"ends_case": "yes"}],
    "close_case": [{"reason": "moved_away"}, {"reason": "plan_completed"}],
    "record_follow_up": [{"contact_type": "pediatric_visit"}, {"contact_type": "postpartum_visit"}],
    "record_planning_meeting": [{}, {"parent_participated": "no"}],
}

HOW = st.sampled_from(["valid"] * 6 + ["unknown_field", "missing_field", "not_an_object"])
HOURS = st.sampled_from([0, 1, 24, 24 * 9, 24 * 40, 24 * 84])


def case_rows(cases: Cases, case_id: str) -> dict[str, Any]:
    with cases.db.read() as conn:
        return {
            "case": dict(conn.execute(select(CASES).where(CASES.c.id == case_id)).mappings().one()),
            "events": conn.execute(select(func.count()).where(EVENTS.c.case_id == case_id)).scalar(),
            "deadlines": [dict(r) for r in conn.execute(
                select(DEADLINES).where(DEADLINES.c.case_id == case_id).order_by(DEADLINES.c.id)).mappings()],
            "consents": [dict(r) for r in conn.execute(
                select(CONSENTS).where(CONSENTS.c.case_id == case_id).order_by(CONSENTS.c.id)).mappings()],
        }


def party_rows_problems(cases: Cases, case_id: str) -> list[str]:
    """How the case's party rows (what the case list filters on) differ from the case as it is: a row for each
    party (and one for each organisation its consents cover), each with the case's state and phase and the
    earliest due time of the open work its organisation may see (all of it for the organisation leading the case).
    On PostgreSQL the usual action writes them in the statement that writes the deadlines (`engine.onewrite`)."""
    with cases.db.read() as conn:
        case = conn.execute(select(CASES).where(CASES.c.id == case_id)).mappings().one()
        rows = conn.execute(select(PARTIES).where(PARTIES.c.case_id == case_id)).mappings().all()
        open_work = conn.execute(select(DEADLINES.c.due_at, DEADLINES.c.owner_org).where(
            DEADLINES.c.case_id == case_id, DEADLINES.c.status == "open")).all()
    lead = case["parties"].get(cases.catalogue.workflow(case["workflow_id"]).spec.escalate_to)
    problems = []
    named = {(r["party"], r["organisation"]) for r in rows if not r["party"].startswith(CONSENT_PARTY)}
    if named != set(case["parties"].items()):
        problems.append(f"party rows {sorted(named)} != {case['parties']}")
    problems += [f"consent row {r['party']} for {r['organisation']}" for r in rows
                 if r["party"].startswith(CONSENT_PARTY) and r["party"] != f"{CONSENT_PARTY}{r['organisation']}"]
    for row in rows:
        seen = [due for due, owner in open_work if owner == row["organisation"] or row["organisation"] == lead]
        expected = (case["state"], case["phase"], min(seen) if seen else None)
        if (row["state"], row["phase"], row["overdue_from"]) != expected:
            problems.append(f"party row {row['party']}: {(row['state'], row['phase'], row['overdue_from'])} != "
                            f"{expected}")
    return problems


def read_back(cases: Cases, actor: Actor, case_id: str) -> CaseView | None:
    """The case as `actor` reads it now (None: it may not know the case any more)."""
    try:
        return CaseQueries(cases.db, cases.catalogue, cases).view(actor, case_id)
    except NotFound:
        return None


def comparable(view: CaseView | None) -> dict[str, Any] | None:
    """A view as a dict, its deadlines in a fixed order (two with the same due time may come in either), and with
    no access only whether there is any."""
    if view is None or not view.tiers:
        return None
    found = view.model_dump()
    found["deadlines"] = sorted(found["deadlines"], key=lambda d: (d["due_at"], d["deadline"]))
    return found


def broken(data: dict[str, Any], how: str) -> Any:
    if how == "unknown_field":
        return {**data, "unexpected": "x"}
    if how == "missing_field":
        return dict(list(data.items())[1:])
    if how == "not_an_object":
        return ["not", "an", "object"]
    return data


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(draw=st.data())
def test_random_action_sequences_keep_every_invariant(cases: Cases, clock: FixedClock, draw: st.DataObject) -> None:
    workflow = cases.catalogue.workflow("charm-posc")
    clock.set(START)  # every example starts on the same day (the fixture's clock outlives examples)
    # Opened before birth by any role that may, or at delivery by the hospital (the case opens and the birth is
    # recorded in one step): either way the answer is the case as the opener then reads it.
    opener = ACTORS[draw.draw(st.sampled_from(["prenatal", "cps", "treatment", "peer", "hospital"]), label="opener")]
    if opener.role == "hospital":
        data, birth = at_delivery(clock)
        answered = cases.open(opener, "charm-posc", data, variant=("birth", birth), new_pregnancy=True).case
    else:
        answered = cases.open(opener, "charm-posc", identification(
            local_date(clock.now()), due_date=(local_date(clock.now()) + timedelta(days=25)).isoformat()),
            new_pregnancy=True).case
    assert comparable(answered) == comparable(read_back(cases, opener, answered.id)), "the answer is not the case"
    assert party_rows_problems(cases, answered.id) == []
    case = cases.get(answered.id)
    for _ in range(draw.draw(st.integers(min_value=1, max_value=30), label="steps")):
        state = cases.get(case.id).state
        available = sorted(a for a, c in workflow.actions.items() if state in c.sources)
        # Half the time an action of the current state, half the time anything (including unknown actions).
        action = draw.draw(st.sampled_from(available) | st.sampled_from(ACTIONS) if available
                           else st.sampled_from(ACTIONS), label="action")
        roles = sorted(workflow.actions[action].roles) if action in workflow.actions else sorted(ACTORS)
        role = draw.draw(st.sampled_from(roles) | st.sampled_from(sorted(ACTORS)), label="role")
        clock.advance(timedelta(hours=draw.draw(HOURS, label="hours")))
        data = action_data(action, clock.now(), due_date(case)) if action in workflow.actions else {}
        options = VARIANTS.get(action, [{}])
        data = broken({**data, **draw.draw(st.sampled_from(options), label="variant")}, draw.draw(HOW, label="how"))
        before = case_rows(cases, case.id)
        try:
            answer = cases.act(ACTORS[role], case.id, action, data).case
        except PoscError:
            assert case_rows(cases, case.id) == before, f"refused {action} changed the database"
            continue
        after_case = cases.get(case.id)
        assert comparable(answer) == comparable(read_back(cases, ACTORS[role], case.id)), "the answer is not the case"
        compiled = workflow.actions[action]
        assert role in compiled.roles
        assert state in compiled.sources
        assert after_case.state in compiled.targets_from(state)
        assert case_rows(cases, case.id)["events"] == before["events"] + 1
        assert cases.verify(case.id) == []
        assert party_rows_problems(cases, case.id) == []
        event(f"reached {after_case.state}")
    assert cases.get(case.id).state in workflow.states
    assert cases.verify(case.id) == []
