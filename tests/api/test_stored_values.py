"""Reads never fail on what is already stored: a value that entered the log before a rule refused it (a birth time
whose conversion to UTC overflows, a date of birth in the year 9999) is shown as stored, never a 500, on every read:
the case, its history, its page, its documents (HTML and PDF) and the CAPTA figures."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import Connection, select, text, update

from engine.cases import EVENTS
from engine.store.tables import Case
from tests.api.conftest import Api
from tests.web import conftest as web_fixtures
from tests.web.conftest import Web

CASES = Case.__table__  # type: ignore[attr-defined]
#: The pages' fixture (a signed-in browser per role), on the same application.
web = web_fixtures.web
APPEND_ONLY = "events are append-only: they are never updated or deleted"
#: Both are ISO values the forms of the time accepted; converting the first to UTC overflows.
BORN_AT = "0001-01-01T00:00:00+14:00"
DATE_OF_BIRTH = "9999-12-31"
ROUTE = ["record_consent", "admit_to_treatment", "schedule_planning_meeting", "record_planning_meeting",
         "record_birth", "notify_cps", "discharge"]


def _store(api: Api, case_id: str, *, born_at: str, date_of_birth: str) -> None:
    """Writes the values straight into the log and the case row, as if they had been accepted (the chain hash of the
    changed events no longer verifies; reads do not check it)."""
    services = api.client.app.state.services  # type: ignore[attr-defined]
    with services.db.write() as conn:
        _events_writable(conn, True)
        for event in conn.execute(
            select(EVENTS.c.id, EVENTS.c.action, EVENTS.c.data).where(EVENTS.c.case_id == case_id)
        ).mappings().all():
            data: dict[str, Any] = dict(event["data"])
            if event["action"] == "record_birth":
                data["born_at"] = born_at
            elif event["action"] == "open_case":
                data["date_of_birth"] = date_of_birth
            else:
                continue
            conn.execute(update(EVENTS).where(EVENTS.c.id == event["id"]).values(data=data))
        row = conn.execute(select(CASES.c.data, CASES.c.facts).where(CASES.c.id == case_id)).mappings().one()
        facts = {**row["facts"], "born_at": born_at}
        if "date_of_birth" in facts:
            facts["date_of_birth"] = date_of_birth
        conn.execute(update(CASES).where(CASES.c.id == case_id).values(
            data={**row["data"], "date_of_birth": date_of_birth}, facts=facts,
        ))
        _events_writable(conn, False)


def _events_writable(conn: Connection, writable: bool) -> None:
    """Lifts (and puts back, in the same transaction) the triggers that keep the event log append-only."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"ALTER TABLE events {'DISABLE' if writable else 'ENABLE'} TRIGGER events_append_only"))
    elif writable:
        conn.execute(text("DROP TRIGGER events_no_update"))
    else:
        conn.execute(text(
            "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        ))


def _case_along(api: Api, route: list[str]) -> dict[str, Any]:
    """A case due in 20 days (37 weeks pregnant), so that a planning meeting today is inside the planning window,
    taken along `route`."""
    today = api.today()
    case = api.open_case(due_date=(today + timedelta(days=20)).isoformat(), gestational_weeks=37)
    for action in route:
        extra = {"meeting_date": today.isoformat()} if action == "schedule_planning_meeting" else {}
        response = api.act(case, action, **extra)
        assert response.status_code == 200, f"{action}: {response.text}"
        case = response.json()
    return case


def _pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


@pytest.fixture
def stored(api: Api) -> str:
    case = _case_along(api, ROUTE)
    _store(api, case["id"], born_at=BORN_AT, date_of_birth=DATE_OF_BIRTH)
    return str(case["id"])


def test_the_case_and_its_history_show_what_is_stored(api: Api, stored: str) -> None:
    view = api.get(f"/cases/{stored}", "cps")
    assert view.status_code == 200, view.text
    assert view.json()["data"]["date_of_birth"] == DATE_OF_BIRTH
    history = api.get(f"/cases/{stored}/events", "cps")
    assert history.status_code == 200, history.text
    by_action = {e["action"]: e["data"] for e in history.json()}
    assert by_action["record_birth"]["born_at"] == BORN_AT
    assert by_action["open_case"]["date_of_birth"] == DATE_OF_BIRTH
    assert api.get(f"/cases/{stored}/actions", "cps").status_code == 200


def test_the_case_page_shows_what_is_stored(api: Api, web: Web, stored: str) -> None:
    page = web.browser("cps").get(f"/ui/cases/{stored}")
    assert page.status_code == 200, page.text
    assert BORN_AT in page.text and "Fri 31 Dec 9999" in page.text


@pytest.mark.parametrize(("document", "role", "shown"), [
    ("plan-of-safe-care", "cps", (BORN_AT, DATE_OF_BIRTH)),
    ("hospital-summary", "hospital", (DATE_OF_BIRTH,)),  # the summary has no time of birth
])
def test_the_documents_show_what_is_stored(
    api: Api, stored: str, document: str, role: str, shown: tuple[str, ...]
) -> None:
    path = f"/cases/{stored}/documents/{document}"
    html = api.get(path, role)
    assert html.status_code == 200, html.text
    assert all(value in html.text for value in shown)
    pdf = api.get(f"{path}?format=pdf", role)
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    text = _pdf_text(pdf.content).replace("\n", "")
    assert all(value in text for value in shown)


def test_the_capta_figures_leave_out_what_cannot_be_read(api: Api, stored: str) -> None:
    first = api.today().replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    response = api.get(f"/reports/capta?from={first}&to={last}", "analyst")
    assert response.status_code == 200, response.text
    figures = {f"{s['id']}.{f['id']}": f["value"] for s in response.json()["sections"] for f in s["figures"]}
    assert figures["births.births"] == 0  # the birth's time cannot be placed in any period: not counted
    assert figures["treatment_access.identified"] == "<5"
    assert DATE_OF_BIRTH not in response.text and stored not in response.text


def test_the_actions_of_a_case_holding_such_a_time_are_still_listed(api: Api, web: Web) -> None:
    """Before discharge, the discharge's guard compares its date with the stored time of birth: that time has no
    date in the jurisdiction, so the guard has nothing to compare and refuses nothing; the actions, the page and
    the discharge itself still answer."""
    case = _case_along(api, ROUTE[:-1])
    _store(api, case["id"], born_at=BORN_AT, date_of_birth=DATE_OF_BIRTH)
    options = api.get(f"/cases/{case['id']}/actions", "hospital")
    assert options.status_code == 200, options.text
    assert "discharge" in {o["action"] for o in options.json() if o["allowed"]}
    page = web.browser("hospital").get(f"/ui/cases/{case['id']}")
    assert page.status_code == 200, page.text
    assert BORN_AT in page.text
    discharged = api.act(case, "discharge")
    assert discharged.status_code == 200, discharged.text
