"""The pathway's clock as users run it: `posc tick` on the command line, and the server's background ticking."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from engine import CaseRecord, Cases, Catalogue, Database, FixedClock, Settings, ensure_organisation, load_catalogue
from engine.cases import EVENTS
from tests.conftest import START
from tests.factories import KINDS, ORGANISATIONS
from tests.pathway import open_case

REPO = Path(__file__).resolve().parents[2]


def posc(database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"POSC_DATABASE_URL": f"sqlite:///{database}", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)


def test_posc_tick_marks_missed_deadlines_once(tmp_path: Path) -> None:
    database_file = tmp_path / "posc.db"
    database = Database(f"sqlite:///{database_file}")
    database.ensure_schema()
    clock = FixedClock(START)
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(database, clock, org_id, name, kind=KINDS[org_id])
    case = open_case(Cases(database, load_catalogue(), clock), clock)
    database.dispose()
    later = (START + timedelta(days=15)).isoformat()

    # START is a fixed day: ticking as of 15 days after it is in the past, unless this machine's clock is earlier.
    first = posc(database_file, "tick", "--now", later, "--allow-future")
    assert first.returncode == 0, first.stderr
    assert f"missed treatment_admission on case {case.id}" in first.stdout
    assert f"missed consent on case {case.id}" in first.stdout
    assert "escalated to county-cps" in first.stdout
    assert first.stdout.strip().endswith(f"2 deadline(s) missed as of {later}")

    again = posc(database_file, "tick", "--now", later, "--allow-future")
    assert again.stdout.strip() == f"0 deadline(s) missed as of {later}"

    bad = posc(database_file, "tick", "--now", "2027-01-01T09:00")
    assert bad.returncode != 0
    assert bad.stderr.strip() == "posc: --now needs a UTC offset, such as 2027-03-01T09:00:00-05:00"
    assert "Traceback" not in bad.stderr


def events_of(database_file: Path) -> list[tuple[str, datetime]]:
    database = Database(f"sqlite:///{database_file}")
    try:
        with database.read() as conn:
            return [(r.action, r.occurred_at) for r in conn.execute(select(EVENTS.c.action, EVENTS.c.occurred_at))]
    finally:
        database.dispose()


def test_posc_tick_refuses_a_time_in_the_future_unless_allowed(tmp_path: Path) -> None:
    database_file = tmp_path / "posc.db"
    database = Database(f"sqlite:///{database_file}")
    database.ensure_schema()
    clock = FixedClock(START)
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(database, clock, org_id, name, kind=KINDS[org_id])
    open_case(Cases(database, load_catalogue(), clock), clock)
    database.dispose()
    before = events_of(database_file)

    future = "2199-01-01T00:00:00+00:00"
    refused = posc(database_file, "tick", "--now", future)
    assert refused.returncode == 2, refused.stderr
    assert refused.stdout == "" and len(refused.stderr.strip().splitlines()) == 1
    assert refused.stderr.startswith(f"posc: --now {future} is later than the current time (")
    assert "by more than 5 minutes" in refused.stderr and "--allow-future" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert events_of(database_file) == before

    overflow = posc(database_file, "tick", "--now", "9999-12-31T23:00:00-14:00")
    assert overflow.returncode != 0 and "Traceback" not in overflow.stderr
    assert overflow.stderr.strip() == (
        "posc: --now 9999-12-31T23:00:00-14:00 is outside the calendar once converted to UTC"
    )
    assert events_of(database_file) == before

    # A clock a little ahead of this machine's is within the tolerance.
    soon = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    nearly_now = posc(database_file, "tick", "--now", soon)
    assert nearly_now.returncode == 0, nearly_now.stderr
    assert nearly_now.stderr == ""

    allowed = posc(tmp_path / "other.db", "tick", "--now", future, "--allow-future")
    assert allowed.returncode == 0, allowed.stderr
    [warning] = allowed.stderr.strip().splitlines()
    assert warning.startswith(f"posc: warning: --now {future} is later than the current time (")
    assert warning.endswith("missed deadlines will be recorded as events dated in the future")
    assert allowed.stdout.strip() == f"0 deadline(s) missed as of {future}"


def test_allowed_future_ticks_date_their_events_in_the_future(tmp_path: Path) -> None:
    database_file = tmp_path / "posc.db"
    database = Database(f"sqlite:///{database_file}")
    database.ensure_schema()
    clock = FixedClock(START)
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(database, clock, org_id, name, kind=KINDS[org_id])
    open_case(Cases(database, load_catalogue(), clock), clock)
    database.dispose()
    future = datetime.now(UTC) + timedelta(days=400)

    answer = posc(database_file, "tick", "--now", future.isoformat(), "--allow-future")
    assert answer.returncode == 0, answer.stderr
    assert "posc: warning:" in answer.stderr and "missed" in answer.stdout
    missed = [at for action, at in events_of(database_file) if action == "deadline_missed"]
    assert missed and all(at.replace(tzinfo=UTC) == future for at in missed)


def overdue_case(tmp_path: Path) -> tuple[Database, Catalogue, FixedClock, Cases, CaseRecord]:
    """A case whose admission and consent deadlines are overdue (15 days after opening)."""
    database = Database(f"sqlite:///{tmp_path / 'posc.db'}")
    database.ensure_schema()
    clock = FixedClock(START)
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(database, clock, org_id, name, kind=KINDS[org_id])
    catalogue = load_catalogue()
    cases = Cases(database, catalogue, clock)
    case = open_case(cases, clock)
    clock.advance(timedelta(days=15))
    return database, catalogue, clock, cases, case


def test_the_server_ticks_in_the_background(tmp_path: Path) -> None:
    database, catalogue, clock, cases, case = overdue_case(tmp_path)
    app = create_app(Settings(tick_seconds=0.1), clock=clock, catalogue=catalogue, db=database)
    with TestClient(app):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if sum(e.action == "deadline_missed" for e in cases.history(case.id)) == 2:
                break
            time.sleep(0.1)
    assert [e.data["deadline"] for e in cases.history(case.id) if e.action == "deadline_missed"] == [
        "treatment_admission", "consent"
    ]
    assert cases.verify(case.id) == []


def test_background_ticking_can_be_switched_off(tmp_path: Path) -> None:
    database, catalogue, clock, cases, case = overdue_case(tmp_path)
    with TestClient(create_app(Settings(tick_seconds=0), clock=clock, catalogue=catalogue, db=database)):
        time.sleep(0.5)
    assert all(e.action != "deadline_missed" for e in cases.history(case.id))
