"""Hostile input gets a problem that names what is wrong (4xx), never a 500, and stores nothing, on SQLite and on
PostgreSQL (which refuses what SQLite lets through: NUL characters, values longer than their column, numbers past
64 bits)."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import Database, ensure_organisation
from engine.cases import CASES, EVENTS
from tests.api.conftest import Api
from tests.api.test_cli import assert_one_line_error, posc
from tests.api.test_http import assert_problem
from tests.factories import identification


def counts(db: Database) -> tuple[int, int]:
    with db.read() as conn:
        return (conn.execute(select(func.count()).select_from(CASES)).scalar_one(),
                conn.execute(select(func.count()).select_from(EVENTS)).scalar_one())


def cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", [
    f"/cases?cursor={cursor([12345])}",
    f"/cases?cursor={cursor([None])}",
    f"/cases?cursor={cursor(['x' * 5000])}",
    f"/cases?cursor={cursor([{'a': 1}])}",
    f"/worklist?cursor={cursor(['2026-11-02T15:00:00+00:00', 'not a number'])}",
    f"/worklist?cursor={cursor(['2026-11-02T15:00:00+00:00', 10 ** 30])}",
    f"/worklist?cursor={cursor(['0001-01-01T00:00:00', 1])}",
    f"/worklist?cursor={cursor(['not a time', 1])}",
    f"/worklist?cursor={cursor([5, 1])}",
    "/cases?state=%00",
    "/cases?phase=" + "p" * 5000,
])
def test_a_crafted_list_query_is_refused_or_answered_never_a_500(api: Api, path: str) -> None:
    api.open_case()
    response = api.get(path, "cps")
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert_problem(response, 422)


@pytest.mark.parametrize("if_match", ['"v' + "9" * 10_000 + '"', '"v99999999999999999999"', '"v-1"', "\u00e9"])
def test_an_if_match_no_version_can_have_is_refused(api: Api, db: Database, if_match: str) -> None:
    case = api.open_case()
    before = counts(db)
    response = api.client.post(
        f"/cases/{case['id']}/actions/record_consent", json={"data": {}},
        headers={**api.headers("prenatal"), "If-Match": if_match.encode("utf-8")},  # type: ignore[dict-item]
    )
    assert response.status_code in (400, 412), response.text
    assert counts(db) == before


@pytest.mark.parametrize("changes", [
    {"first_name": "Al\u0000ex"},
    {"last_name": "R" * 10_000},
    {"due_date": "0001-01-01"},
    {"due_date": "9999-12-31"},
    {"date_of_birth": "0001-01-01"},
    {"identified_on": "9999-12-31"},
])
def test_hostile_identification_data_is_refused_and_stores_nothing(
    api: Api, db: Database, changes: dict[str, Any]
) -> None:
    before = counts(db)
    body = {"workflow": "charm-posc", "data": identification(api.today(), **changes), "new_pregnancy": True}
    response = api.post("/cases", "prenatal", body)
    assert response.status_code == 422, response.text
    assert_problem(response, 422)
    assert counts(db) == before


def test_a_consent_naming_a_long_organisation_id_is_stored_or_refused_never_a_500(
    api: Api, db: Database
) -> None:
    long_id = "org-" + "x" * 60  # 64 characters, the longest organisation id
    ensure_organisation(db, api.clock, long_id, "An organisation with a long id", kind="peer")
    case = api.open_case()
    response = api.act(case, "record_consent", organisations=["county-cps", long_id])
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("field, value", [
    ("purpose", "Plan\u0000of Safe Care"),
    ("purpose", "x" * 100_000),
    ("signed_on", "0001-01-01"),
    ("expires_on", "9999-12-31"),
    ("organisations", ["county-cps\u0000"]),
    ("organisations", ["y" * 500]),
])
def test_hostile_action_data_is_refused_and_stores_nothing(api: Api, db: Database, field: str, value: Any) -> None:
    case = api.open_case()
    before = counts(db)
    response = api.act(case, "record_consent", **{field: value})
    assert response.status_code == 422, response.text
    assert_problem(response, 422)
    assert counts(db) == before


@pytest.mark.parametrize("key", ["k" * 10_000, "a\u0000b"])
def test_a_hostile_idempotency_key_is_refused(api: Api, db: Database, key: str) -> None:
    case = api.open_case()
    before = counts(db)
    response = api.client.post(
        f"/cases/{case['id']}/actions/record_consent", json={"data": {}},
        headers=api.headers("prenatal", **{"Idempotency-Key": key}),
    )
    assert response.status_code in (400, 422), response.text
    assert counts(db) == before


@pytest.mark.parametrize("args, field", [
    (["--name", "N" * 300, "--role", "cps", "--org", "county-cps"], "name"),
    (["--name", "Sam\x07Lee", "--role", "cps", "--org", "county-cps"], "name"),
    (["--name", "Sam Lee", "--role", "cps", "--org", "o" * 65], "org"),
    (["--name", "Sam Lee", "--role", "cps", "--org", "new-cps", "--org-name", "N" * 300], "name"),
])
def test_the_command_line_refuses_what_no_column_can_hold_in_one_line(
    tmp_path: Path, args: list[str], field: str
) -> None:
    env = {**os.environ, "POSC_DATABASE_URL": f"sqlite:///{tmp_path / 'posc.db'}"}
    result = posc("users", "add", *args, env=env)
    line = assert_one_line_error(result, field)
    assert "N" * 100 not in line  # the message names the field, it does not echo the value
    with sqlite3.connect(tmp_path / "posc.db") as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)

