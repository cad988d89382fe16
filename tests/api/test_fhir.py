"""The FHIR R4 interface, used through a FHIR client library (fhirpy) as a hospital's EHR and a treatment provider's
system would: the delivery check, the plan and its history, the consent, the referrals and their closed loop,
polling for changes. Every resource answered is validated again here with the R4B models; every read is in the
case's accounting of disclosures; a reader sees only what its tiers allow, and a case it may not know answers as
one never issued."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from typing import Any

import fhirpy.base.lib_sync as lib_sync
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import AuthorizationError, OperationOutcome, ResourceNotFound

from tests.api.conftest import SECOND_HOSPITAL, Api
from tests.factories import ORGANISATIONS
from tests.pathway import ROUTES

BASE = "http://testserver/fhir"


def validated(resource: dict[str, Any]) -> Any:
    """The resource as its R4B model: fails the test if posc answered an invalid one."""
    return get_fhir_model_class(resource["resourceType"]).model_validate(resource)


@pytest.fixture
def fhir(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, SyncFHIRClient]]:
    """A fhirpy client per role, talking to the application in-process. Every answer it receives is validated."""

    def request(method: str, url: str, json: Any = None, headers: Any = None, **_: Any) -> Any:
        response = api.client.request(method, url, json=json, headers=headers)
        if response.headers.get("content-type", "").startswith("application/fhir+json"):
            body = response.json()
            validated(body)
            for entry in body.get("entry") or []:
                validated(entry["resource"])
        return response

    monkeypatch.setattr(lib_sync, "requests", types.SimpleNamespace(request=request))
    yield {role: SyncFHIRClient(BASE, authorization=f"Bearer {key}") for role, key in api.key.items()}


def planned_case(api: Api, **changes: Any) -> dict[str, Any]:
    """A case referred to treatment, consented (every partner but Valley Hospital), admitted, with a plan agreed."""
    case = api.drive(api.open_case(last_name="Fhirtest", **changes), ["refer_to_treatment"])
    consent = api.act(case, "record_consent", organisations=sorted(set(ORGANISATIONS) - {SECOND_HOSPITAL}))
    assert consent.status_code == 200, consent.text
    return api.drive(case, [a for a in ROUTES["plan_agreed"] if a != "record_consent"])


def delivery_check(api: Api, role: str, family: str, birthdate: str) -> Any:
    return api.client.post("/fhir/Patient/_search", data={"family": family, "birthdate": birthdate},
                           headers=api.headers(role))


def test_the_capability_statement_lists_what_is_served(api: Api) -> None:
    answer = api.client.get("/fhir/metadata")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/fhir+json")
    statement = validated(answer.json())
    served = {r.type: {i.code for i in r.interaction} for r in statement.rest[0].resource}
    assert served["CarePlan"] == {"read", "vread", "history-instance", "search-type"}
    assert set(served) == {"Patient", "CarePlan", "Consent", "ServiceRequest", "Task"}
    codes = validated(api.client.get("/fhir/CodeSystem/posc").json())
    assert "plan-of-safe-care" in {c.code for c in codes.concept}


def test_the_hospital_checks_at_delivery_that_a_plan_is_in_place(api: Api, fhir: dict[str, SyncFHIRClient]) -> None:
    case = planned_case(api)
    answer = delivery_check(api, "hospital", "Fhirtest", "1996-04-12")
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    patients = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match"]
    plans = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert [p["id"] for p in patients] == [case["id"]] and "name" not in patients[0]
    assert plans[0]["status"] == "active" and plans[0]["author"]["display"]
    assert "activity" not in plans[0]  # the minimal answer: a plan is in place, and whom to call
    assert "RateLimit-Remaining" in answer.headers
    # The same as POST /lookup, and audited the same way.
    disclosures = api.get(f"/cases/{case['id']}/disclosures", "cps").json()
    assert [d["what"] for d in disclosures if d["organisation"] == "city-hospital"][-1] == "lookup"
    # fhirpy's own POST _search (a JSON body) gives the same answer.
    raw = fhir["hospital"].execute("Patient/_search", method="post",
                                   data={"family": "Fhirtest", "birthdate": "1996-04-12"})
    assert [e["resource"]["id"] for e in raw["entry"]] == [case["id"], case["id"]]


def test_the_delivery_check_keeps_personal_data_out_of_urls(api: Api, fhir: dict[str, SyncFHIRClient]) -> None:
    with pytest.raises(OperationOutcome) as refused:
        fhir["hospital"].resources("Patient").search(family="Fhirtest", birthdate="1996-04-12").fetch()
    assert "body of POST /fhir/Patient/_search" in refused.value.resource["issue"][0]["diagnostics"]
    missing = delivery_check(api, "hospital", "Fhirtest", "")
    assert missing.status_code == 400 and missing.json()["issue"][0]["expression"] == ["birthdate"]
    bad = delivery_check(api, "hospital", "Fhirtest", "02/03/1994")
    assert bad.status_code == 400 and "birthdate: is not a date" in bad.json()["issue"][0]["diagnostics"]
    assert delivery_check(api, "peer", "Fhirtest", "1996-04-12").status_code == 403
    # a POST with the name in its query string is refused too, and looks nobody up
    in_url = api.client.post("/fhir/Patient/_search?family=Fhirtest", data={"birthdate": "1996-04-12"},
                             headers=api.headers("hospital"))
    assert in_url.status_code == 400 and in_url.json()["issue"][0]["code"] == "security"


def test_a_treatment_provider_reads_the_plan_and_its_history(api: Api, fhir: dict[str, SyncFHIRClient]) -> None:
    case = planned_case(api)
    api.drive(case, ["update_plan"])
    client = fhir["treatment"]
    plan = client.reference("CarePlan", case["id"]).to_resource()
    assert plan["status"] == "active" and plan["meta"]["versionId"] == "2"
    assert plan["subject"]["reference"] == f"Patient/{case['id']}"
    assert plan["category"][0]["coding"][0]["code"] == "734163000"
    kinds = [a["detail"]["code"]["coding"][0]["code"] for a in plan["activity"]]
    assert {"infant-service", "caregiver-service", "planning-meeting"} <= set(kinds)
    history = client.reference("CarePlan", case["id"]).execute("_history", method="get")
    assert history["type"] == "history" and [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    first = client.execute(f"CarePlan/{case['id']}/_history/1", method="get")
    assert first["meta"]["versionId"] == "1"
    with pytest.raises(ResourceNotFound):
        client.execute(f"CarePlan/{case['id']}/_history/7", method="get")
    patient = client.reference("Patient", case["id"]).to_resource()
    assert patient["name"][0]["family"] == "Fhirtest" and patient["birthDate"] == "1996-04-12"
    assert [d["what"] for d in api.get(f"/cases/{case['id']}/disclosures", "cps").json()].count("fhir") == 5


def test_the_consent_and_the_referrals_close_the_loop(api: Api, fhir: dict[str, SyncFHIRClient]) -> None:
    case = planned_case(api)
    client = fhir["treatment"]
    assert fhir["peer"].reference("CarePlan", case["id"]).to_resource()["status"] == "active"
    consents = client.resources("Consent").search(patient=f"Patient/{case['id']}").fetch()
    assert len(consents) == 1
    consent = consents[0]
    assert consent["status"] == "active" and consent["policyRule"]["coding"][0]["code"] == "42CFRPart2"
    recipients = {a["reference"]["identifier"]["value"] for a in consent["provision"]["actor"]}
    assert "county-cps" in recipients and consent["provision"]["period"]["end"]
    again = client.reference("Consent", consent["id"]).to_resource()
    assert again["id"] == consent["id"]
    requests = client.resources("ServiceRequest").search(patient=f"Patient/{case['id']}").fetch()
    assert [r["status"] for r in requests] == ["completed"]  # referred, then admitted
    tasks = client.resources("Task").search(patient=f"Patient/{case['id']}").fetch()
    assert [t["status"] for t in tasks] == ["completed"]
    assert tasks[0]["basedOn"][0]["reference"] == f"ServiceRequest/{requests[0]['id']}"
    api.drive(case, ["revoke_consent"])
    revoked = client.resources("Consent").search(patient=f"Patient/{case['id']}").fetch()
    assert revoked[0]["status"] == "inactive" and revoked[0]["provision"]["period"]["end"] == api.today().isoformat()
    # The peer network held the case by the consent alone: revoked, it may not know the case any more.
    assert fhir["peer"].resources("Consent").search(patient=f"Patient/{case['id']}").fetch() == []
    with pytest.raises(ResourceNotFound):
        fhir["peer"].reference("CarePlan", case["id"]).to_resource()


def test_readers_see_only_their_tiers_and_outsiders_nothing(api: Api, fhir: dict[str, SyncFHIRClient]) -> None:
    case = planned_case(api)
    hospital = fhir["hospital"]  # plan tier by the consent, not treatment
    plan = hospital.reference("CarePlan", case["id"]).to_resource()
    assert plan["status"] == "active"
    assert hospital.resources("ServiceRequest").search(patient=f"Patient/{case['id']}").fetch() == []
    with pytest.raises(ResourceNotFound) as hidden:
        fhir[SECOND_HOSPITAL].reference("CarePlan", case["id"]).to_resource()
    with pytest.raises(ResourceNotFound) as unknown:
        fhir[SECOND_HOSPITAL].reference("CarePlan", "PC-ZZZZ-ZZZZ").to_resource()
    assert json.loads(hidden.value.args[0])["issue"][0]["code"] == json.loads(unknown.value.args[0])["issue"][0]["code"]
    assert fhir[SECOND_HOSPITAL].resources("CarePlan").search(_id=case["id"]).fetch() == []
    with pytest.raises(AuthorizationError):
        SyncFHIRClient(BASE, authorization="Bearer nope").reference("CarePlan", case["id"]).to_resource()


def test_partners_poll_for_what_changed(api: Api, fhir: dict[str, SyncFHIRClient]) -> None:
    before = api.clock.now()
    first, second = planned_case(api), planned_case(api, first_name="Second")
    found = fhir["cps"].resources("CarePlan").search(_lastUpdated=f"ge{before.isoformat()}").limit(1).fetch_all()
    assert {p["id"] for p in found} >= {first["id"], second["id"]}
    assert all(p["meta"]["tag"][0]["code"] == "SUBSETTED" for p in found)
    later = fhir["cps"].resources("CarePlan").search(_lastUpdated="ge2999-01-01T00:00:00Z").fetch()
    assert later == []
    with pytest.raises(OperationOutcome):
        fhir["cps"].resources("CarePlan").search(_lastUpdated="yesterday").fetch()


def test_the_interface_is_read_only_and_says_what_it_serves(api: Api) -> None:
    write = api.client.put("/fhir/CarePlan/PC-ZZZZ-ZZZZ", json={}, headers=api.headers("cps"))
    assert write.status_code == 405 and write.json()["resourceType"] == "OperationOutcome"
    other = api.get("/fhir/Observation/1", "cps")
    assert other.status_code == 404 and "metadata" in other.json()["issue"][0]["diagnostics"]
    slash = api.get("/fhir/CarePlan/", "cps")
    assert slash.status_code == 404 and "search CarePlan?" in slash.json()["issue"][0]["diagnostics"]
    unknown = api.get("/fhir/CarePlan?colour=blue", "cps")
    assert unknown.status_code == 400 and unknown.json()["issue"][0]["expression"] == ["colour"]
    assert api.client.get("/fhir/CarePlan/PC-ZZZZ-ZZZZ").status_code == 401
    assert "no-store" in api.get("/fhir/CarePlan/PC-ZZZZ-ZZZZ", "cps").headers["cache-control"]
