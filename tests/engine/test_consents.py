"""A case's consents are kept in its row, current as the case changes: renewing a consent many times costs nothing
more on the next action, revocation ends them all, and a database from before (migration 0006) gets the same."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from alembic import command

from engine import CaseQueries, Cases, Catalogue, Database, FixedClock, ensure_organisation
from tests.factories import ACTORS, KINDS, ORGANISATIONS, action_data
from tests.pathway import open_case, take
from tests.sqlcount import statements

PARTNERS = ["county-cps", "recovery-clinic", "city-hospital", "prenatal-clinic"]


def consent(clock: FixedClock, *, days: int = 365, organisations: list[str] | None = None,
            categories: list[str] | None = None, signed_days_ago: int = 0) -> dict[str, Any]:
    today = clock.now().date()
    data = action_data("record_consent", clock.now(), today)
    data.update(signed_on=(today - timedelta(days=signed_days_ago)).isoformat(),
                expires_on=(today + timedelta(days=days)).isoformat())
    if organisations is not None:
        data["organisations"] = organisations
    if categories is not None:
        data["categories"] = categories
    return data


def test_renewing_a_consent_keeps_one_entry_with_its_latest_expiry(cases: Cases, clock: FixedClock) -> None:
    case = open_case(cases, clock)
    for days in (30, 365, 90):  # a renewal that ends sooner never shortens the consent in force
        case = take(cases, clock, case, "record_consent", **consent(clock, days=days, organisations=PARTNERS))
    today = clock.now().date()
    assert case.facts["consents"] == [{
        "organisations": sorted(PARTNERS), "categories": ["plan", "status"], "signed_on": today.isoformat(),
        "expires_on": (today + timedelta(days=365)).isoformat(),
    }]
    assert cases.verify(case.id) == []


def test_consents_of_other_shapes_are_kept_apart_and_revocation_ends_them_all(
    cases: Cases, clock: FixedClock
) -> None:
    case = open_case(cases, clock)
    queries = CaseQueries(cases.db, cases.catalogue, cases)
    case = take(cases, clock, case, "record_consent", **consent(clock, organisations=["county-cps"]))
    case = take(cases, clock, case, "record_consent", **consent(
        clock, organisations=["recovery-clinic"], categories=["status", "plan", "treatment"]))
    assert len(case.facts["consents"]) == 2
    assert queries.view(ACTORS["treatment"], case.id).tiers == ["status", "plan", "treatment"]
    case = take(cases, clock, case, "revoke_consent")
    assert case.facts["consents"] == []
    assert cases.verify(case.id) == []
    case = take(cases, clock, case, "record_consent", **consent(clock, organisations=["county-cps"]))
    assert [e["organisations"] for e in case.facts["consents"]] == [["county-cps"]]


def test_a_consent_past_its_expiry_no_longer_counts(cases: Cases, clock: FixedClock) -> None:
    case = open_case(cases, clock)
    take(cases, clock, case, "record_consent", **consent(clock, days=10, organisations=PARTNERS))
    queries = CaseQueries(cases.db, cases.catalogue, cases)
    assert queries.view(ACTORS["treatment"], case.id).tiers == ["status", "plan"]
    clock.advance(timedelta(days=11))
    assert [o.action for o in cases.actions(ACTORS["cps"], case.id) if o.action == "revoke_consent" and o.allowed] \
        == []  # nothing left to revoke


def test_an_action_reads_no_consent_history_however_often_the_consent_was_renewed(
    cases: Cases, clock: FixedClock
) -> None:
    """The cost of an action does not grow with the case's consents: the access decision and the consent guards
    read the case row, never the consents table, and the statements run are the same for a case whose consent was
    renewed forty times as for a case with one."""
    warm, fresh, busy = (open_case(cases, clock, last_name=n) for n in ("Warm", "Fresh", "Busy"))
    for case in (warm, fresh):
        take(cases, clock, case, "record_consent", **consent(clock))
    for _ in range(40):
        busy = take(cases, clock, busy, "record_consent", **consent(clock))
    take(cases, clock, warm, "admit_to_treatment")  # organisation kinds are read once per engine, then known
    runs = []
    for case in (fresh, busy):
        with statements(cases.db) as seen:
            take(cases, clock, case, "admit_to_treatment")
        runs.append(seen)
    assert not [s for s in runs[0] + runs[1] if "FROM consents" in s]
    assert runs[0] == runs[1]


def test_migration_0006_gives_an_existing_database_the_consents_the_fold_would(
    empty_database: Database, catalogue: Catalogue, clock: FixedClock
) -> None:
    database = empty_database
    database.upgrade()
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(database, clock, org_id, name, kind=KINDS[org_id])
    cases = Cases(database, catalogue, clock)
    renewed, revoked, none = (open_case(cases, clock, last_name=n) for n in ("Renewed", "Revoked", "None"))
    for days in (30, 200):
        take(cases, clock, renewed, "record_consent", **consent(clock, days=days))
    take(cases, clock, renewed, "record_consent", **consent(clock, organisations=["county-cps"]))
    take(cases, clock, revoked, "record_consent", **consent(clock))
    take(cases, clock, revoked, "revoke_consent")
    expected = {c.id: cases.get(c.id).facts for c in (renewed, revoked, none)}
    assert len(expected[renewed.id]["consents"]) == 2 and expected[revoked.id]["consents"] == []

    with database.engine.begin() as conn:  # as the rows were before 0006
        command.downgrade(database.alembic_config(conn), "0005")
    assert all("consents" not in cases.get(case_id).facts for case_id in expected)

    database.upgrade()
    assert {case_id: cases.get(case_id).facts for case_id in expected} == expected
    assert all(cases.verify(case_id) == [] for case_id in expected)
