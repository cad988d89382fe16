"""Consent: each universal consent the parent signed (one `record_consent` event), with the elements 42 CFR Part 2
asks of a consent to disclose substance use treatment records: who may receive (`provision.actor`), which kinds of
information (`provision.code`, posc's disclosure tiers; `securityLabel` ETH when treatment records are covered), the
purpose, the expiry (`provision.period.end`) and revocation (`status` inactive, the period ended on the revocation
date). The mapping is the table in docs/fhir.md."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir.resources.R4B.consent import Consent

from api.fhir.common import (
    ACT_CODE,
    ACT_REASON,
    CONSENT_SCOPE,
    LOINC,
    PARTICIPATION,
    day,
    instant,
    meta,
    organisation_ref,
    patient_ref,
    posc_code,
    sub_id,
    valid,
)
from engine import CaseRecordRead, EventView

RECORD, REVOKE = "record_consent", "revoke_consent"
TIER_TITLES = {"status": "Case status", "plan": "Plan of Safe Care", "treatment": "Substance use treatment records"}
PART2 = "https://www.ecfr.gov/current/title-42/chapter-I/subchapter-A/part-2"


def consents(read: CaseRecordRead, today: date) -> list[Consent]:
    return [consent(read, event, today) for event in read.events if event.action == RECORD]


def consent(read: CaseRecordRead, event: EventView, today: date) -> Consent:
    data = event.data
    revoked = next((e for e in read.events if e.action == REVOKE and e.seq > event.seq), None)
    revoked_on = day(revoked.data.get("revoked_on")) if revoked is not None else None
    expires = day(data.get("expires_on"))
    ended = revoked is not None or (expires is not None and date.fromisoformat(expires) < today)
    categories = [str(c) for c in data.get("categories") or []]
    provision: dict[str, Any] = {
        "type": "permit",
        "actor": [{
            "role": {"coding": [{"system": PARTICIPATION, "code": "IRCP", "display": "information recipient"}]},
            "reference": organisation_ref(str(org)),
        } for org in data.get("organisations") or []],
        "purpose": [{"system": ACT_REASON, "code": "TREAT", "display": "treatment"}],
        "code": [{"coding": [posc_code(f"tier-{c}", TIER_TITLES.get(c))], "text": TIER_TITLES.get(c, c)}
                 for c in categories],
    }
    period: dict[str, Any] = {}
    if day(data.get("signed_on")):
        period["start"] = day(data.get("signed_on"))
    if revoked_on or expires:
        period["end"] = min(d for d in (revoked_on, expires) if d)
    if period:
        provision["period"] = period
    if "treatment" in categories:
        provision["securityLabel"] = [{"system": ACT_CODE, "code": "ETH",
                                       "display": "substance abuse information sensitivity"}]
    body: dict[str, Any] = {
        "id": sub_id(read.case.id, event.seq),
        "meta": meta(revoked.occurred_at if revoked is not None else event.occurred_at, 2 if revoked else 1,
                     subsetted=bool(event.withheld)),
        "status": "inactive" if ended else "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy", "display": "Privacy Consent"}]},
        "category": [
            {"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]},
            {"coding": [{"system": ACT_CODE, "code": "IDSCL", "display": "information disclosure"}]},
        ],
        "patient": patient_ref(read.case.id),
        "dateTime": instant(event.occurred_at),
        "organization": [organisation_ref(event.organisation)],
        "policy": [{"uri": PART2}],
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "42CFRPart2", "display": "42 CFR Part2"}]},
        "provision": provision,
    }
    if data.get("purpose"):
        body["sourceAttachment"] = {"title": f"Purpose as written on the signed form: {data['purpose']}"[:1000]}
    if data.get("signature_method"):
        body["verification"] = [{"verified": True, "verifiedWith": patient_ref(read.case.id),
                                 **({"verificationDate": day(data.get("signed_on"))} if day(data.get("signed_on"))
                                    else {})}]
    return valid(Consent, body)
