"""What every FHIR resource of posc shares: the media type, the code systems, references, the answer (each resource
validated by its R4B model before it is sent), searchset Bundles and OperationOutcomes.

posc's FHIR interface is read-only and sits on the engine's typed answers (`CaseRecordRead`, `CaseSummary`,
`LookupMatch`), which hold only what the caller's tiers allow: no module here reads the database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import Response
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.resource import Resource

from engine import EventView

MEDIA_TYPE = "application/fhir+json"
FHIR_VERSION = "4.0.1"

#: posc's own code system (`GET /fhir/CodeSystem/posc`): what no standard terminology names.
POSC = "https://posc.dev/fhir/CodeSystem/posc"
#: A case reference (`PC-4F7K-2M9X`): the identifier of the parent's Patient and of the CarePlan.
CASE_REFERENCE = "https://posc.dev/fhir/NamingSystem/case-reference"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"

#: Marks a resource that carries less than the whole record: the caller's tiers withheld part of it, or it is the
#: minimal answer of a search (the delivery check).
SUBSETTED = {"system": OBSERVATION_VALUE, "code": "SUBSETTED", "display": "subsetted"}


class FhirProblem(Exception):
    """An error answered as an OperationOutcome with `status`, `code` (an issue-type) and `diagnostics`."""

    def __init__(self, status: int, code: str, diagnostics: str, expression: str | None = None) -> None:
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics, self.expression = status, code, diagnostics, expression


def outcome(status: int, code: str, diagnostics: str, expression: str | None = None) -> Response:
    issue: dict[str, Any] = {"severity": "error" if status >= 400 else "information", "code": code,
                             "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return answer(OperationOutcome.model_validate({"issue": [issue]}), status)


def answer(resource: Resource, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(resource.model_dump_json(), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def valid(model: type[Resource], body: Mapping[str, Any]) -> Any:
    """The resource `body` as its R4B model: every resource posc sends is validated first (a failure is a bug in
    the mapping and answers 500, never an invalid resource)."""
    return model.model_validate(body)


def instant(moment: datetime) -> str:
    """A FHIR instant, in UTC, to the second or better."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def day(value: Any) -> str | None:
    """A FHIR date from a form's date value (an ISO string or a date), or None."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            return None
    return None


def posc_code(code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": POSC, "code": code}
    if display:
        coding["display"] = display
    return coding


def patient_ref(case_id: str) -> dict[str, Any]:
    return {"reference": f"Patient/{case_id}"}


def organisation_ref(organisation: str, name: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"identifier": {"system": "https://posc.dev/fhir/NamingSystem/organisation",
                                          "value": organisation}}
    ref["display"] = name or organisation
    return ref


def case_identifier(case_id: str) -> dict[str, Any]:
    return {"system": CASE_REFERENCE, "value": case_id}


def meta(updated: datetime, version: int | str | None = None, *, subsetted: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {"lastUpdated": instant(updated)}
    if version is not None:
        found["versionId"] = str(version)
    if subsetted:
        found["tag"] = [SUBSETTED]
    return found


def sub_id(case_id: str, seq: int) -> str:
    """The id of a resource made from one event of a case: `<case reference>-<event number>`."""
    return f"{case_id}-{seq}"


def split_id(resource_id: str) -> tuple[str, int]:
    """The case reference and the event number of a `sub_id`; `FhirProblem` 404 if it is not one."""
    case_id, _, seq = resource_id.rpartition("-")
    if not case_id or not seq.isdigit() or len(seq) > 9:
        raise FhirProblem(404, "not-found", f"no resource {resource_id!r}")
    return case_id, int(seq)


def latest(events: Sequence[EventView], actions: Iterable[str]) -> EventView | None:
    wanted = set(actions)
    found = [e for e in events if e.action in wanted]
    return found[-1] if found else None


def searchset(
    base: str, resource_type: str, matches: Sequence[Resource], *, included: Sequence[Resource] = (),
    query: Mapping[str, str] | None = None, next_query: Mapping[str, str] | None = None,
) -> Bundle:
    """A searchset Bundle: the matches (search mode `match`), resources they bring along (`include`), and the
    links of the search and of its next page."""
    links = [{"relation": "self", "url": f"{base}/{resource_type}" + (f"?{urlencode(query)}" if query else "")}]
    if next_query is not None:
        links.append({"relation": "next", "url": f"{base}/{resource_type}?{urlencode(next_query)}"})
    entries = [
        {"fullUrl": f"{base}/{r.get_resource_type()}/{r.id}", "resource": r, "search": {"mode": mode}}
        for mode, found in (("match", matches), ("include", included)) for r in found
    ]
    bundle: dict[str, Any] = {"type": "searchset", "link": links, "entry": entries}
    if next_query is None:  # the last (or only) page: the whole count is known
        bundle["total"] = len(matches)
    return Bundle.model_validate(bundle)
