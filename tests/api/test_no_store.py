"""No answer that can carry case data may be kept by a browser or a proxy: each is marked `Cache-Control: no-store`,
errors and documents included; only the health check and the API description may be cached."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api
from tests.pathway import ROUTES


def no_store(response: Any) -> bool:
    return bool(response.headers.get_list("cache-control") == ["no-store"])


def test_every_answer_with_case_data_is_marked_no_store(api: Api) -> None:
    case = api.drive(api.open_case(last_name="Nocache"), ROUTES["plan_agreed"])
    case_id = case["id"]
    answers = {
        "case": api.get(f"/cases/{case_id}", "cps"),
        "events": api.get(f"/cases/{case_id}/events", "cps"),
        "actions": api.get(f"/cases/{case_id}/actions", "cps"),
        "plan": api.get(f"/cases/{case_id}/documents/plan-of-safe-care", "cps"),
        "plan as pdf": api.get(f"/cases/{case_id}/documents/plan-of-safe-care?format=pdf", "cps"),
        "action": api.act(case, "record_birth"),
        "open": api.post("/cases", "prenatal", {"workflow": "charm-posc", "data": {}}),
        "lookup": api.post("/lookup", "hospital", {"last_name": "Nocache", "date_of_birth": "1996-04-12"}),
        "worklist": api.get("/worklist", "cps"),
        "cases": api.get("/cases", "cps"),
        "not found": api.get("/cases/PC-0000-0000", "cps"),
        "not signed in": api.client.get(f"/cases/{case_id}"),
        "refused": api.act(case, "close_case", role="hospital"),
        "too large": api.post("/lookup", "hospital", {"last_name": "x" * 300_000, "date_of_birth": "1996-04-12"}),
    }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses["case"] == statuses["plan"] == statuses["plan as pdf"] == statuses["action"] == 200, statuses
    assert answers["plan as pdf"].headers["content-type"] == "application/pdf"
    assert statuses["open"] == 422 and statuses["not found"] == 404 and statuses["not signed in"] == 401
    assert statuses["too large"] == 413
    assert answers["not found"].headers["content-type"].startswith("application/problem+json")
    assert [name for name, answer in answers.items() if not no_store(answer)] == []


def test_the_health_check_and_the_api_description_may_be_cached(api: Api) -> None:
    for path in ("/health", "/openapi.json", "/docs"):  # (the pages mark even their static files no-store)
        answer = api.client.get(path)
        assert answer.status_code == 200, path
        assert "no-store" not in answer.headers.get("cache-control", ""), path


def test_a_server_error_is_marked_no_store_and_says_nothing_of_the_data(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = api.open_case()
    services = api.client.app.state.services  # type: ignore[attr-defined]

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("Rivera 1996-04-12 opioids")

    monkeypatch.setattr(services.queries, "view_with_key", broken)
    answer = api.get(f"/cases/{case['id']}?marker=123", "cps")
    assert answer.status_code == 500 and no_store(answer)
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "Rivera" not in answer.text and "RuntimeError" not in answer.text
