"""The demo caseload of `posc serve --demo`: a history, not a snapshot. Loaded into an empty database, the cases are
where their stories say, with dates that agree with each other and none in the future; the ticker has escalated
the overdue work to the lead CPS office; the hospital's lookup of Taylor Brooks finds her plan. A database that
already holds data is left alone, and the command says so in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from api.demo import DEMO_CASES, JURISDICTION, load_demo, not_loaded
from engine import Actor, Cases, Catalogue, Database, FixedClock
from engine.cases import CASES
from engine.deadlines import DEADLINES
from engine.queries import CaseQueries
from engine.store.tables import Event
from engine.ticker import tick
from tests.api.conftest import Api

REPO = Path(__file__).resolve().parents[2]
EVENTS = Event.__table__  # type: ignore[attr-defined]
#: Where each demo parent's story ends.
STATES = {
    "Ellis": "identified", "Santos": "in_treatment", "Morgan": "meeting_scheduled", "Brooks": "plan_agreed",
    "Nguyen": "notified", "Clarke": "cps_assessment", "Patel": "follow_up", "Romero": "in_treatment",
    "Reyes": "declined", "Hayes": "disengaged", "Price": "follow_up", "Walsh": "closed",
    "Lindqvist": "cps_assessment",
}
#: Dates that are rightly later than the day the demo is loaded: they look ahead.
AHEAD = {"due_date", "expires_on"}


@dataclass
class Demo:
    db: Database
    catalogue: Catalogue
    queries: CaseQueries
    now: datetime
    ids: dict[str, str]  # case reference by the parent's last name
    actors: dict[str, Actor]  # the demo's people, by role

    @property
    def today(self) -> date:
        return self.now.astimezone(JURISDICTION).date()

    def cases(self) -> dict[str, Any]:
        with self.db.read() as conn:
            return {row["data"]["last_name"]: row for row in conn.execute(select(CASES)).mappings()}

    def events(self, last_name: str | None = None) -> list[Any]:
        query = select(EVENTS).order_by(EVENTS.c.case_id, EVENTS.c.seq)
        if last_name:
            query = query.where(EVENTS.c.case_id == self.ids[last_name])
        with self.db.read() as conn:
            return list(conn.execute(query).mappings())

    def deadlines(self, last_name: str) -> dict[str, str]:
        with self.db.read() as conn:
            rows = conn.execute(select(DEADLINES).where(DEADLINES.c.case_id == self.ids[last_name])).mappings()
            return {row["name"]: row["status"] for row in rows}


@pytest.fixture
def demo(db: Database, catalogue: Catalogue, clock: FixedClock) -> Demo:
    cases = Cases(db, catalogue, clock)
    people = load_demo(db, cases, clock)
    with db.read() as conn:
        ids = {row["data"]["last_name"]: row["id"] for row in conn.execute(select(CASES)).mappings()}
    actors = {p.role: Actor(p.name, p.role, p.organisation) for p in people}
    return Demo(db, catalogue, CaseQueries(db, catalogue, cases), clock.now(), ids, actors)


def test_the_cases_are_where_their_stories_end(demo: Demo) -> None:
    assert {last: row["state"] for last, row in demo.cases().items()} == STATES
    assert len(DEMO_CASES) == len(STATES)


def test_deadlines_were_met_missed_and_escalated_as_the_history_says(demo: Demo) -> None:
    ellis = demo.deadlines("Ellis")  # identified 12 days ago, no admission
    assert ellis["treatment_admission"] == "missed" and ellis["escalation:treatment_admission"] == "open"
    assert demo.deadlines("Clarke")["escalation:plan_before_discharge"] == "open"  # born 6 days ago, no plan
    assert demo.deadlines("Reyes")["escalation:consent"] == "open"  # declined, never signed
    romero = demo.deadlines("Romero")  # entered 4 weeks after identification: escalated at once, then settled
    assert romero["treatment_admission"] == "missed" and romero["escalation:treatment_admission"] == "met"
    missed = [e for e in demo.events("Romero") if e["action"] == "deadline_missed"]
    assert {e["data"]["deadline"] for e in missed} == {"treatment_admission", "consent"}
    opened = demo.events("Romero")[0]["occurred_at"]
    assert all(opened < e["occurred_at"] <= opened + timedelta(minutes=1) for e in missed)
    # Cases worked on time have nothing missed.
    for last in ("Santos", "Morgan", "Brooks", "Nguyen", "Patel", "Hayes", "Price", "Walsh", "Lindqvist"):
        assert "missed" not in demo.deadlines(last).values(), last
    # The ticker already ran at the moment of loading: nothing more is due.
    assert tick(demo.db, demo.catalogue, demo.now) == []


def test_an_infant_identified_at_birth_was_entered_by_the_hospital_at_delivery(demo: Demo) -> None:
    opened, born, notified = demo.events("Lindqvist")[:3]
    assert (opened["action"], born["action"], notified["action"]) == ("open_case", "record_birth", "notify_cps")
    assert opened["actor_role"] == "hospital" and opened["data"]["identified_by"] == "hospital"
    assert opened["occurred_at"] == born["occurred_at"]
    clocks = demo.deadlines("Lindqvist")
    assert clocks["plan_before_discharge"] == "open" and "treatment_admission" not in clocks


def test_the_cps_worklist_shows_overdue_escalations(demo: Demo) -> None:
    items = demo.queries.worklist(demo.actors["cps"], limit=200).items
    escalations = {(i.case, i.deadline) for i in items if i.deadline.startswith("escalation:")}
    assert (demo.ids["Ellis"], "escalation:treatment_admission") in escalations
    assert (demo.ids["Clarke"], "escalation:plan_before_discharge") in escalations
    assert all(i.overdue for i in items if i.deadline.startswith("escalation:"))
    assert any(i.past_target and not i.overdue for i in items)  # Ellis's consent: late, not yet missed
    assert any(not i.past_target for i in items)  # and work that is simply coming up
    treatment = demo.queries.worklist(demo.actors["treatment"]).items
    assert [(i.case, i.deadline, i.past_target) for i in treatment] == [
        (demo.ids["Hayes"], "re_engagement", True)]


def test_the_worklist_over_http_starts_with_the_escalations(api: Api) -> None:
    services = api.client.app.state.services  # type: ignore[attr-defined]
    load_demo(services.db, services.cases, services.clock)
    answer = api.get("/worklist", "cps")
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert items[0]["deadline"].startswith("escalation:") and items[0]["overdue"] is True
    titles = {i["title"] for i in items}
    assert {"Escalation: Admission to treatment missed", "Escalation: Plan of Safe Care before discharge missed"} \
        <= titles


def test_gestational_ages_agree_with_the_due_dates(demo: Demo) -> None:
    for last, row in demo.cases().items():
        data = row["data"]
        identified, due = date.fromisoformat(data["identified_on"]), date.fromisoformat(data["due_date"])
        assert abs(data["gestational_weeks"] - (40 - (due - identified).days / 7)) < 1, last
        assert identified <= row["opened_at"].astimezone(JURISDICTION).date(), last
    births = [e for e in demo.events() if e["action"] == "record_birth"]
    assert len(births) == 6
    for birth in births:
        born = datetime.fromisoformat(birth["data"]["born_at"]).astimezone(JURISDICTION).date()
        due = date.fromisoformat(next(r for r in demo.cases().values() if r["id"] == birth["case_id"])
                                 ["data"]["due_date"])
        assert abs(birth["data"]["gestational_weeks"] - (40 - (due - born).days / 7)) < 1
        assert born < demo.today
    recent = [e for e in births if demo.now - e["occurred_at"] < timedelta(days=7)]
    assert {e["case_id"] for e in recent} == {demo.ids["Nguyen"], demo.ids["Clarke"], demo.ids["Lindqvist"]}


def test_cases_were_opened_over_months_not_just_now(demo: Demo) -> None:
    # Prenatal cases: the one identified at delivery was opened yesterday.
    opened = sorted(row["opened_at"] for row in demo.cases().values() if row["data"]["identified_by"] != "hospital")
    assert demo.now - opened[0] > timedelta(days=180)
    assert demo.now - opened[-1] > timedelta(days=5)
    romero = demo.cases()["Romero"]
    entered = romero["opened_at"].astimezone(JURISDICTION).date()
    assert (entered - date.fromisoformat(romero["data"]["identified_on"])).days >= 14  # entered late


def test_nothing_is_dated_in_the_future(demo: Demo) -> None:
    for event in demo.events():
        assert event["occurred_at"] <= demo.now, event
        ahead = AHEAD | ({"meeting_date"} if event["action"] == "schedule_planning_meeting" else set())
        for key, value in dated(event["data"]):
            if key not in ahead:
                assert value <= demo.today, (event["action"], key, value)
    for last, row in demo.cases().items():
        assert row["opened_at"] <= row["updated_at"] <= demo.now, last
        for key, value in dated(row["data"]):
            if key not in AHEAD:
                assert value <= demo.today, (last, key, value)
    with demo.db.read() as conn:
        latest = conn.execute(select(func.max(DEADLINES.c.closed_at))).scalar()
    assert latest is None or latest.replace(tzinfo=demo.now.tzinfo) <= demo.now


def dated(data: Any, key: str = "") -> list[tuple[str, date]]:
    """Every date or date-time in `data` (as a date in the jurisdiction), with the key it is under."""
    if isinstance(data, dict):
        return [found for k, v in data.items() for found in dated(v, k)]
    if isinstance(data, list):
        return [found for item in data for found in dated(item, key)]
    if isinstance(data, str) and len(data) >= 10 and data[4] == "-" and data[7] == "-":
        try:
            if "T" in data:
                return [(key, datetime.fromisoformat(data).astimezone(JURISDICTION).date())]
            return [(key, date.fromisoformat(data))]
        except ValueError:
            return []
    return []


def test_the_hospital_lookup_finds_taylor_brooks_with_a_plan_in_place(demo: Demo) -> None:
    found = demo.queries.lookup(demo.actors["hospital"], "Brooks", date(1997, 12, 1))
    assert [m.id for m in found] == [demo.ids["Brooks"]]
    assert found[0].plan_in_place is True


def test_the_refusal_says_why_and_how_to_start_afresh() -> None:
    line = not_loaded("sqlite:///./posc.db")
    assert "\n" not in line and "not loaded" in line and "not empty" in line
    assert "./posc.db" in line and "POSC_DATABASE_URL" in line
    server = not_loaded("postgresql+psycopg://posc:secret@db.example/posc")
    assert "secret" not in server and "db.example" not in server and "POSC_DATABASE_URL" in server


#: `posc serve --demo` up to the point where it would start serving.
SERVE_WITHOUT_SERVING = """
import sys
import uvicorn
uvicorn.run = lambda *args, **kwargs: None
from api.cli import main
sys.argv = ["posc", "serve", "--demo"]
main()
"""


def serve_demo(database: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POSC_DATABASE_URL": f"sqlite:///{database}", "POSC_TICK_SECONDS": "0"}
    return subprocess.run([sys.executable, "-c", SERVE_WITHOUT_SERVING], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_serve_demo_loads_an_empty_database_and_refuses_one_with_data(tmp_path: Path) -> None:
    database = tmp_path / "posc.db"
    first = serve_demo(database)
    assert first.returncode == 0, first.stderr
    assert "Demo users" in first.stdout and "not loaded" not in first.stdout
    second = serve_demo(database)
    assert second.returncode == 0, second.stderr
    refusals = [line for line in second.stdout.splitlines() if "not loaded" in line]
    assert refusals == [not_loaded(f"sqlite:///{database}")]
    assert str(database) in refusals[0] and "Demo users" not in second.stdout
    check = Database(f"sqlite:///{database}")
    try:
        with check.read() as conn:
            assert conn.execute(select(func.count()).select_from(CASES)).scalar() == len(DEMO_CASES)
    finally:
        check.dispose()
