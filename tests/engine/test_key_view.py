"""`GET /cases/{id}`, the most frequent read, checks the API key and reads the case, its lead's contact and its open
deadlines in one statement (`CaseQueries.view_with_key`). It must answer exactly what the engine's general read
answers the same caller (`CaseQueries.view`), refuse what that refuses in the same words, and refuse a key that is
malformed, unknown or revoked before anything about a case."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import CaseQueries, Cases, FixedClock, NotAuthenticated, NotFound, add_user, revoke_key, tick
from tests.factories import ACTORS
from tests.pathway import ROUTES, drive, open_case, take


def test_the_one_statement_view_is_the_view_at_every_stage_for_every_role(cases: Cases, clock: FixedClock) -> None:
    queries = CaseQueries(cases.db, cases.catalogue, cases)
    holders = {
        role: add_user(cases.db, clock, name=f"{role} worker", role=role, organisation=actor.organisation)
        for role, actor in ACTORS.items() if role in cases.catalogue.case_roles
    }
    case_ids = [drive(cases, clock, open_case(cases, clock, last_name=f"Stage{i}"), state).id
                for i, state in enumerate(ROUTES)]
    revoked = take(cases, clock, open_case(cases, clock, last_name="Revoked"), "record_consent")
    case_ids.append(take(cases, clock, revoked, "revoke_consent").id)
    clock.advance(timedelta(days=40))  # deadlines missed and escalated: open escalations, overdue work
    tick(cases.db, cases.catalogue, clock.now())
    seen = 0
    for role, (user, key) in holders.items():
        for case_id in case_ids:
            try:
                expected = queries.view(user.actor, case_id)
            except NotFound as refused:
                with pytest.raises(NotFound) as answered:
                    queries.view_with_key(key, case_id)
                assert str(answered.value) == str(refused), (role, case_id)
                continue
            holder, view = queries.view_with_key(key, case_id)
            assert holder == user
            assert view == expected, (role, case_id)
            seen += bool(view.deadlines)
    assert seen, "some views show open deadlines"


def test_a_key_that_is_not_good_is_refused_before_any_case(cases: Cases, clock: FixedClock) -> None:
    queries = CaseQueries(cases.db, cases.catalogue, cases)
    case = take(cases, clock, open_case(cases, clock), "record_consent")
    user, key = add_user(cases.db, clock, name="Sam Lee", role="cps", organisation="county-cps")
    key_id, secret = key.split("_", 2)[1:]
    revoke_key(cases.db, clock, user.id)
    for bad in (key, f"posc_{key_id}_{secret[::-1]}", f"posc_unknownid_{secret}", "posc__", "Bearer x", ""):
        for case_id in (case.id, "PC-NONE-NONE"):
            with pytest.raises(NotAuthenticated):
                queries.view_with_key(bad, case_id)
