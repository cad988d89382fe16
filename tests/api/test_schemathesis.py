"""Property-based HTTP tests generated from the app's own OpenAPI schema (schemathesis): whatever a client sends
that the schema describes (and, in negative mode, what it does not), the app never answers 5xx and its answers
conform to the schema it publishes (status codes, content types, headers, bodies).

Every generated call is authenticated as the demo CPS user, who leads every demo case. Calls with path parameters
are repeated with real ones (a demo case, the workflow, a form, an action), so the answers for things that exist
(200s, 403s, 409s, 422s) are checked too, not only the 404s that random identifiers get.
"""

from __future__ import annotations

import os
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from api.app import create_app
from api.demo import load_demo
from engine import Database, Settings
from tests.conftest import BACKENDS, POSTGRES_URL

PROBLEM = "application/problem+json"


@dataclass
class Served:
    app: FastAPI
    key: str
    real: dict[str, list[str]]  # path parameter -> values that exist


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The demo served on SQLite, and on PostgreSQL (in a schema of its own) when the suite has one: PostgreSQL
    refuses what SQLite lets through (NUL characters, values past their column), so both are attacked."""
    if request.param == "postgresql":
        assert POSTGRES_URL
        schema = f"posc_schemathesis_{os.getpid()}"
        with create_engine(POSTGRES_URL).begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        separator = "&" if "?" in POSTGRES_URL else "?"
        url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'posc.db'}"
    app = create_app(Settings(database_url=url))
    services = app.state.services
    users = load_demo(services.db, services.cases, services.clock)
    key = next(u.api_key for u in users if u.role == "cps")
    with services.db.read() as conn:
        from sqlalchemy import select

        from engine.cases import CASES

        case_ids = list(conn.execute(select(CASES.c.id).order_by(CASES.c.id)).scalars())
    assert case_ids
    workflow = services.catalogue.workflow("charm-posc")
    real = {
        "case_id": case_ids, "workflow_id": ["charm-posc"], "action": sorted(workflow.actions),
        "form_id": sorted({a.form.id for a in workflow.actions.values()} | {workflow.open.form.id}),
    }
    yield Served(app, key, real)
    services.db.dispose()
    if request.param == "postgresql":
        with create_engine(POSTGRES_URL or "").begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


def published_schema() -> dict[str, Any]:
    """The OpenAPI document exactly as the app serves it, from a throwaway app (the schema must be known when
    tests are collected; the app under test is built per module, below, with its own database)."""
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{Path(folder) / 'schema.db'}")
        try:
            with TestClient(create_app(db=database)) as client:
                document: dict[str, Any] = client.get("/openapi.json").json()
        finally:
            database.dispose()
    return document


SCHEMA_DOCUMENT = published_schema()
schema = schemathesis.openapi.from_dict(SCHEMA_DOCUMENT)
#: CONTRACT.md: every problem has type, title, status and detail (the model gives `type` a default, so the
#: published schema does not list it as required; a problem without it would still be wrong).
PROBLEM_VALIDATOR = jsonschema_rs.validator_for(
    {**SCHEMA_DOCUMENT["components"]["schemas"]["Problem"], "required": ["type", "title", "status", "detail"]}
)


def problem_details_conformance(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error is an RFC 9457 problem (CONTRACT.md): `application/problem+json` with type, title, status and
    detail, its status equal to the response's, and no stack trace or SQL. (The published schema gives the Problem
    model under `application/json`, and for the plan document under `text/html`, but no schema under
    `application/problem+json`, so `response_schema_conformance` alone would not look at error bodies.)"""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if not content_type.startswith(PROBLEM):
        raise AssertionError(f"{response.status_code} answered as {content_type!r}, not {PROBLEM}")
    body = response.json()
    PROBLEM_VALIDATOR.validate(body)
    if body["status"] != response.status_code:
        raise AssertionError(f"problem status {body['status']} on a {response.status_code} response")
    text = response.text.lower()
    for leak in ("traceback", "select ", "sqlalchemy", "psycopg", "sqlite3"):
        if leak in text:
            raise AssertionError(f"problem body mentions {leak!r}")
    return True


#: Checks every response must pass. `positive_data_acceptance` and `negative_data_rejection` are left out on
#: purpose: the schema declares form data as a free object (each form's rules live in `forms/*.yaml`), so
#: schema-valid bodies are legitimately refused with 422/409, and some schema-invalid query values are accepted.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    problem_details_conformance,
]
MAX_EXAMPLES = 25


def call_and_check(case: Any, served: Served) -> int:
    headers = {"Authorization": f"Bearer {served.key}"}
    response = case.call(headers=headers, app=served.app)
    case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"app": served.app})
    status: int = response.status_code
    return status


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_the_api_conforms_to_its_schema_and_never_fails(case: Any, served: Served) -> None:
    assert call_and_check(case, served) < 500
    if case.path_parameters:
        # Again with every path parameter swapped for a real one (chosen by the generated value), so existing
        # cases, workflows, forms and actions are exercised too; query, headers and body stay as generated.
        for name, value in list(case.path_parameters.items()):
            choices = served.real.get(name)
            if choices:
                case.path_parameters[name] = choices[zlib.crc32(str(value).encode()) % len(choices)]
        assert call_and_check(case, served) < 500
