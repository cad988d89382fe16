"""The CapabilityStatement (`GET /fhir/metadata`): exactly the interactions and searches posc answers; and posc's
CodeSystem (`GET /fhir/CodeSystem/posc`), the codes posc uses where no standard terminology has one."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.codesystem import CodeSystem

from api.fhir.common import FHIR_VERSION, MEDIA_TYPE, POSC, valid

#: resource type → (interactions, search parameters as (name, type, documentation)).
SUPPORTED: dict[str, tuple[list[str], list[tuple[str, str, str]]]] = {
    "Patient": (["read", "search-type"], [
        ("family", "string", "The delivery check, with `birthdate`: exact last name, sent in the body of "
                             "`POST /fhir/Patient/_search` (never in a URL). Answers the minimal delivery answer."),
        ("birthdate", "date", "The delivery check, with `family`: the exact date of birth, in the body."),
        ("_id", "token", "A case reference."),
    ]),
    "CarePlan": (["read", "vread", "history-instance", "search-type"], [
        ("_id", "token", "A case reference."),
        ("identifier", "token", "A case reference."),
        ("patient", "reference", "Patient/<case reference>."),
        ("_lastUpdated", "date", "Cases changed since (`ge` or `gt`), for systems that poll; paged by `_count`."),
    ]),
    "Consent": (["read", "search-type"], [("patient", "reference", "Patient/<case reference>.")]),
    "ServiceRequest": (["read", "search-type"], [("patient", "reference", "Patient/<case reference>.")]),
    "Task": (["read", "search-type"], [("patient", "reference", "Patient/<case reference>.")]),
}

#: posc's codes: code → (display, definition).
CODES: dict[str, tuple[str, str]] = {
    "plan-of-safe-care": ("Plan of Safe Care", "A Plan of Safe Care for an infant affected by prenatal substance "
                          "exposure and the infant's caregivers (CAPTA), agreed before birth where possible."),
    "infant-service": ("Service for the infant", "A service of the plan for the infant."),
    "caregiver-service": ("Service for the parent or caregiver", "A service of the plan for the parent or caregiver."),
    "family-service": ("Service for the family", "A service of the plan for the wider family."),
    "planning-meeting": ("Planning meeting", "The meeting of CPS, treatment providers and the family, in the 30 "
                         "days before the due date, that agrees the plan."),
    "tier-status": ("Case status", "Disclosure tier: that a case exists, its phase, the lead contact."),
    "tier-plan": ("Plan of Safe Care", "Disclosure tier: the plan, the meeting, service referrals."),
    "tier-treatment": ("Substance use treatment records", "Disclosure tier: treatment records (42 CFR Part 2)."),
    "treatment-referral": ("Referral to substance use treatment", "A referral of the parent to treatment."),
    "service-referral": ("Referral to a service", "A referral of the infant or family to a service."),
    **{f"level-{level}": (level.replace("_", " ").capitalize(), f"Level of care: {level.replace('_', ' ')}.")
       for level in ("outpatient", "intensive_outpatient", "residential", "opioid_treatment_program",
                     "office_based")},
    **{f"service-{service}": (service.replace("_", " ").capitalize(), f"Service: {service.replace('_', ' ')}.")
       for service in ("early_intervention", "home_visiting", "pediatric_care", "treatment", "mental_health",
                       "housing", "other")},
}


def capability_statement(base: str, version: str, today: date) -> CapabilityStatement:
    resources: list[dict[str, Any]] = []
    for kind, (interactions, params) in SUPPORTED.items():
        resource: dict[str, Any] = {"type": kind, "interaction": [{"code": i} for i in interactions]}
        if params:
            resource["searchParam"] = [{"name": n, "type": t, "documentation": d} for n, t, d in params]
        if "vread" in interactions:
            resource["versioning"] = "versioned"
        resources.append(resource)
    return valid(CapabilityStatement, {
        "status": "active", "date": today.isoformat(), "kind": "instance", "fhirVersion": FHIR_VERSION,
        "format": [MEDIA_TYPE, "json"], "publisher": "posc",
        "software": {"name": "posc", "version": version},
        "implementation": {"description": "posc: prenatal Plans of Safe Care (read and search)", "url": base},
        "rest": [{
            "mode": "server",
            "documentation": "Read and search only. Every read is authorised by the parent's consent and the "
                             "caller's role, shows only the tiers the caller holds, and is recorded in the case's "
                             "accounting of disclosures.",
            "security": {"cors": False, "description": "Send an API key as `Authorization: Bearer <key>`."},
            "resource": resources,
        }],
    })


def code_system() -> CodeSystem:
    return valid(CodeSystem, {
        "id": "posc", "url": POSC, "name": "POSC", "title": "posc codes", "status": "active",
        "content": "complete", "caseSensitive": True, "count": len(CODES),
        "concept": [{"code": code, "display": display, "definition": definition}
                    for code, (display, definition) in CODES.items()],
    })
