"""CarePlan: the Plan of Safe Care of a case, now or at one of its versions (each version one plan event).

Status from the case (`draft` before a plan is agreed, `active` with a plan in place, `completed` or `revoked` once
the case is closed with or without one); activities from the plan's services and the planning meeting. The mapping,
field by field, is the table in docs/fhir.md."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.careplan import CarePlan

from api.fhir.common import (
    POSC,
    SNOMED,
    case_identifier,
    day,
    instant,
    meta,
    patient_ref,
    posc_code,
    valid,
)
from engine import CaseRecordRead, CaseSummary, Contact, EventView, LookupMatch

PLAN_SERVICE_GROUPS = {
    "infant_services": ("infant-service", "Service for the infant"),
    "caregiver_services": ("caregiver-service", "Service for the parent or caregiver"),
    "family_services": ("family-service", "Service for the family"),
}
SERVICE_STATUS = {
    "needed": "not-started", "referred": "scheduled", "engaged": "in-progress", "declined": "cancelled",
    "completed": "completed",
}
SCHEDULE_MEETING, MEETING_HELD = "schedule_planning_meeting", "record_planning_meeting"
CATEGORY = {"coding": [
    {"system": SNOMED, "code": "734163000", "display": "Care plan"},
    posc_code("plan-of-safe-care", "Plan of Safe Care"),
]}
LEAD = "lead"


def status_of(plan_in_place: bool, terminal: bool) -> str:
    if terminal:
        return "completed" if plan_in_place else "revoked"
    return "active" if plan_in_place else "draft"


def _author(contact: Contact | None) -> dict[str, Any]:
    if contact is None:
        return {}
    organisation: dict[str, Any] = {
        "resourceType": "Organization", "id": LEAD, "name": contact.name,
        "identifier": [{"system": "https://posc.dev/fhir/NamingSystem/organisation", "value": contact.organisation}],
    }
    if contact.contact:
        organisation["telecom"] = [{"system": "other", "value": contact.contact}]
    return {"contained": [organisation], "author": {"reference": f"#{LEAD}", "display": contact.name}}


def _base(case_id: str, status: str, contact: Contact | None) -> dict[str, Any]:
    return {
        "id": case_id, "identifier": [case_identifier(case_id)], "status": status, "intent": "plan",
        "category": [CATEGORY], "title": "Plan of Safe Care", "subject": patient_ref(case_id), **_author(contact),
    }


def careplan(read: CaseRecordRead, version: int | None = None) -> CarePlan | None:
    """The plan now, or as it was at `version` (None if there is no such version, or the caller may not see it:
    a reader without the plan tier sees only the current status)."""
    case = read.case
    number = case.plan_version if version is None else version
    current = number == case.plan_version
    if not current and not 1 <= number <= len(read.plans):
        return None
    plan = read.plans[number - 1] if 1 <= number <= len(read.plans) else None
    # An earlier version was the plan in place until the next one replaced it.
    body = _base(case.id, status_of(case.plan_in_place, case.terminal) if current else "active", case.lead_contact)
    body["meta"] = meta(case.updated_at if current or plan is None else plan.occurred_at, number,
                        subsetted=number >= 1 and plan is None)
    body["created"] = instant(case.opened_at)
    activities: list[dict[str, Any]] = []
    if plan is not None:
        body["period"] = {"start": instant(plan.occurred_at)}
        activities += _services(plan)
        notes = [{"text": f"{label}: {plan.data[field]}"} for field, label in (
            ("safety_considerations", "Safety considerations"), ("discharge_arrangement", "Discharge arrangement"),
        ) if plan.data.get(field)]
        if notes:
            body["note"] = notes
    meeting = _meeting([e for e in read.events if current or plan is None or e.seq <= plan.seq], plan)
    if meeting:
        activities.append(meeting)
    if activities:
        body["activity"] = activities
    return valid(CarePlan, body)


def _services(plan: EventView) -> list[dict[str, Any]]:
    found = []
    for group, (code, title) in PLAN_SERVICE_GROUPS.items():
        for service in plan.data.get(group) or []:
            if not isinstance(service, dict):
                continue
            detail: dict[str, Any] = {
                "kind": "ServiceRequest",
                "code": {"coding": [posc_code(code, title)], "text": str(service.get("service") or title)},
                "status": SERVICE_STATUS.get(str(service.get("status")), "unknown"),
            }
            if service.get("provider"):
                detail["performer"] = [{"display": str(service["provider"])}]
            if day(service.get("target_date")):
                detail["scheduledString"] = f"by {day(service.get('target_date'))}"
            if service.get("responsible"):
                detail["description"] = f"Responsible: {service['responsible']}"
            found.append({"detail": detail})
    return found


def _meeting(events: list[EventView], plan: EventView | None) -> dict[str, Any] | None:
    """The planning meeting: held (the plan event records its date) or scheduled."""
    held = plan if plan is not None and plan.action == MEETING_HELD else None
    scheduled = [e for e in events if e.action == SCHEDULE_MEETING]
    source = held or (scheduled[-1] if scheduled else None)
    if source is None or not source.data.get("meeting_date"):
        return None
    detail: dict[str, Any] = {
        "kind": "Appointment", "code": {"coding": [posc_code("planning-meeting", "Planning meeting")]},
        "status": "completed" if held else "scheduled", "scheduledString": str(source.data["meeting_date"]),
    }
    where = (scheduled[-1].data.get("location") if scheduled else None)
    if where:
        detail["location"] = {"display": str(where)}
    return {"detail": detail}


def summary(item: CaseSummary, contact: Contact | None = None) -> CarePlan:
    """A case in a list (polling by `_lastUpdated`): its status and when it changed; read the CarePlan for more."""
    body = _base(item.id, status_of(item.plan_in_place, False), contact)
    body["meta"] = meta(item.updated_at, subsetted=True)
    return valid(CarePlan, body)


def delivery_check(match: LookupMatch) -> CarePlan:
    """The delivery check's answer: whether a plan is in place, and whom to call (nothing more)."""
    body = _base(match.id, status_of(match.plan_in_place, False), match.lead_contact)
    body["meta"] = {"tag": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                             "code": "SUBSETTED", "display": "subsetted"}]}
    return valid(CarePlan, body)


__all__ = ["POSC", "careplan", "delivery_check", "status_of", "summary"]
