"""The pathway's clock as users run it: `posc tick` on the command line, and the server's background ticking."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from engine import CaseRecord, Cases, Catalogue, Database, FixedClock, Settings, ensure_organisation, load_catalogue
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

    first = posc(database_file, "tick", "--now", later)
    assert first.returncode == 0, first.stderr
    assert f"missed treatment_admission on case {case.id}" in first.stdout
    assert f"missed consent on case {case.id}" in first.stdout
    assert "escalated to county-cps" in first.stdout
    assert first.stdout.strip().endswith(f"2 deadline(s) missed as of {later}")

    again = posc(database_file, "tick", "--now", later)
    assert again.stdout.strip() == f"0 deadline(s) missed as of {later}"

    bad = posc(database_file, "tick", "--now", "2027-01-01T09:00")
    assert bad.returncode != 0
    assert bad.stderr.strip() == "posc: --now needs a UTC offset, such as 2027-03-01T09:00:00-05:00"
    assert "Traceback" not in bad.stderr


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
