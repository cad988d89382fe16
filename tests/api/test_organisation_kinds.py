"""Organisation kinds over HTTP and on the command line: a field refuses an organisation of another kind with a 422
naming the field and stores nothing, `GET /organisations?kind=` lists organisations by kind, and `posc users add`
sets and guards an organisation's kind."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from engine import Database, FixedClock, ensure_organisation
from engine.cases import CASES, EVENTS
from tests.api.conftest import Api
from tests.api.test_cli import assert_one_line_error, posc
from tests.api.test_http import assert_problem
from tests.factories import identification


def counts(db: Database) -> tuple[int, int]:
    with db.read() as conn:
        return (int(conn.execute(select(func.count()).select_from(CASES)).scalar() or 0),
                int(conn.execute(select(func.count()).select_from(EVENTS)).scalar() or 0))


def errors_of(response: Any) -> dict[str, str]:
    errors: list[dict[str, str]] = assert_problem(response, 422)["errors"]  # type: ignore[assignment]
    return {e["field"]: e["message"] for e in errors}


def test_a_hospital_named_as_lead_cps_is_refused_and_nothing_is_stored(api: Api, db: Database) -> None:
    before = counts(db)
    body = {"workflow": "charm-posc", "data": identification(api.today(), lead_cps_org="city-hospital")}
    errors = errors_of(api.post("/cases", "prenatal", body))
    assert errors == {"lead_cps_org": "city-hospital is a hospital organisation; this field takes a cps organisation"}
    assert counts(db) == before


def test_a_provider_of_another_kind_is_refused(api: Api, db: Database) -> None:
    case = api.open_case()
    before = counts(db)
    errors = errors_of(api.act(case, "refer_to_treatment", provider_org="county-cps"))
    assert errors == {"provider_org": "county-cps is a cps organisation; this field takes a treatment organisation"}
    assert counts(db) == before


def test_a_treatment_program_admits_only_to_itself(api: Api, db: Database, clock: FixedClock) -> None:
    ensure_organisation(db, clock, "harbor-recovery", "Harbor Recovery", kind="treatment")
    case = api.drive(api.open_case(), ["refer_to_treatment"])
    before = counts(db)
    errors = errors_of(api.act(case, "admit_to_treatment", provider_org="harbor-recovery"))
    assert list(errors) == ["provider_org"]
    assert errors["provider_org"].endswith("only for itself (your organisation is recovery-clinic)")
    assert counts(db) == before
    assert api.get(f"/cases/{case['id']}", "treatment").json()["version"] == case["version"]
    assert api.act(case, "admit_to_treatment").status_code == 200


def test_a_consent_cannot_name_the_states_or_the_administrators_organisation(api: Api, db: Database) -> None:
    case = api.open_case()
    before = counts(db)
    errors = errors_of(api.act(case, "record_consent", organisations=["county-cps", "state-analytics", "posc-admin"]))
    assert errors == {
        "organisations[1]": "state-analytics is a state organisation; this field takes a cps, treatment, hospital, "
                            "prenatal or peer organisation",
        "organisations[2]": "posc-admin is an admin organisation; this field takes a cps, treatment, hospital, "
                            "prenatal or peer organisation",
    }
    assert counts(db) == before


def test_organisations_by_kind(api: Api) -> None:
    everyone = api.get("/organisations", "peer")
    assert everyone.status_code == 200
    listed = everyone.json()
    assert [o["name"] for o in listed] == sorted(o["name"] for o in listed)
    assert {o["id"]: o["kind"] for o in listed} == {
        "county-cps": "cps", "recovery-clinic": "treatment", "peer-network": "peer", "prenatal-clinic": "prenatal",
        "city-hospital": "hospital", "valley-hospital": "hospital", "state-analytics": "state", "posc-admin": "admin",
    }
    assert api.get("/organisations?kind=cps", "analyst").json() == [
        {"id": "county-cps", "name": "County Child Protective Services", "kind": "cps"}
    ]
    assert [o["id"] for o in api.get("/organisations", "admin", params={"kind": "hospital"}).json()] == [
        "city-hospital", "valley-hospital"
    ]
    assert errors_of(api.get("/organisations?kind=clinic", "cps")) == {
        "kind": "unknown organisation kind 'clinic': one of cps, treatment, hospital, prenatal, peer, state, admin"
    }
    assert "kind" in str(assert_problem(api.get(f"/organisations?kind={'x' * 40}", "cps"), 422)["errors"])
    assert_problem(api.client.get("/organisations"), 401)


def test_the_form_schema_names_the_kinds_each_organisation_field_takes(api: Api) -> None:
    schema = api.get("/forms/identification", "cps").json()
    assert schema["properties"]["lead_cps_org"]["x-organisation-kinds"] == ["cps"]
    assert schema["properties"]["delivery_hospital"]["x-organisation-kinds"] == ["hospital"]
    consent = api.get("/forms/universal_consent", "cps").json()
    assert consent["properties"]["organisations"]["x-organisation-kinds"] == [
        "cps", "treatment", "hospital", "prenatal", "peer"
    ]


# --- posc users add ----------------------------------------------------------------------------------------------


def users_add(database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POSC_DATABASE_URL": f"sqlite:///{database}"}
    return posc("users", "add", "--name", "Someone", *args, env=env)


def kinds(database: Path) -> dict[str, str]:
    with sqlite3.connect(database) as conn:
        return dict(conn.execute("SELECT id, kind FROM organisations").fetchall())


def test_users_add_sets_the_kind_of_a_new_organisation(tmp_path: Path) -> None:
    database = tmp_path / "posc.db"
    made = users_add(database, "--role", "cps", "--org", "county-cps")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().startswith("posc_")
    assert users_add(database, "--role", "analyst", "--org", "state-office").returncode == 0
    given = users_add(database, "--role", "hospital", "--org", "city-hospital", "--org-kind", "hospital",
                      "--org-name", "City Hospital")
    assert given.returncode == 0, given.stderr
    again = users_add(database, "--role", "cps", "--org", "county-cps", "--org-kind", "cps")
    assert again.returncode == 0, again.stderr
    assert kinds(database) == {"county-cps": "cps", "state-office": "state", "city-hospital": "hospital"}


def test_users_add_refuses_a_kind_that_contradicts_the_organisation_or_the_role(tmp_path: Path) -> None:
    database = tmp_path / "posc.db"
    assert users_add(database, "--role", "cps", "--org", "county-cps").returncode == 0
    assert_one_line_error(
        users_add(database, "--role", "cps", "--org", "county-cps", "--org-kind", "hospital"),
        "org_kind: the organisation county-cps is already of kind cps",
    )
    assert_one_line_error(
        users_add(database, "--role", "hospital", "--org", "county-cps"),
        "role: a hospital user cannot belong to county-cps, a cps organisation",
    )
    assert_one_line_error(
        users_add(database, "--role", "cps", "--org", "new-office", "--org-kind", "treatment"),
        "role: a cps user cannot belong to new-office, a treatment organisation",
    )
    assert_one_line_error(
        users_add(database, "--role", "cps", "--org", "new-office", "--org-kind", "clinic"),
        "org_kind: unknown organisation kind 'clinic'",
    )
    assert kinds(database) == {"county-cps": "cps"}
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (1,)
