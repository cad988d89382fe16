"""The case list's filters (`GET /cases?state=&phase=&overdue=true`) answer from what each case is now, through every
kind of write: actions that move the state or the phase, deadlines met, missed, escalated, settled late, re-anchored
by a correction, cancelled by closing; consents that add an organisation and revocations that take it away; a new lead
office. They are kept on the case's party rows (`CaseParty`) so that a filter is a range of an index; these tests hold
the copy to the truth, which is the case row and its deadlines."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import product

import pytest
from alembic import command
from sqlalchemy import select

from engine import Actor, Cases, Catalogue, Database, FixedClock, ensure_organisation
from engine.cases import PARTIES
from engine.queries import CaseQueries
from engine.readmodels import CaseSummary
from engine.ticker import tick
from tests.factories import ACTORS, KINDS, ORGANISATIONS, action_data, taken
from tests.pathway import drive, open_case, take

FILTERS = [
    {"state": state, "phase": phase, "overdue": overdue}
    for state, phase, overdue in product(
        [None, "identified", "referred", "plan_agreed", "follow_up", "closed"], [None, "prenatal", "postnatal"],
        [False, True],
    )
]


def listed(queries: CaseQueries, actor: Actor, limit: int = 2, **filters: object) -> list[str]:
    """Every case of the list, page by page (small pages, so the cursor is walked too)."""
    return [item.id for item in items(queries, actor, limit, **filters)]


def items(queries: CaseQueries, actor: Actor, limit: int = 2, **filters: object) -> list[CaseSummary]:
    found: list[CaseSummary] = []
    cursor = None
    while True:
        page = queries.list_cases(actor, limit=limit, cursor=cursor, **filters)  # type: ignore[arg-type]
        found += page.items
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def truth(
    queries: CaseQueries, actor: Actor, visible: list[CaseSummary], *, state: str | None, phase: str | None,
    overdue: bool,
) -> list[str]:
    """The cases that match, from what the caller is shown of each: a state filter matches only where the caller sees
    the state (a partner without the parent's consent sees that there is a case, not where it stands); overdue is
    open work the caller's case view shows past its due time (its own deadlines; for the lead office, all of them and
    the escalations of missed ones)."""
    matching = []
    for item in visible:
        case = queries.cases.get(item.id)
        assert item.state in (case.state, None) and item.phase == case.phase
        if (state and item.state != state) or (phase and case.phase != phase):
            continue
        if overdue and not any(d.overdue for d in queries.view(actor, item.id).deadlines):
            continue
        matching.append(item.id)
    return matching


def assert_every_reader_agrees(cases: Cases, *others: Actor) -> None:
    for actor in [*(ACTORS[role] for role in ("cps", "treatment", "peer", "prenatal", "hospital")), *others]:
        assert_filters_agree(cases, actor)


def assert_filters_agree(cases: Cases, actor: Actor) -> list[str]:
    queries = CaseQueries(cases.db, cases.catalogue, cases)
    visible = items(queries, actor, limit=50)
    ids = [item.id for item in visible]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for filters in FILTERS:
        assert listed(queries, actor, **filters) == truth(queries, actor, visible, **filters), filters  # type: ignore[arg-type]
    return ids


@pytest.fixture
def many(cases: Cases, clock: FixedClock, today: date) -> dict[str, str]:
    """Cases in several states and phases, some with work past due."""
    later = (today + timedelta(days=120)).isoformat()
    made = {
        "fresh": open_case(cases, clock, last_name="Fresh", due_date=later),
        "referred": drive(cases, clock, open_case(cases, clock, last_name="Referred", due_date=later), "referred"),
        "treated": drive(cases, clock, open_case(cases, clock, last_name="Treated"), "in_treatment"),
        "planned": drive(cases, clock, open_case(cases, clock, last_name="Planned"), "plan_agreed"),
        "followed": drive(cases, clock, open_case(cases, clock, last_name="Followed"), "follow_up"),
        "closed": drive(cases, clock, open_case(cases, clock, last_name="Closed"), "closed"),
    }
    return {name: case.id for name, case in made.items()}


def test_every_filter_answers_from_the_case_as_it_is_now(cases: Cases, clock: FixedClock, many: dict[str, str]) -> None:
    cps, queries = ACTORS["cps"], CaseQueries(cases.db, cases.catalogue, cases)
    assert set(assert_filters_agree(cases, cps)) == set(many.values())
    clock.advance(timedelta(days=3))  # interim services (48 h) is past due, with no write at all
    assert many["referred"] in listed(queries, cps, overdue=True, phase="prenatal")
    assert_filters_agree(cases, cps)
    tick(cases.db, cases.catalogue, clock.now())  # missed and escalated: still work past due
    assert many["referred"] in assert_filters_agree(cases, cps)
    referred = cases.get(many["referred"])
    take(cases, clock, referred, "record_interim_services")  # done late: the escalation is settled
    assert_filters_agree(cases, cps)
    clock.advance(timedelta(days=30))  # most clocks now past due, in both phases
    assert_filters_agree(cases, cps)
    tick(cases.db, cases.catalogue, clock.now())  # late work leaves its owner's open work for the lead's
    assert_every_reader_agrees(cases)
    for name in ("fresh", "referred"):
        cases.act(cps, many[name], "transfer_out", action_data("transfer_out", clock.now(), date.today()))
    overdue = listed(queries, cps, overdue=True)
    assert many["fresh"] not in overdue and many["referred"] not in overdue  # closing leaves nothing to do
    assert set(listed(queries, cps, state="closed")) == {many["closed"], many["fresh"], many["referred"]}
    assert_every_reader_agrees(cases)


def test_a_consented_organisation_filters_its_cases_until_the_consent_is_revoked(
    cases: Cases, clock: FixedClock, many: dict[str, str]
) -> None:
    peer = ACTORS["peer"]
    treated = cases.get(many["treated"])
    take(cases, clock, treated, "record_consent", organisations=["county-cps", "peer-network"])
    clock.advance(timedelta(days=40))
    visible = assert_filters_agree(cases, peer)
    assert many["treated"] in visible
    tick(cases.db, cases.catalogue, clock.now())
    assert_every_reader_agrees(cases)
    take(cases, clock, cases.get(many["treated"]), "revoke_consent")
    assert many["treated"] not in assert_filters_agree(cases, peer)


def test_a_new_lead_office_and_corrected_clocks_are_filtered_at_once(
    cases: Cases, clock: FixedClock, today: date
) -> None:
    ensure_organisation(cases.db, clock, "river-cps", "River County CPS", kind="cps")
    river = Actor("river-user", "cps", "river-cps")
    typo = today - timedelta(days=91)  # entered three months too early: overdue the moment it is entered
    case = open_case(cases, clock, identified_on=typo.isoformat(), due_date=(today + timedelta(days=120)).isoformat())
    queries = CaseQueries(cases.db, cases.catalogue, cases)
    assert listed(queries, ACTORS["cps"], overdue=True) == [case.id]
    tick(cases.db, cases.catalogue, clock.now())
    taken(cases, ACTORS["cps"], case.id, "amend_identification",
          {"reason": "checked against the parent's ID", "identified_on": today.isoformat()})
    assert listed(queries, ACTORS["cps"], overdue=True) == []  # the clocks restart from the right date
    taken(cases, ACTORS["cps"], case.id, "amend_identification", {"reason": "moved", "lead_cps_org": "river-cps"})
    assert listed(queries, ACTORS["cps"]) == []
    assert listed(queries, river, phase="prenatal", state="identified") == [case.id]
    clock.advance(timedelta(days=8))
    assert listed(queries, river, overdue=True, phase="prenatal") == [case.id]
    assert_every_reader_agrees(cases, river)


def party_columns(db: Database) -> list[tuple[object, ...]]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(select(
            PARTIES.c.case_id, PARTIES.c.party, PARTIES.c.state, PARTIES.c.phase, PARTIES.c.overdue_from,
        ).order_by(PARTIES.c.case_id, PARTIES.c.party))]


def test_migration_0007_fills_the_filters_of_an_existing_database_as_the_engine_would(
    empty_database: Database, catalogue: Catalogue, clock: FixedClock
) -> None:
    database = empty_database
    database.upgrade()
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(database, clock, org_id, name, kind=KINDS[org_id])
    cases = Cases(database, catalogue, clock)
    for state in ("referred", "plan_agreed", "follow_up", "closed"):
        drive(cases, clock, open_case(cases, clock, last_name=state.title()), state)
    clock.advance(timedelta(days=20))
    tick(database, catalogue, clock.now())
    expected = party_columns(database)
    assert any(row[4] is not None for row in expected) and any(row[4] is None for row in expected)
    with database.engine.begin() as conn:
        command.downgrade(database.alembic_config(conn), "0006")
    database.upgrade()
    assert party_columns(database) == expected
    assert_every_reader_agrees(cases)

