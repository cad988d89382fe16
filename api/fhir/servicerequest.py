"""ServiceRequest: each referral of a case: to substance use treatment (`refer_to_treatment`, treatment tier) and to
a service for the infant or family (`record_referral`, plan tier). Its status closes the loop: a treatment referral
is `completed` once the parent is admitted after it and `revoked` if she declined; a service referral follows the
status recorded with it. The mapping is the table in docs/fhir.md."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.servicerequest import ServiceRequest

from api.fhir.common import day, instant, meta, organisation_ref, patient_ref, posc_code, sub_id, valid
from engine import CaseRecordRead, EventView

TREATMENT_REFERRAL, SERVICE_REFERRAL = "refer_to_treatment", "record_referral"
ADMISSION, DECLINED = "admit_to_treatment", "record_declined"
REFERRALS = (TREATMENT_REFERRAL, SERVICE_REFERRAL)
#: A service referral's recorded status → (ServiceRequest.status, Task.status).
SERVICE_STATUS = {
    "referred": ("active", "requested"), "accepted": ("active", "accepted"), "engaged": ("active", "in-progress"),
    "declined": ("revoked", "rejected"), "completed": ("completed", "completed"),
}


def referrals(read: CaseRecordRead) -> list[EventView]:
    return [e for e in read.events if e.action in REFERRALS]


def outcome_of(read: CaseRecordRead, referral: EventView) -> tuple[str, str, EventView | None]:
    """(ServiceRequest.status, Task.status, the event that settled it) for a referral."""
    if referral.action == SERVICE_REFERRAL:
        request, task = SERVICE_STATUS.get(str(referral.data.get("status")), ("active", "requested"))
        return request, task, None
    later = [e for e in read.events if e.seq > referral.seq]
    settled = next((e for e in later if e.action in (ADMISSION, DECLINED, TREATMENT_REFERRAL)), None)
    if settled is None:
        return "active", "requested", None
    if settled.action == ADMISSION:
        return "completed", "completed", settled
    if settled.action == DECLINED:
        return "revoked", "rejected", settled
    return "revoked", "cancelled", settled  # replaced by a new referral


def service_request(read: CaseRecordRead, referral: EventView) -> ServiceRequest:
    data = referral.data
    status, _, settled = outcome_of(read, referral)
    body: dict[str, Any] = {
        "id": sub_id(read.case.id, referral.seq),
        "meta": meta((settled or referral).occurred_at, subsetted=bool(referral.withheld)),
        "status": status, "intent": "order", "subject": patient_ref(read.case.id),
        "requester": organisation_ref(referral.organisation),
        "authoredOn": day(data.get("referred_on")) or instant(referral.occurred_at),
    }
    if referral.action == TREATMENT_REFERRAL:
        body["category"] = [{"coding": [posc_code("treatment-referral", "Referral to substance use treatment")]}]
        level = data.get("level_of_care")
        body["code"] = {"coding": [posc_code(f"level-{level}")] if level else [],
                        "text": f"Substance use treatment ({str(level).replace('_', ' ')})" if level
                        else "Substance use treatment"}
        if not body["code"]["coding"]:
            del body["code"]["coding"]
        if data.get("provider_org"):
            body["performer"] = [organisation_ref(str(data["provider_org"]))]
        if data.get("priority_requested") in (True, "yes"):
            body["priority"] = "urgent"
            body["note"] = [{"text": "Pregnancy priority admission requested"}]
    else:
        service = str(data.get("service") or "other")
        body["category"] = [{"coding": [posc_code("service-referral", "Referral to a service")]}]
        body["code"] = {"coding": [posc_code(f"service-{service}")], "text": service.replace("_", " ")}
        if data.get("provider"):
            body["performer"] = [{"display": str(data["provider"])}]
    return valid(ServiceRequest, body)
