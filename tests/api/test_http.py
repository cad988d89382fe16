"""Every endpoint of CONTRACT.md through the real application, with every status code it documents."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from engine import Catalogue, Database
from engine.cases import EVENTS
from tests.api.conftest import Api
from tests.factories import identification

PROBLEM = "application/problem+json"


def event_count(api: Api) -> int:
    services = api.client.app.state.services  # type: ignore[attr-defined]
    with services.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(EVENTS)).scalar() or 0)


def assert_problem(response: object, status: int, detail: str = "") -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith(PROBLEM)  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status and body["title"] and "Traceback" not in response.text  # type: ignore[attr-defined]
    assert detail in str(body["detail"]), body
    return body


# --- meta and definitions ---


def test_health_needs_no_key_and_everything_else_does(api: Api) -> None:
    assert api.client.get("/health").json() == {"status": "ok"}
    problem = assert_problem(api.client.get("/me"), 401, "Authorization: Bearer")
    assert problem["title"] == "Not authenticated"
    assert api.client.get("/me").headers["www-authenticate"] == "Bearer"
    assert_problem(api.client.get("/me", headers={"Authorization": "Bearer posc_nope_nope"}), 401, "unknown or revoked")
    assert_problem(api.client.get("/workflows", headers={"Authorization": "Basic abc"}), 401)


def test_me_names_the_caller(api: Api) -> None:
    me = api.get("/me", "hospital").json()
    assert (me["role"], me["organisation"], me["name"]) == ("hospital", "city-hospital", "hospital user")


def test_a_revoked_key_stops_working(api: Api) -> None:
    from engine.users import revoke_key

    services = api.client.app.state.services  # type: ignore[attr-defined]
    user_id = api.get("/me", "peer").json()["id"]
    case = api.drive(api.open_case(), ["record_consent"])  # the peer network may see the case
    assert api.get(f"/cases/{case['id']}", "peer").status_code == 200
    revoke_key(services.db, services.clock, user_id)
    assert_problem(api.get("/me", "peer"), 401)
    # The case view checks the key in its own read transaction: the same answer, and nothing disclosed.
    answer = api.get(f"/cases/{case['id']}", "peer")
    assert_problem(answer, 401, "unknown or revoked")
    assert answer.headers["www-authenticate"] == "Bearer"
    assert_problem(api.client.get("/cases/PC-NONE-NONE", headers={"Authorization": "Bearer posc_x_y"}), 401)
    disclosures = api.get(f"/cases/{case['id']}/disclosures", "cps").json()
    assert [d["what"] for d in disclosures if d["actor_role"] == "peer"] == ["view"]  # the one before revocation


def test_definitions_are_published(api: Api) -> None:
    assert api.get("/workflows", "analyst").json() == [
        {"id": "charm-posc", "version": 1, "title": "CHARM prenatal Plan of Safe Care"}
    ]
    definition = api.get("/workflows/charm-posc", "admin").json()
    assert len(definition["states"]) == 14 and len(definition["actions"]) == 23 and len(definition["deadlines"]) == 13
    notify = next(a for a in definition["actions"] if a["name"] == "notify_cps")
    assert notify["transitions"][0] == {"from": ["born_with_plan"], "to": "notified", "when": {"safety_concern": "no"}}
    assert "stateDiagram-v2" in api.get("/workflows/charm-posc/diagram", "cps").text
    schema = api.get("/forms/birth_event", "cps").json()
    assert schema["properties"]["infant_toxicology"]["x-tier"] == "treatment"
    assert schema["properties"]["withdrawal_signs"]["enum"] == ["none", "monitoring", "treated"]
    assert "born_at" in schema["required"]
    assert_problem(api.get("/workflows/nope", "cps"), 404, "unknown workflow")
    assert_problem(api.get("/forms/nope", "cps"), 404, "unknown form")


# --- opening and reading ---


def test_a_second_case_for_a_parent_with_an_open_one_is_a_409_naming_it(api: Api) -> None:
    first = api.open_case(new_pregnancy=False)
    body = {"workflow": "charm-posc", "data": identification(api.today())}
    refused = api.post("/cases", "prenatal", body)
    problem = assert_problem(refused, 409)
    reasons = problem["reasons"]
    assert problem["existing_case"] == first["id"] and isinstance(reasons, list) and "already open" in reasons[0]
    assert len(api.get("/cases", "prenatal").json()["items"]) == 1
    # A CPS worker may know of it (the delivery lookup would find it); a peer network holding no tier may not.
    assert assert_problem(api.post("/cases", "cps", body), 409)["existing_case"] == first["id"]
    assert api.post("/cases", "peer", body).status_code == 201
    assert api.post("/cases", "prenatal", {**body, "new_pregnancy": True}).status_code == 201


def test_opening_a_case_returns_201_with_location_and_etag(api: Api) -> None:
    response = api.post("/cases", "prenatal", {"workflow": "charm-posc", "data": {
        **__import__("tests.factories", fromlist=["identification"]).identification(api.today())}})
    assert response.status_code == 201
    case = response.json()
    assert response.headers["location"] == f"/cases/{case['id']}"
    assert response.headers["etag"] == '"v1"'
    assert case["state"] == "identified" and case["tiers"] == ["status"]
    assert case["withheld"] == ["identified_by", "substances", "on_moud"] and "substances" not in case["data"]
    assert case["deadlines"] == []  # the prenatal clinic owns none of the case's deadlines
    lead = api.get(f"/cases/{case['id']}", "cps").json()  # the lead sees every deadline
    assert {d["deadline"] for d in lead["deadlines"]} == {"treatment_admission", "consent", "planning_meeting"}
    due = date.fromisoformat(case["data"]["due_date"])
    assert case["windows"] == [{"window": "planning window", "action": "schedule_planning_meeting",
                                "from": (due - timedelta(days=30)).isoformat(), "to": due.isoformat()}]


def test_opening_refusals(api: Api) -> None:
    from tests.factories import identification

    good = identification(api.today())
    assert_problem(api.post("/cases", "hospital", {"workflow": "charm-posc", "data": good}), 403, "may not open")
    assert_problem(api.post("/cases", "analyst", {"workflow": "charm-posc", "data": good}), 403)
    assert_problem(api.post("/cases", "cps", {"workflow": "nope", "data": good}), 404, "unknown workflow")
    bad_date = {"workflow": "charm-posc", "data": {**good, "due_date": "soon"}}
    problem = assert_problem(api.post("/cases", "cps", bad_date), 422)
    assert problem["errors"] == [{"field": "due_date", "message": "must be an ISO date (YYYY-MM-DD)"}]
    problem = assert_problem(api.post("/cases", "cps", {"workflow": "charm-posc", "data": good, "extra": 1}), 422)
    assert problem["errors"] == [{"field": "extra", "message": "is not allowed here"}]
    assert_problem(api.post("/cases", "cps", {"workflow": "charm-posc", "data": {**good, "due_date": "2030-01-01"}}),
                   409, "more than 294 days")
    response = api.client.post("/cases", content=b'{"workflow": ', headers=api.headers("cps", **{
        "content-type": "application/json"}))
    assert_problem(response, 400, "not valid JSON")
    huge = {"workflow": "charm-posc", "data": {**good, "first_name": "x" * 300_000}}
    assert_problem(api.post("/cases", "cps", huge), 413, "larger than")
    assert event_count(api) == 0


def test_get_case_carries_an_etag_and_hides_unknown_cases(api: Api) -> None:
    case = api.open_case()
    response = api.get(f"/cases/{case['id']}", "cps")
    assert response.status_code == 200 and response.headers["etag"] == '"v1"'
    assert response.json()["lead_contact"]["name"] == "County Child Protective Services"
    assert_problem(api.get("/cases/PC-0000-0000", "cps"), 404)
    assert_problem(api.get(f"/cases/{case['id']}", "peer"), 404)  # not a party, no consent: may not know it


def test_listing_cases_is_scoped_filtered_and_paginated(api: Api) -> None:
    opened = [api.open_case() for _ in range(5)]
    api.drive(opened[0], ["record_consent", "admit_to_treatment"])
    first = api.get("/cases?limit=2", "cps").json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = api.get(f"/cases?limit=2&cursor={first['next_cursor']}", "cps").json()
    third = api.get(f"/cases?limit=2&cursor={second['next_cursor']}", "cps").json()
    seen = [c["id"] for page in (first, second, third) for c in page["items"]]
    assert sorted(seen) == sorted(c["id"] for c in opened) and third["next_cursor"] is None
    assert "data" not in first["items"][0]  # lists carry no identifying data
    assert [c["id"] for c in api.get("/cases?state=in_treatment", "treatment").json()["items"]] == [opened[0]["id"]]
    # The lead holds the plan tier, not treatment: it may not see (or filter by) a treatment state.
    assert api.get("/cases?state=in_treatment", "cps").json()["items"] == []
    assert {c["state"] for c in api.get("/cases", "cps").json()["items"] if c["id"] == opened[0]["id"]} == {None}
    assert len(api.get("/cases?phase=prenatal", "cps").json()["items"]) == 5
    assert api.get("/cases", "peer").json()["items"] == [
        c for c in api.get("/cases", "peer").json()["items"] if c["id"] == opened[0]["id"]
    ]  # the peer network only sees the consented case
    assert_problem(api.get("/cases", "analyst"), 403, "sees no case data")
    assert_problem(api.get("/cases?cursor=garbage", "cps"), 422, "cursor")
    assert_problem(api.get("/cases?limit=0", "cps"), 422)
    api.clock.advance(timedelta(days=8))
    overdue = api.get("/cases?overdue=true", "cps").json()["items"]
    assert {c["id"] for c in overdue} == {c["id"] for c in opened[1:]}  # the first was admitted and consented


# --- actions ---


def test_available_actions_say_why_not(api: Api) -> None:
    case = api.open_case()
    options = {o["action"]: o for o in api.get(f"/cases/{case['id']}/actions", "cps").json()}
    assert options["transfer_out"]["allowed"] and options["transfer_out"]["target"] == "closed"
    assert "record_birth" not in options  # another role's action is not offered; trying it says why
    assert_problem(api.post(f"/cases/{case['id']}/actions/record_birth", "cps", {"data": {}}), 403,
                   "the cps role may not record the birth (roles allowed: hospital)")
    reasons = options["schedule_planning_meeting"]["reasons"]
    assert "no active consent covers county-cps (lead CPS organisation)" in reasons


def test_taking_actions_and_every_refusal(api: Api) -> None:
    case = api.open_case()
    before = event_count(api)
    assert_problem(api.act(case, "admit_to_treatment"), 404)  # the treatment provider may not know the case yet
    assert_problem(api.act(case, "admit_to_treatment", role="cps"), 403, "cps role may not admit")
    assert_problem(api.act(case, "notify_cps"), 409, "not available in state identified")
    assert_problem(api.post(f"/cases/{case['id']}/actions/fly", "cps", {"data": {}}), 404, "no action 'fly'")
    body = assert_problem(api.act(case, "record_consent", expires_on="2020-01-01"), 409)
    assert body["reasons"] == [f"the expiry date 2020-01-01 must be after the signing date {api.today()}"]
    body = assert_problem(api.act(case, "record_consent", signature_method="fax"), 422)
    assert body["errors"] == [{"field": "signature_method", "message": "must be one of 'written' or 'electronic'"}]
    assert_problem(api.post(f"/cases/{case['id']}/actions/record_consent", "cps", {"payload": {}}), 422)
    assert event_count(api) == before

    response = api.act(case, "record_consent")
    assert response.status_code == 200 and response.headers["etag"] == '"v2"'
    assert response.json()["tiers"] == ["status", "plan"]


def test_if_match_makes_an_action_conditional(api: Api) -> None:
    case = api.open_case()
    path = f"/cases/{case['id']}/actions/record_declined"
    from tests.factories import action_data

    data = {"data": action_data("record_declined", api.clock.now(), api.today())}
    assert_problem(api.post(path, "cps", data, headers={"If-Match": '"v7"'}), 412, "not 7")
    assert_problem(api.post(path, "cps", data, headers={"If-Match": "banana"}), 400, "If-Match")
    assert api.post(path, "cps", data, headers={"If-Match": '"v1"'}).status_code == 200


def test_an_idempotency_key_makes_a_retry_harmless(api: Api) -> None:
    from tests.factories import action_data

    case = api.open_case()
    path = f"/cases/{case['id']}/actions/record_consent"
    data = {"data": action_data("record_consent", api.clock.now(), api.today())}
    first = api.post(path, "prenatal", data, headers={"Idempotency-Key": "k-1"})
    count = event_count(api)
    again = api.post(path, "prenatal", data, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert event_count(api) == count
    changed = {"data": {**data["data"], "purpose": "something else"}}
    assert_problem(api.post(path, "prenatal", changed, headers={"Idempotency-Key": "k-1"}), 422, "different request")
    assert event_count(api) == count


# --- history, disclosures, documents ---


def test_events_are_filtered_to_the_callers_tiers(api: Api) -> None:
    case = api.drive(api.open_case(), ["record_consent", "admit_to_treatment"])
    as_treatment = api.get(f"/cases/{case['id']}/events", "treatment").json()
    as_hospital = api.get(f"/cases/{case['id']}/events", "hospital").json()
    # Minimum necessary: the admission is a treatment event; a hospital holding status and plan does not see it.
    assert [e["action"] for e in as_hospital] == ["open_case", "record_consent"]
    assert as_treatment[2]["data"]["moud"] == "buprenorphine"
    assert as_hospital[1]["to_state"] == "identified"


def test_the_lead_organisation_gets_the_accounting_of_disclosures(api: Api) -> None:
    case = api.drive(api.open_case(), ["record_consent"])
    api.get(f"/cases/{case['id']}", "hospital")
    api.get(f"/cases/{case['id']}/events", "peer")
    entries = api.get(f"/cases/{case['id']}/disclosures", "cps").json()
    assert [(e["organisation"], e["what"], e["tiers"]) for e in entries] == [
        ("prenatal-clinic", "open", ["status"]), ("prenatal-clinic", "action", ["status", "plan"]),
        ("city-hospital", "view", ["status", "plan"]), ("peer-network", "events", ["status", "plan"]),
        ("county-cps", "disclosures", ["status", "plan"]),
    ]
    assert_problem(api.get(f"/cases/{case['id']}/disclosures", "hospital"), 403, "lead organisation")


def test_the_plan_document_is_versioned_html(api: Api) -> None:
    case = api.drive(api.open_case(first_name="<script>alert(1)</script>"), ["record_consent"])
    assert_problem(api.get(f"/cases/{case['id']}/documents/plan-of-safe-care", "cps"), 404, "no Plan of Safe Care")
    case = api.drive(
        case, ["admit_to_treatment", "schedule_planning_meeting", "record_planning_meeting", "update_plan"]
    )
    latest = api.get(f"/cases/{case['id']}/documents/plan-of-safe-care", "cps")
    assert latest.status_code == 200 and latest.headers["content-type"].startswith("text/html")
    assert "version 2 of 2" in latest.text and "pediatric care" in latest.text
    assert "&lt;script&gt;" in latest.text and "<script>alert" not in latest.text
    first = api.get(f"/cases/{case['id']}/documents/plan-of-safe-care?version=1", "cps")
    assert "version 1 of 2" in first.text
    assert first.text == api.get(f"/cases/{case['id']}/documents/plan-of-safe-care?version=1", "cps").text
    assert_problem(api.get(f"/cases/{case['id']}/documents/plan-of-safe-care?version=9", "cps"), 404, "versions 1 to 2")
    assert "Some information is withheld" in latest.text


# --- lookup and worklist ---


def test_the_hospital_lookup_is_minimal_exact_and_audited(api: Api) -> None:
    case = api.open_case(last_name="Okafor", date_of_birth="1990-05-06")
    found = api.post("/lookup", "hospital", {"last_name": " okafor ", "date_of_birth": "1990-05-06"}).json()
    assert found == {"matches": [{
        "id": case["id"], "plan_in_place": False,
        "lead_contact": {"organisation": "county-cps", "name": "County Child Protective Services",
                         "contact": "CPS intake line 555-0100 (24 hours)"},
    }]}
    assert api.post("/lookup", "hospital", {"last_name": "Okafor", "date_of_birth": "1990-05-07"}).json() == {
        "matches": []}
    assert_problem(api.post("/lookup", "peer", {"last_name": "Okafor", "date_of_birth": "1990-05-06"}), 403)
    assert_problem(api.post("/lookup", "hospital", {"last_name": "Okafor"}), 422, "date_of_birth")
    assert_problem(api.post("/lookup", "hospital", {"last_name": "Okafor", "date_of_birth": "1990-05-06",
                                                    "first_name": "x"}), 422)
    audit = api.get(f"/cases/{case['id']}/disclosures", "cps").json()
    assert ("city-hospital", "lookup") in [(e["organisation"], e["what"]) for e in audit]


def test_lookups_are_rate_limited_per_user_across_server_processes(
    api: Api, db: Database, catalogue: Catalogue
) -> None:
    body = {"last_name": "Nobody", "date_of_birth": "1990-01-01"}
    other = TestClient(create_app(clock=api.clock, catalogue=catalogue, db=db))  # another server process
    answers = [(api.client if i % 2 else other).post("/lookup", json=body, headers=api.headers("hospital"))
               for i in range(30)]
    assert [a.status_code for a in answers] == [200] * 30
    assert [int(a.headers["RateLimit-Remaining"]) for a in answers] == list(range(29, -1, -1))
    assert {a.headers["RateLimit-Limit"] for a in answers} == {"30"}
    refused = api.post("/lookup", "hospital", body)
    limited = assert_problem(refused, 429, "too many lookups")
    assert limited["status"] == 429 and refused.headers["Retry-After"] == refused.headers["RateLimit-Reset"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert api.post("/lookup", "cps", body).status_code == 200  # per user
    api.clock.advance(timedelta(seconds=int(refused.headers["Retry-After"])))
    assert api.post("/lookup", "hospital", body).headers["RateLimit-Remaining"] == "29"  # a new window


def test_the_worklist_shows_open_deadlines_most_urgent_first(api: Api) -> None:
    case = api.open_case(due_date=(api.clock.now().date() + timedelta(days=120)).isoformat())
    items = api.get("/worklist", "cps").json()["items"]
    assert [i["deadline"] for i in items] == ["treatment_admission", "consent"]
    assert all(i["case"] == case["id"] and not i["overdue"] for i in items)
    api.clock.advance(timedelta(days=8))
    items = api.get("/worklist", "cps").json()["items"]
    assert items[0]["deadline"] == "treatment_admission" and items[0]["overdue"] and items[0]["past_target"]
    page = api.get("/worklist?limit=1", "cps").json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = api.get(f"/worklist?limit=1&cursor={page['next_cursor']}", "cps").json()
    assert rest["items"][0]["deadline"] == "consent"
    assert [i["deadline"] for i in api.get("/worklist?role=treatment", "cps").json()["items"]] == [
        "treatment_admission"]
    assert_problem(api.get("/worklist", "admin"), 403)


def test_revoking_consent_takes_effect_on_the_next_request(api: Api) -> None:
    case = api.drive(api.open_case(), ["record_consent"])
    assert api.get(f"/cases/{case['id']}", "peer").status_code == 200
    assert api.act(case, "revoke_consent").status_code == 200
    assert_problem(api.get(f"/cases/{case['id']}", "peer"), 404)
    assert api.get(f"/cases/{case['id']}", "hospital").json()["tiers"] == ["status"]


def test_unknown_routes_and_methods_are_problems(api: Api) -> None:
    assert_problem(api.get("/nowhere", "cps"), 404)
    assert_problem(api.client.delete("/cases", headers=api.headers("cps")), 405)


def test_capta_figures_are_de_identified_and_role_limited(api: Api) -> None:
    api.drive(api.open_case(), ["record_consent", "admit_to_treatment"])
    first = api.today().replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    month = f"from={first}&to={last}"
    report = api.get(f"/reports/capta?{month}", "analyst").json()
    access = next(s for s in report["sections"] if s["id"] == "treatment_access")
    assert access["figures"][0] == {
        "id": "identified", "label": "Parents identified", "kind": "count", "of": None, "value": "<5",
        "definition": "Every case opened for a parent identified in the period.",
        "by_month": [{"month": f"{first:%Y-%m}", "value": "<5"}],
        "by_office": [{"office": "county-cps", "name": "County Child Protective Services", "value": "<5"}],
    }
    assert report["period"] == {"from": str(first), "to": str(last), "kind": "month", "months": [f"{first:%Y-%m}"]}
    assert "Rivera" not in str(report) and "PC-" not in str(report)
    assert api.get(f"/reports/capta?{month}", "cps").status_code == 200
    exported = api.get(f"/reports/capta?{month}&format=csv", "analyst")
    assert exported.status_code == 200 and exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="posc-figures-{first}-{last}.csv"' in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {"section": "treatment_access", "figure": "identified", "breakdown": "office",
            "key": "County Child Protective Services", "value": "<5"}.items() <= rows[
        next(i for i, r in enumerate(rows) if r["figure"] == "identified" and r["breakdown"] == "office")].items()
    assert_problem(api.get(f"/reports/capta?{month}", "hospital"), 403, "outcome reports")
    assert_problem(api.get(f"/reports/capta?{month}&format=csv", "hospital"), 403, "outcome reports")
    assert_problem(api.get(f"/reports/capta?from={first}&to=2020-01-31", "admin"), 422, "must be a whole month")
    assert_problem(api.get(f"/reports/capta?from={first + timedelta(days=1)}&to={last}", "admin"), 422,
                   "first day of a month")
    assert_problem(api.get("/reports/capta?from=yesterday&to=today", "admin"), 422)
    assert_problem(api.get(f"/reports/capta?{month}&format=xlsx", "admin"), 422)
