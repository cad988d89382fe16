"""Task: the closed loop of each referral (`basedOn` its ServiceRequest): requested, then accepted, in progress,
completed (for a treatment referral: the admission, with the admitting program as owner), rejected (the parent
declined) or cancelled (replaced by a new referral). The mapping is the table in docs/fhir.md."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.task import Task

from api.fhir.common import instant, meta, organisation_ref, patient_ref, sub_id, valid
from api.fhir.servicerequest import ADMISSION, TREATMENT_REFERRAL, outcome_of
from engine import CaseRecordRead, EventView


def task(read: CaseRecordRead, referral: EventView) -> Task:
    _, status, settled = outcome_of(read, referral)
    reference = sub_id(read.case.id, referral.seq)
    body: dict[str, Any] = {
        "id": reference, "meta": meta((settled or referral).occurred_at),
        "basedOn": [{"reference": f"ServiceRequest/{reference}"}],
        "focus": {"reference": f"ServiceRequest/{reference}"},
        "status": status, "intent": "order", "for": patient_ref(read.case.id),
        "authoredOn": instant(referral.occurred_at), "lastModified": instant((settled or referral).occurred_at),
        "requester": organisation_ref(referral.organisation),
    }
    if referral.action == TREATMENT_REFERRAL:
        owner = (settled.data.get("provider_org") if settled is not None and settled.action == ADMISSION
                 else referral.data.get("provider_org"))
        if owner:
            body["owner"] = organisation_ref(str(owner))
    if settled is not None:
        body["executionPeriod"] = {"start": instant(referral.occurred_at), "end": instant(settled.occurred_at)}
    return valid(Task, body)
