"""The FHIR R4 interface under `/fhir`: read and search, JSON (`application/fhir+json`), over the same engine, access
decision, tiers and accounting of disclosures as the rest of posc. One module per resource builds it from the
engine's typed answers; this module is the routes. Every error is an OperationOutcome."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import Response
from fhir.resources.R4B.bundle import Bundle

from api.deps import services
from api.fhir.capability import capability_statement, code_system
from api.fhir.careplan import careplan, delivery_check, summary
from api.fhir.common import FhirProblem, answer, outcome, searchset, split_id
from api.fhir.consent import RECORD, consent, consents
from api.fhir.patient import matched_patient, patient
from api.fhir.servicerequest import referrals, service_request
from api.fhir.task import task
from api.problems import TABLE
from api.services import Services
from engine import MAX_PAGE, Actor, CaseRecordRead, InvalidForm, PoscError, UserRecord, authenticate

router = APIRouter(prefix="/fhir", include_in_schema=False)
T = TypeVar("T")
#: posc error status → FHIR issue type.
ISSUE = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 409: "conflict", 422: "invalid",
         429: "throttled", 503: "transient"}
SEARCHES = {"Patient": {"_id", "family", "birthdate"}, "CarePlan": {"_id", "identifier", "patient", "_lastUpdated",
                                                                     "_count", "_cursor"},
            "Consent": {"patient"}, "ServiceRequest": {"patient"}, "Task": {"patient"}}
#: Parameters every search accepts and ignores (the format is always JSON).
IGNORED = {"_format", "_pretty"}


def _user(request: Request, svc: Annotated[Services, Depends(services)]) -> UserRecord:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise FhirProblem(401, "login", "send an API key as `Authorization: Bearer <key>`")
    user = authenticate(svc.db, key.strip())
    if user is None:
        raise FhirProblem(401, "login", "the API key is unknown or revoked")
    return user


User = Annotated[UserRecord, Depends(_user)]
Svc = Annotated[Services, Depends(services)]


def _engine(call: Callable[[], T]) -> T:
    """Runs an engine call, its refusals as `FhirProblem`s with posc's own words."""
    try:
        return call()
    except InvalidForm as error:
        first = error.errors[0] if error.errors else None
        raise FhirProblem(400, "invalid", f"{first.field}: {first.message}" if first else str(error),
                          first.field if first else None) from error
    except PoscError as error:
        status = next((s for kind, s, _ in TABLE if isinstance(error, kind)), 400)
        raise FhirProblem(status, ISSUE.get(status, "processing"), str(error)) from error


def _record(svc: Services, actor: Actor, case_id: str) -> CaseRecordRead:
    if not case_id or len(case_id) > 64:
        raise FhirProblem(404, "not-found", f"no case {case_id[:64]!r}")
    return _engine(lambda: svc.queries.record(actor, case_id))


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _today(svc: Services) -> date:
    return svc.clock.now().astimezone(UTC).date()


def _params(request: Request, resource: str, form: dict[str, str] | None = None) -> dict[str, str]:
    """The search's parameters (query, or the body of `_search`), each known and given once."""
    pairs = list(request.query_params.multi_items()) + list((form or {}).items())
    known = SEARCHES[resource]
    found: dict[str, str] = {}
    for name, value in pairs:
        if name in IGNORED:
            continue
        if name not in known:
            raise FhirProblem(400, "not-supported", f"{resource} cannot be searched by {name!r}; it can be by "
                              f"{', '.join(sorted(known - {'_cursor'}))}", name)
        if name in found:
            raise FhirProblem(400, "invalid", f"{name} given twice", name)
        found[name] = value
    return found


def _case_of(reference: str) -> str:
    return reference.removeprefix("Patient/").removeprefix("CarePlan/")


# --- the system ---

@router.get("/metadata")
def metadata(request: Request, svc: Svc) -> Response:
    return answer(capability_statement(_base(request), request.app.version, _today(svc)))


@router.get("/CodeSystem/posc")
def posc_codes() -> Response:
    return answer(code_system())


# --- Patient ---

@router.get("/Patient/{case_id}")
def read_patient(case_id: str, user: User, svc: Svc) -> Response:
    return answer(patient(_record(svc, user.actor, case_id)))


def _nothing_personal_in_the_url(request: Request) -> None:
    """A name and a date of birth never go in a URL (they would reach proxies' and servers' logs)."""
    for name in ("family", "birthdate"):
        if name in request.query_params:
            raise FhirProblem(400, "security", "the delivery check sends the family name and the date of birth in "
                              "the body of POST /fhir/Patient/_search, never in a URL", name)


@router.get("/Patient")
def search_patients(request: Request, user: User, svc: Svc) -> Response:
    _nothing_personal_in_the_url(request)
    params = _params(request, "Patient")
    return _by_reference(request, user, svc, "Patient", params.get("_id"), patient)


@router.post("/Patient/_search")
async def delivery_check_search(request: Request, user: User, svc: Svc) -> Response:
    """The delivery check: exact family name and date of birth (form-encoded, or a JSON object), answered as
    `POST /lookup` is, with the same audit and rate limit: each match a Patient with its reference only, and its
    CarePlan (status: whether a plan is in place; author: the lead CPS office and its contact)."""
    _nothing_personal_in_the_url(request)
    form = await _form(request)
    params = _params(request, "Patient", form)
    if "_id" in params:
        return _by_reference(request, user, svc, "Patient", params["_id"], patient)
    family, born = params.get("family", "").strip(), params.get("birthdate", "").strip()
    if not family or not born:
        missing = "family" if not family else "birthdate"
        raise FhirProblem(400, "required", f"{missing}: the delivery check needs both family and birthdate", missing)
    try:
        birth = date.fromisoformat(born)
    except ValueError:
        raise FhirProblem(400, "invalid", "birthdate: is not a date (YYYY-MM-DD)", "birthdate") from None
    if len(family) > 100:
        raise FhirProblem(400, "invalid", "family: is longer than 100 characters", "family")
    try:
        headers = svc.lookups.check(svc.db, user.id, svc.clock.now())
    except HTTPException as error:
        response = outcome(429, "throttled", str(error.detail))
        response.headers.update(error.headers or {})
        return response
    matches = _engine(lambda: svc.queries.lookup(user.actor, family, birth))
    bundle = searchset(_base(request), "Patient", [matched_patient(m) for m in matches],
                       included=[delivery_check(m) for m in matches])
    return answer(bundle, headers=headers)


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if not body:
        return {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        try:
            return dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise FhirProblem(400, "invalid", "the body is not form-encoded parameters") from None
    if kind in ("application/json", "application/fhir+json"):
        try:
            parsed = json.loads(body)
        except ValueError:
            raise FhirProblem(400, "invalid", "the body is not JSON") from None
        if isinstance(parsed, dict) and all(isinstance(v, str) for v in parsed.values()):
            return parsed
        raise FhirProblem(400, "invalid", "the body must be a JSON object of text parameters")
    raise FhirProblem(415, "not-supported", "send the parameters form-encoded (application/x-www-form-urlencoded)")


def _by_reference(
    request: Request, user: UserRecord, svc: Services, resource: str, reference: str | None,
    build: Callable[[CaseRecordRead], Any],
) -> Response:
    """A search by case reference: the one resource, or none for a case the caller may not know (as for one never
    issued)."""
    base = _base(request)
    if not reference:
        raise FhirProblem(400, "required", "_id: name the case reference to search for", "_id")
    try:
        found = build(_record(svc, user.actor, _case_of(reference)))
    except FhirProblem as problem:
        if problem.status != 404:
            raise
        found = None
    return answer(searchset(base, resource, [found] if found is not None else [], query={"_id": reference}))


# --- CarePlan ---

@router.get("/CarePlan/{case_id}")
def read_careplan(case_id: str, user: User, svc: Svc) -> Response:
    plan = careplan(_record(svc, user.actor, case_id))
    assert plan is not None  # the current version always exists
    return answer(plan)


@router.get("/CarePlan/{case_id}/_history")
def careplan_history(request: Request, case_id: str, user: User, svc: Svc) -> Response:
    """The plan's versions the caller may see, newest first (a reader without the plan tier: the current one)."""
    read = _record(svc, user.actor, case_id)
    numbers = range(read.case.plan_version, 0, -1) if read.plans else [read.case.plan_version]
    base = _base(request)
    entries = []
    for number in numbers:
        plan = careplan(read, number)
        if plan is None:
            continue
        entries.append({
            "fullUrl": f"{base}/CarePlan/{case_id}", "resource": plan,
            "request": {"method": "PUT" if number > 1 else "POST",
                        "url": f"CarePlan/{case_id}" if number > 1 else "CarePlan"},
            "response": {"status": "200" if number > 1 else "201", "lastModified": plan.meta.lastUpdated
                         if plan.meta else None},
        })
    return answer(Bundle.model_validate({"type": "history", "total": len(entries), "entry": entries}))


@router.get("/CarePlan/{case_id}/_history/{version}")
def careplan_version(case_id: str, version: str, user: User, svc: Svc) -> Response:
    read = _record(svc, user.actor, case_id)
    plan = careplan(read, int(version)) if version.isdigit() and len(version) < 6 else None
    if plan is None:
        raise FhirProblem(404, "not-found", f"CarePlan {case_id} has no version {version[:10]!r} you may see")
    return answer(plan)


@router.get("/CarePlan")
def search_careplans(request: Request, user: User, svc: Svc) -> Response:
    params = _params(request, "CarePlan")
    reference = params.get("_id") or params.get("identifier") or params.get("patient")
    if reference:
        if "|" in reference:
            reference = reference.split("|", 1)[1]
        return _by_reference(request, user, svc, "CarePlan", reference, careplan)
    if "_lastUpdated" not in params:
        raise FhirProblem(400, "required", "search CarePlans by _id, identifier, patient or _lastUpdated",
                          "_lastUpdated")
    since = _since(params["_lastUpdated"])
    count = _count(params.get("_count"))
    found = _engine(lambda: svc.queries.list_cases(user.actor, limit=count, cursor=params.get("_cursor"),
                                                   updated_since=since))
    query = {k: v for k, v in params.items() if k != "_cursor"}
    next_query = {**query, "_cursor": found.next_cursor} if found.next_cursor else None
    return answer(searchset(_base(request), "CarePlan", [summary(item) for item in found.items], query=params,
                            next_query=next_query))


def _since(value: str) -> datetime:
    prefix, moment = (value[:2], value[2:]) if value[:2] in ("ge", "gt") else ("ge", value)
    try:
        parsed = datetime.fromisoformat(moment) if "T" in moment else datetime.fromisoformat(moment + "T00:00:00")
    except ValueError:
        raise FhirProblem(400, "invalid", "_lastUpdated: give ge or gt and an instant, such as "
                          "ge2026-12-01T00:00:00Z", "_lastUpdated") from None
    del prefix  # `gt` and `ge` differ by less than the clock's resolution for this use
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _count(value: str | None) -> int:
    if value is None:
        return 50
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise FhirProblem(400, "invalid", f"_count: a number from 1 to {MAX_PAGE}", "_count")
    return int(value)


# --- Consent, ServiceRequest, Task ---

def _of_case(request: Request, user: UserRecord, svc: Services, resource: str,
             build: Callable[[CaseRecordRead], list[Any]]) -> Response:
    params = _params(request, resource)
    if "patient" not in params:
        raise FhirProblem(400, "required", f"search {resource} by patient (Patient/<case reference>)", "patient")
    try:
        found = build(_record(svc, user.actor, _case_of(params["patient"])))
    except FhirProblem as problem:
        if problem.status != 404:
            raise
        found = []
    return answer(searchset(_base(request), resource, found, query=params))


def _one(resource_id: str, user: UserRecord, svc: Services, pick: Callable[[CaseRecordRead, int], Any]) -> Response:
    case_id, seq = split_id(resource_id)
    found = pick(_record(svc, user.actor, case_id), seq)
    if found is None:
        raise FhirProblem(404, "not-found", f"no resource {resource_id!r}")
    return answer(found)


@router.get("/Consent")
def search_consents(request: Request, user: User, svc: Svc) -> Response:
    return _of_case(request, user, svc, "Consent", lambda read: consents(read, _today(svc)))


@router.get("/Consent/{resource_id}")
def read_consent(resource_id: str, user: User, svc: Svc) -> Response:
    return _one(resource_id, user, svc, lambda read, seq: next(
        (consent(read, e, _today(svc)) for e in read.events if e.seq == seq and e.action == RECORD), None))


@router.get("/ServiceRequest")
def search_service_requests(request: Request, user: User, svc: Svc) -> Response:
    return _of_case(request, user, svc, "ServiceRequest",
                    lambda read: [service_request(read, e) for e in referrals(read)])


@router.get("/ServiceRequest/{resource_id}")
def read_service_request(resource_id: str, user: User, svc: Svc) -> Response:
    return _one(resource_id, user, svc, lambda read, seq: next(
        (service_request(read, e) for e in referrals(read) if e.seq == seq), None))


@router.get("/Task")
def search_tasks(request: Request, user: User, svc: Svc) -> Response:
    return _of_case(request, user, svc, "Task", lambda read: [task(read, e) for e in referrals(read)])


@router.get("/Task/{resource_id}")
def read_task(resource_id: str, user: User, svc: Svc) -> Response:
    return _one(resource_id, user, svc, lambda read, seq: next(
        (task(read, e) for e in referrals(read) if e.seq == seq), None))


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unsupported(rest: str, request: Request) -> Response:
    kind = rest.split("/")[0][:40]
    if request.method != "GET" and kind in SEARCHES:
        return outcome(405, "not-supported", f"posc's FHIR interface is read-only: {request.method} is not supported")
    if kind in SEARCHES:
        return outcome(404, "not-found", f"no such {kind} request: read {kind}/<id> or search {kind}?...; "
                       "GET /fhir/metadata lists what posc serves")
    return outcome(404, "not-supported", f"posc does not serve {kind!r} over FHIR; GET /fhir/metadata lists what "
                   "it does")


async def _problem(_: Request, error: Exception) -> Response:
    assert isinstance(error, FhirProblem)
    return outcome(error.status, error.code, error.diagnostics, error.expression)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.add_exception_handler(FhirProblem, _problem)


__all__ = ["install"]
