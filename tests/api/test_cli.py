"""The `posc` command line as a user runs it: a separate process, its exit code, stdout and stderr."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED_FORMS = sorted(p.name for p in (REPO / "forms").glob("*.yaml"))
WORKFLOW_TEXT = (REPO / "workflows" / "charm-posc.yaml").read_text(encoding="utf-8")
PHASES = {
    "prenatal": ["identified", "referred", "in_treatment", "disengaged", "declined", "meeting_scheduled",
                 "plan_agreed"],
    "birth": ["born_with_plan", "born_without_plan", "notified", "cps_assessment"],
    "postnatal": ["follow_up", "investigation"],
    "closure": ["closed"],
}
PROBLEM_LINE = re.compile(r"^(?P<path>.+\.yaml):(?P<line>\d+): (?P<message>.+)$")


def posc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("posc: ")
    for word in words:
        assert word in lines[0]
    return lines[0]


# --- validate ----------------------------------------------------------------------------------------------------


def test_validate_the_shipped_definitions() -> None:
    result = posc("validate")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(SHIPPED_FORMS) + 1 == 23
    assert all(": ok: " in line for line in lines), lines
    named = sorted(Path(line.split(": ok: ")[0]).name for line in lines)
    assert named == sorted([*SHIPPED_FORMS, "charm-posc.yaml"])
    assert any(line.endswith("workflow charm-posc v1: 14 states, 23 actions, 13 deadlines") for line in lines)
    assert any(line.endswith("form identification: 12 fields") for line in lines)


def test_validate_lists_every_form_s_fields_with_the_actions_that_use_it() -> None:
    """What an analyst needs to write a table under "takes record_birth with:" (the form's field names)."""
    result = posc("validate", "--fields")
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout
    assert "\nform birth_event (record_birth):\n" in text
    birth = text.split("\nform birth_event (record_birth):\n")[1].split("\n\n")[0].splitlines()
    assert birth[0].split() == ["born_at", "datetime,", "required"]
    assert any(line.split()[:3] == ["withdrawal_signs", "choice,", "required"] and "(none, monitoring, treated)" in line
               for line in birth)
    assert text.count("\nform ") == len(SHIPPED_FORMS)


def test_validate_a_broken_workflow(tmp_path: Path) -> None:
    broken = WORKFLOW_TEXT.replace("form: treatment_referral", "form: treatment_referal")
    broken = broken.replace("effects: [record_consent]", "effects: [record_consnt]")
    path = tmp_path / "charm-posc.yaml"
    path.write_text(broken, encoding="utf-8")
    result = posc("validate", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stdout.strip().splitlines()
    parsed = [PROBLEM_LINE.match(line) for line in lines]
    assert all(parsed), lines
    found = {(m["path"], int(m["line"]), m["message"]) for m in parsed if m}
    numbered = broken.splitlines()
    form_line = next(n for n, text in enumerate(numbered, 1) if "treatment_referal" in text)
    effect_line = next(n for n, text in enumerate(numbered, 1) if "record_consnt" in text)
    assert (str(path), form_line, "unknown form 'treatment_referal'") in found
    assert any(p == str(path) and n == effect_line and "unknown effect 'record_consnt'" in m for p, n, m in found)


def test_validate_a_folder_with_a_good_and_a_broken_form(tmp_path: Path) -> None:
    good = (REPO / "forms" / "closure.yaml").read_text(encoding="utf-8")
    (tmp_path / "closure.yaml").write_text(good, encoding="utf-8")
    broken = (REPO / "forms" / "safety_concern.yaml").read_text(encoding="utf-8").replace("type: text", "type: txt")
    (tmp_path / "safety_concern.yaml").write_text(broken, encoding="utf-8")
    result = posc("validate", str(tmp_path))
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert f"{tmp_path / 'closure.yaml'}: ok: form closure: 3 fields" in lines
    line = next(n for n, text in enumerate(broken.splitlines(), 1) if "type: txt" in text)
    assert any(x.startswith(f"{tmp_path / 'safety_concern.yaml'}:{line}: fields.1.type: ") for x in lines), lines


def test_validate_a_malformed_file(tmp_path: Path) -> None:
    path = tmp_path / "charm-posc.yaml"
    path.write_text(WORKFLOW_TEXT.replace("initial: identified", "initial: [identified"), encoding="utf-8")
    result = posc("validate", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stdout.strip().splitlines()
    match = PROBLEM_LINE.match(line)
    assert match and match["path"] == str(path) and "malformed YAML" in match["message"]


def test_validate_a_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    error = assert_one_line_error(posc("validate", str(missing)), "no such file or folder", str(missing))
    assert error == f"posc: no such file or folder: {missing}"


def test_validate_an_empty_folder(tmp_path: Path) -> None:
    assert_one_line_error(posc("validate", str(tmp_path)), "no definition files found")


# --- diagram -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def diagram() -> str:
    result = posc("diagram", "charm-posc")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def test_diagram_is_mermaid_with_a_title_block(diagram: str) -> None:
    lines = diagram.splitlines()
    assert lines[:3] == ["---", "CHARM prenatal Plan of Safe Care (v1)", "---"]
    assert lines[3] == "stateDiagram-v2"


@pytest.mark.parametrize("phase", list(PHASES))
def test_diagram_nests_each_phases_states(diagram: str, phase: str) -> None:
    block = re.search(rf"^\s*state {phase} \{{\n(.*?)^\s*\}}", diagram, re.MULTILINE | re.DOTALL)
    assert block, f"no nested state for phase {phase}"
    inside = re.findall(r'state "(\w+)" as', block.group(1))
    assert inside == PHASES[phase]


def test_diagram_shows_every_state_and_phase_once(diagram: str) -> None:
    drawn = re.findall(r'state "(\w+)" as', diagram)
    assert sorted(drawn) == sorted([*PHASES, *(s for states in PHASES.values() for s in states)])


def test_diagram_shows_conditional_edges(diagram: str) -> None:
    calm = r"\[birth_safety_concern = no & safety_concern = no\]"  # neither the birth nor the notification worried
    assert re.search(r"born_with_plan --> \S*notified: notify_cps " + calm, diagram)
    assert re.search(r"born_with_plan --> \S*cps_assessment: notify_cps$", diagram, re.MULTILINE)
    assert "conclude_investigation [ends_case = yes]" in diagram
    assert re.search(r"\[\*\] --> \S*identified$", diagram, re.MULTILINE)
    # Identification at birth: the other way in, straight into the birth phase.
    assert "[*] --> birth__born_without_plan: open a case at delivery (record_birth)" in diagram


def test_diagram_of_an_unknown_workflow() -> None:
    result = posc("diagram", "nope")
    assert result.returncode == 1
    assert_one_line_error(result, "'nope'")
    assert result.stdout == ""


def test_diagram_of_an_unknown_version() -> None:
    assert_one_line_error(posc("diagram", "charm-posc", "--version", "9"), "charm-posc", "version 9")


def test_diagram_refuses_other_formats() -> None:
    result = posc("diagram", "charm-posc", "--format", "dot")
    assert_one_line_error(result, "dot", "mermaid")
    assert result.stdout == ""


# --- db upgrade ----------------------------------------------------------------------------------------------

TABLES = {"cases", "events", "deadlines", "consents", "organisations", "case_parties"}


def schema(path: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(path) as conn:
        return sorted(conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall())


def upgrade(database: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POSC_DATABASE_URL": f"sqlite:///{database}"}
    return posc("db", "upgrade", env=env)


def test_db_upgrade_creates_the_schema_and_is_idempotent(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    first = upgrade(database)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    head = sorted(p.name[:4] for p in (REPO / "engine" / "migrations" / "versions").glob("0*.py"))[-1]
    assert first.stdout.strip() == f"database schema: empty -> {head}"
    created = schema(database)
    names = {name for kind, name, _ in created if kind == "table"}
    assert names >= TABLES
    triggers = {name for kind, name, _ in created if kind == "trigger"}
    assert triggers >= {"events_no_update", "events_no_delete"}

    second = upgrade(database)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == f"database schema: {head} -> {head}"
    assert schema(database) == created


def test_events_are_append_only_in_the_database(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    assert upgrade(database).returncode == 0
    now = "2026-11-02 15:00:00.000000"
    conn = sqlite3.connect(database)
    try:
        with conn:
            conn.execute(
                "INSERT INTO cases (id, workflow_id, workflow_version, state, phase, version, data, facts, parties,"
                " last_hash, opened_at, updated_at) VALUES ('c1', 'charm-posc', 1, 'identified', 'prenatal', 1,"
                " '{}', '{}', '{}', 'h1', ?, ?)",
                (now, now),
            )
            conn.execute(
                "INSERT INTO events (case_id, seq, action, form, from_state, to_state, actor_id, actor_role,"
                " organisation, occurred_at, data, prev_hash, hash) VALUES ('c1', 1, 'open_case', 'identification',"
                " NULL, 'identified', 'u1', 'prenatal', 'clinic', ?, '{}', '', 'h1')",
                (now,),
            )
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE events SET to_state = 'closed' WHERE case_id = 'c1'")
        conn.rollback()
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM events WHERE case_id = 'c1'")
        conn.rollback()
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(  # one event per (case, seq)
                "INSERT INTO events (case_id, seq, action, to_state, actor_id, actor_role, organisation,"
                " occurred_at, data, prev_hash, hash) VALUES ('c1', 1, 'x', 'identified', 'u1', 'prenatal',"
                " 'clinic', ?, '{}', 'h1', 'h2')",
                (now,),
            )
        conn.rollback()
        assert conn.execute("SELECT seq, to_state FROM events").fetchall() == [(1, "identified")]
    finally:
        conn.close()

    again = upgrade(database)
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(database) as check:
        assert check.execute("SELECT count(*) FROM events").fetchone() == (1,)
        assert check.execute("SELECT count(*) FROM cases").fetchone() == (1,)


def test_db_upgrade_on_an_unusable_database_is_one_line(tmp_path: Path) -> None:
    result = upgrade(tmp_path / "no" / "such" / "folder" / "x.db")
    assert_one_line_error(result, "database error")
