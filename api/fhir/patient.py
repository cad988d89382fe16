"""Patient: the parent of a case, with the identifying fields of the opening form that the caller's tiers allow.
posc keeps one record per pregnancy, so a parent is a Patient per case, with the case reference as its id. The
mapping is the table in docs/fhir.md."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.patient import Patient

from api.fhir.common import case_identifier, day, meta, valid
from engine import CaseRecordRead, LookupMatch


def patient(read: CaseRecordRead) -> Patient:
    case, data = read.case, read.case.data
    body: dict[str, Any] = {
        "id": case.id, "meta": meta(case.updated_at, case.version, subsetted=bool(case.withheld)),
        "identifier": [case_identifier(case.id)],
    }
    name: dict[str, Any] = {}
    if data.get("last_name"):
        name["family"] = str(data["last_name"])
    if data.get("first_name"):
        name["given"] = [str(data["first_name"])]
    if name:
        body["name"] = [{"use": "official", **name}]
    if day(data.get("date_of_birth")):
        body["birthDate"] = day(data.get("date_of_birth"))
    if data.get("phone"):
        body["telecom"] = [{"system": "phone", "value": str(data["phone"])}]
    return valid(Patient, body)


def matched_patient(match: LookupMatch) -> Patient:
    """A delivery check's match: the reference only (the caller already knows the name and the date of birth)."""
    return valid(Patient, {
        "id": match.id, "identifier": [case_identifier(match.id)],
        "meta": {"tag": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                          "code": "SUBSETTED", "display": "subsetted"}]},
    })
