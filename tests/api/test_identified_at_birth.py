"""Identification at birth over HTTP: `POST /cases` with `birth` beside `data`, by hospital staff at delivery."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from engine.cases import CASES, EVENTS
from tests.api.conftest import Api
from tests.factories import action_data, identification


def body(api: Api, **birth_changes: Any) -> dict[str, Any]:
    today = api.today()
    data = identification(today, due_date=(today + timedelta(days=4)).isoformat(), gestational_weeks=39)
    del data["identified_by"]
    birth = {**action_data("record_birth", api.clock.now(), today), **birth_changes}
    return {"workflow": "charm-posc", "data": data, "birth": birth}


def counts(api: Api) -> tuple[int, int]:
    db = api.client.app.state.services.db  # type: ignore[attr-defined]
    with db.read() as conn:
        return (conn.execute(select(func.count()).select_from(CASES)).scalar_one(),
                conn.execute(select(func.count()).select_from(EVENTS)).scalar_one())


def test_hospital_staff_open_a_case_at_delivery(api: Api) -> None:
    response = api.post("/cases", "hospital", body(api))
    assert response.status_code == 201, response.text
    case = response.json()
    assert (case["state"], case["phase"]) == ("born_without_plan", "birth")
    assert response.headers["Location"] == f"/cases/{case['id']}"
    assert "capta_notification" in {d["deadline"] for d in case["deadlines"]}
    # The lead CPS office sees it, at its plan tier, with its plan to make before discharge and no prenatal clock.
    cps = api.get(f"/cases/{case['id']}", "cps").json()
    assert cps["data"]["identified_by"] == "hospital"
    clocks = {d["deadline"] for d in cps["deadlines"]}
    assert "plan_before_discharge" in clocks and not clocks & {"treatment_admission", "consent", "planning_meeting"}
    events = api.get(f"/cases/{case['id']}/events", "cps").json()
    assert [e["action"] for e in events] == ["open_case", "record_birth"]


def test_a_retry_at_delivery_opens_one_case(api: Api) -> None:
    first = api.post("/cases", "hospital", body(api), headers={"Idempotency-Key": "delivery-1"})
    again = api.post("/cases", "hospital", body(api), headers={"Idempotency-Key": "delivery-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    changed = body(api, birth_weight_grams=2900)
    assert api.post("/cases", "hospital", changed, headers={"Idempotency-Key": "delivery-1"}).status_code == 422


def test_refusals_at_delivery_name_the_field_and_store_nothing(api: Api) -> None:
    before = counts(api)
    bad = api.post("/cases", "hospital", body(api, birth_weight_grams=12))
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in bad.json()["errors"]] == ["birth.birth_weight_grams"]
    future = body(api, born_at=(api.clock.now() + timedelta(hours=3)).isoformat())
    refused = api.post("/cases", "hospital", future)
    assert refused.status_code == 409 and "in the future" in refused.json()["reasons"][0]
    assert api.post("/cases", "cps", body(api)).status_code == 403
    plain = {"workflow": "charm-posc", "data": identification(api.today())}
    assert api.post("/cases", "hospital", plain).status_code == 403
    claimed = {"workflow": "charm-posc", "data": identification(api.today(), identified_by="hospital")}
    wrong = api.post("/cases", "prenatal", claimed)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "identified_by"
    assert counts(api) == before
