"""The operator's command line: the version, the users whose keys are in force, revoking one, checking every
case's chain, and the outcome figures."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
from datetime import timedelta
from pathlib import Path

from engine import CaseRecord, Cases, Database, FixedClock, authenticate, ensure_organisation, load_catalogue
from tests.api.test_cli import assert_one_line_error, posc
from tests.factories import KINDS, ORGANISATIONS
from tests.pathway import drive, open_case


def env_for(database: Path) -> dict[str, str]:
    return {**os.environ, "POSC_DATABASE_URL": f"sqlite:///{database}"}


def test_version() -> None:
    result = posc("--version")
    assert result.returncode == 0 and result.stdout.strip().startswith("posc 0.")


def test_users_are_listed_without_keys_and_a_revoked_key_opens_nothing(tmp_path: Path) -> None:
    env = env_for(tmp_path / "posc.db")
    key = posc("users", "add", "--name", "Sam Lee", "--role", "cps", "--org", "county-cps", env=env).stdout.strip()
    posc("users", "add", "--name", "Ana Ruiz", "--role", "hospital", "--org", "city-hospital", env=env)
    listed = posc("users", "list", env=env)
    assert listed.returncode == 0 and key not in listed.stdout and key.split("_")[-1] not in listed.stdout
    rows = [line.split("\t") for line in listed.stdout.strip().splitlines()]
    assert [(r[1], r[2], r[3]) for r in rows] == [("cps", "county-cps", "Sam Lee"), ("hospital", "city-hospital",
                                                                                     "Ana Ruiz")]
    sam = rows[0][0]
    database = Database(f"sqlite:///{tmp_path / 'posc.db'}")
    assert authenticate(database, key) is not None
    revoked = posc("users", "revoke", sam, env=env)
    assert revoked.returncode == 0 and sam in revoked.stdout
    assert authenticate(database, key) is None
    assert [line.split("\t")[0] for line in posc("users", "list", env=env).stdout.strip().splitlines()] == [rows[1][0]]
    assert_one_line_error(posc("users", "revoke", sam, env=env), "no user", sam)


def database_with(path: Path, clock: FixedClock, state: str, count: int) -> list[CaseRecord]:
    """A SQLite database at `path` with the sample organisations and `count` cases driven to `state`."""
    database = Database(f"sqlite:///{path}")
    database.ensure_schema()
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(database, clock, org_id, name, kind=KINDS[org_id])
    cases = Cases(database, load_catalogue(), clock)
    made = [drive(cases, clock, open_case(cases, clock, last_name=f"V{i}"), state) for i in range(count)]
    database.dispose()
    return made


def test_verify_checks_every_case_and_names_one_that_does_not_replay(tmp_path: Path, clock: FixedClock) -> None:
    path = tmp_path / "posc.db"
    made = database_with(path, clock, "plan_agreed", 3)
    clean = posc("verify", env=env_for(path))
    assert clean.returncode == 0 and "3 case(s) checked: every chain verifies" in clean.stdout
    with sqlite3.connect(path) as conn:  # a case row changed behind the engine's back
        conn.execute("UPDATE cases SET state = 'closed' WHERE id = ?", (made[1].id,))
    broken = posc("verify", env=env_for(path))
    assert broken.returncode == 1 and "1 with problems" in broken.stdout
    assert f"{made[1].id}: case state 'closed' differs from the replay" in broken.stdout
    assert made[0].id not in broken.stdout
    one = posc("verify", made[0].id, env=env_for(path))
    assert one.returncode == 0 and "1 case(s) checked" in one.stdout
    assert_one_line_error(posc("verify", "PC-NOPE-NOPE", env=env_for(path)), "no case")


def test_report_capta_prints_the_figures_as_a_table_csv_or_json(tmp_path: Path, clock: FixedClock) -> None:
    path = tmp_path / "posc.db"
    database_with(path, clock, "born_with_plan", 6)  # six births with a plan, in the clock's month
    month = clock.now().date().replace(day=1)
    end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    period = ["report", "capta", "--from", str(month), "--to", str(end)]

    table = posc(*period, env=env_for(path))
    assert table.returncode == 0, table.stderr
    assert re.search(r"^  Births\s+6$", table.stdout, re.MULTILINE)
    assert re.search(r"^  Born with a plan agreed before birth\s+6 \(100\.0%\)$", table.stdout, re.MULTILINE)
    assert "reading the event log" in table.stderr  # the progress bar, on stderr only
    assert "Rivera" not in table.stdout and "PC-" not in table.stdout

    rows = list(csv.DictReader(io.StringIO(posc(*period, "--format", "csv", env=env_for(path)).stdout)))
    births = next(r for r in rows if (r["section"], r["figure"], r["breakdown"]) == ("births", "births", "period"))
    assert births["value"] == "6" and births["definition"] == "Every birth recorded for the period."

    report = json.loads(posc(*period, "--format", "json", env=env_for(path)).stdout)
    assert report["period"] == {"from": str(month), "to": str(end), "kind": "month", "months": [f"{month:%Y-%m}"]}

    assert_one_line_error(posc("report", "capta", "--from", str(month + timedelta(days=1)), "--to", str(end),
                               env=env_for(path)), "--from", "first day of a month")
    two_months = (end + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    assert_one_line_error(posc("report", "capta", "--from", str(month), "--to", str(two_months), env=env_for(path)),
                          "--to", "whole month, a calendar quarter")
    assert_one_line_error(posc(*period, "--format", "xlsx", env=env_for(path)), "--format", "table, csv or json")
    assert_one_line_error(posc("report", "capta", "--from", "soon", "--to", str(end), env=env_for(path)), "--from")
    with sqlite3.connect(path) as conn:  # each report run is in the access log, with no case
        runs = conn.execute("SELECT actor_id, case_id FROM access_log WHERE what = 'report'").fetchall()
    assert runs == [("command-line", None)] * 3
