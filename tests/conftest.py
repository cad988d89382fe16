"""Fixtures: a database per test on SQLite (always) and PostgreSQL (when POSC_TEST_DATABASE_URL is set), the
shipped catalogue, a clock that tests move, and the standard organisations."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine import Cases, Catalogue, Database, FixedClock, ensure_organisation, load_catalogue
from tests.factories import KINDS, ORGANISATIONS

POSTGRES_URL = os.environ.get("POSC_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
#: One schema per test process, so that runs in parallel (or a run beside a server) never empty each other's tables.
_PG_SCHEMA = f"posc_test_{os.getpid()}"
START = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[Database | None]:
    """One migrated PostgreSQL schema for the session, emptied before each test that uses it."""
    if not POSTGRES_URL:
        yield None
        return
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {_PG_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {_PG_SCHEMA}"))
    admin.dispose()
    separator = "&" if "?" in POSTGRES_URL else "?"
    database = Database(f"{POSTGRES_URL}{separator}options=-csearch_path%3D{_PG_SCHEMA}")
    database.ensure_schema()
    yield database
    database.dispose()
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {_PG_SCHEMA} CASCADE"))
    admin.dispose()


def empty_postgres(database: Database) -> None:
    with database.engine.begin() as conn:
        tables = "events, deadlines, consents, case_parties, access_log, idempotency_records, web_sessions, users, " \
            "rate_windows, " \
            "cases, organisations"
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path, postgres_database: Database | None) -> Iterator[Database]:
    if request.param == "postgresql":
        assert postgres_database is not None
        empty_postgres(postgres_database)
        yield postgres_database
        return
    database = Database(f"sqlite:///{tmp_path / 'posc.db'}")
    database.ensure_schema()
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def today(clock: FixedClock) -> date:
    return clock.now().date()


@pytest.fixture
def cases(db: Database, catalogue: Catalogue, clock: FixedClock) -> Cases:
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(db, clock, org_id, name, kind=KINDS[org_id])
    return Cases(db, catalogue, clock)


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database of its own with no schema at all (a PostgreSQL schema of its own, dropped afterwards)."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'old.db'}")
        yield database
        database.dispose()
        return
    assert POSTGRES_URL
    schema = f"posc_migration_{os.getpid()}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in POSTGRES_URL else "?"
    database = Database(f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}")
    yield database
    database.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()
