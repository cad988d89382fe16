"""Cases: open, list, view, act, history, disclosures, documents."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Response
from fastapi.responses import HTMLResponse

from api.deps import ApiKey, CurrentUser, ServicesDep
from api.models import (
    PROBLEMS,
    ActionOption,
    CaseList,
    CaseView,
    DisclosureView,
    EventView,
    OpenCase,
    TakeAction,
)
from engine import to_pdf

router = APIRouter(prefix="/cases", tags=["cases"], responses=PROBLEMS)
_ETAG_HEADER = {
    "description": 'The case version, such as "v3": send it back as `If-Match`', "schema": {"type": "string"},
}
_REPLAYED = {"description": "`true` when a repeated `Idempotency-Key` was answered without acting again",
             "schema": {"type": "string", "enum": ["true"]}}
#: An idempotency key: printable ASCII (a UUID, a client's request id), up to 200 characters.
_KEY = r"^[\x20-\x7e]+$"
_IDEMPOTENCY = "A key of your choosing: a repeat of the same request changes nothing and returns the first result"
_ETAG = re.compile(r'^\s*(?:W/)?"?v?(\d{1,18})"?\s*$')
CaseId = Annotated[str, re.compile(r"^[A-Z0-9-]{1,32}$").pattern]


def etag(version: int) -> str:
    return f'"v{version}"'


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    found = _ETAG.match(if_match)
    if found is None:
        raise HTTPException(400, 'If-Match must be an ETag from this API, such as "v3"')
    return int(found.group(1))


@router.post("", status_code=201, responses={201: {"headers": {
    "Location": {"description": "The new case's address", "schema": {"type": "string"}},
    "ETag": _ETAG_HEADER, "Idempotent-Replayed": _REPLAYED,
}}})
def open_case(
    body: OpenCase, user: CurrentUser, svc: ServicesDep, response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200, pattern=_KEY, description=_IDEMPOTENCY)] = None,
) -> CaseView:
    """Opens a case on a workflow with its opening form (identification). Hospital staff identifying a parent at
    delivery send the birth form too (`birth`): the case opens with the birth recorded. With an `Idempotency-Key`,
    a repeat opens nothing and answers with the case the first request opened (`Idempotent-Replayed: true`)."""
    outcome = svc.cases.open(
        user.actor, body.workflow, body.data, idempotency_key=idempotency_key, new_pregnancy=body.new_pregnancy,
        variant=("birth", body.birth) if body.birth is not None else None,
    )
    response.headers["Location"] = f"/cases/{outcome.case.id}"
    response.headers["ETag"] = etag(outcome.case.version)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return outcome.case


@router.get("")
def list_cases(
    user: CurrentUser, svc: ServicesDep, state: str | None = None, phase: str | None = None, overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> CaseList:
    """The cases the caller's organisation may see (no identifying data), filterable and paginated."""
    return svc.queries.list_cases(user.actor, state=state, phase=phase, overdue=overdue, limit=limit, cursor=cursor)


@router.get("/{case_id}", response_model=CaseView, responses={200: {"headers": {"ETag": _ETAG_HEADER}}})
def get_case(case_id: str, key: ApiKey, svc: ServicesDep) -> Response:
    """The case at the caller's disclosure tiers; `ETag` carries its version."""
    _, view = svc.queries.view_with_key(key, case_id)  # the key checked in the view's own transaction
    # The engine's answer is typed and checked already: serialised once, not validated again on the way out.
    return Response(view.model_dump_json(), media_type="application/json", headers={"ETag": etag(view.version)})


@router.get("/{case_id}/actions")
def actions(case_id: str, user: CurrentUser, svc: ServicesDep) -> list[ActionOption]:
    """Every action of the current state, whether the caller may take it now, and why not."""
    return svc.cases.actions(user.actor, case_id)


@router.post("/{case_id}/actions/{action}", responses={200: {
    "model": CaseView, "description": "The case after the action, as the caller may see it",
    "headers": {"ETag": _ETAG_HEADER, "Idempotent-Replayed": _REPLAYED},
}})
def take_action(
    case_id: str, action: str, body: TakeAction, user: CurrentUser, svc: ServicesDep,
    if_match: Annotated[str | None, Header(description='The version you read ("v3"): 412 if the case moved on')] = None,
    idempotency_key: Annotated[str | None, Header(max_length=200, pattern=_KEY, description=_IDEMPOTENCY)] = None,
) -> Response:
    """Takes the action with its form data. `If-Match` makes it conditional (412 when stale); a repeated
    `Idempotency-Key` returns the first answer and changes nothing."""
    outcome = svc.cases.act(
        user.actor, case_id, action, body.data, expected_version=_expected_version(if_match),
        idempotency_key=idempotency_key,
    )
    headers = {"ETag": etag(outcome.case.version)}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(outcome.case.model_dump_json(), media_type="application/json", headers=headers)


@router.get("/{case_id}/events")
def events(case_id: str, user: CurrentUser, svc: ServicesDep) -> list[EventView]:
    """The case history, oldest first; form data only where the caller's tiers allow."""
    return svc.queries.events(user.actor, case_id)


@router.get("/{case_id}/disclosures")
def disclosures(case_id: str, user: CurrentUser, svc: ServicesDep) -> list[DisclosureView]:
    """The accounting of disclosures (who read which tier, when); for the lead organisation only."""
    return svc.queries.disclosures(user.actor, case_id)


@router.get(
    "/{case_id}/documents/{document}",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}, "application/pdf": {}}}},
)
def document(
    case_id: str, document: str, user: CurrentUser, svc: ServicesDep,
    version: Annotated[int | None, Query(ge=1, description="An earlier plan version")] = None,
    format: Annotated[str | None, Query(pattern="^(html|pdf)$", description="html (default) or pdf")] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """A case document: `plan-of-safe-care` (404 before a plan exists; `?version=N` for an earlier one) or
    `hospital-summary` (one page for delivery). HTML, or PDF with `?format=pdf` or `Accept: application/pdf`."""
    html = svc.queries.document(user.actor, case_id, document, version)
    if format == "pdf" or (format is None and accept is not None and "application/pdf" in accept):
        name = f"{case_id}-{document}.pdf"
        return Response(to_pdf(html), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{name}"'})
    return HTMLResponse(html)
