"""Implausible dates over HTTP and on the pages: a 422 naming the field and why, and nothing stored."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api
from tests.api.test_http import assert_problem, event_count
from tests.factories import identification
from tests.web import conftest as web_fixtures
from tests.web.conftest import Web

#: The pages' fixture (a signed-in browser per role), on the same application.
web = web_fixtures.web


def _case_count(api: Api) -> int:
    listing = api.get("/cases?limit=200", "cps")
    assert listing.status_code == 200, listing.text
    return len(listing.json()["items"])


def test_opening_with_an_implausible_date_is_a_422_naming_the_field(api: Api) -> None:
    good = identification(api.today())
    for value, message in [
        (0, "must be an ISO date (YYYY-MM-DD)"),
        ("9999-12-31", "must be on or before 2199-12-31"),
        ("0001-01-01", "must be on or after 1900-01-01"),
    ]:
        body = {"workflow": "charm-posc", "data": {**good, "date_of_birth": value}}
        problem = assert_problem(api.post("/cases", "prenatal", body), 422)
        assert problem["errors"] == [{"field": "date_of_birth", "message": message}]
    assert event_count(api) == 0 and _case_count(api) == 0


def test_a_birth_time_outside_the_calendar_in_utc_is_a_422_and_changes_nothing(api: Api) -> None:
    case = api.drive(api.open_case(), ["record_consent"])
    before = (event_count(api), api.get(f"/cases/{case['id']}", "cps").json()["version"])
    for value, message in [
        ("0001-01-01T00:00:00+14:00", "must be on or after 1900-01-01 (in UTC)"),
        ("9999-12-31T23:59:59-14:00", "must be on or before 2199-12-31 (in UTC)"),
        (0, "must be an ISO-8601 date and time with a UTC offset"),
    ]:
        problem = assert_problem(api.act(case, "record_birth", born_at=value), 422)
        assert problem["errors"] == [{"field": "born_at", "message": message}]
    assert (event_count(api), api.get(f"/cases/{case['id']}", "cps").json()["version"]) == before


def test_the_birth_page_names_the_field_and_shows_what_was_typed(api: Api, web: Web) -> None:
    case = api.drive(api.open_case(), ["record_consent"])
    nurse = web.sign_in("hospital")
    before = event_count(api)
    data: dict[str, Any] = {"born_at": "0001-01-01T00:00"}  # as a datetime-local input sends it
    answer = nurse.act(case["id"], "record_birth", **data)
    assert answer.status_code == 422, answer.text
    assert "must be on or after 1900-01-01 (in UTC)" in answer.text
    # Typed with an offset (not what a browser sends): it has no local time to show, and is shown as typed.
    answer = nurse.act(case["id"], "record_birth", born_at="0001-01-01T00:00:00+14:00")
    assert answer.status_code == 422, answer.text
    assert 'value="0001-01-01T00:00:00+14:00"' in answer.text
    assert event_count(api) == before
