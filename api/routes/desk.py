"""The hospital lookup, the organisation's worklist, and the outcome reports."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.deps import CurrentUser, ServicesDep
from api.models import PROBLEMS, Lookup, LookupResult, Worklist

router = APIRouter(responses=PROBLEMS)


@router.post("/lookup", tags=["lookup"])
def lookup(body: Lookup, user: CurrentUser, svc: ServicesDep, response: Response) -> LookupResult:
    """Exact last name and date of birth (in the body, never the URL): reference, plan in place, lead contact.
    Audited, and rate-limited per user across every server process (30 a minute; `RateLimit-*` headers)."""
    response.headers.update(svc.lookups.check(svc.db, user.id, svc.clock.now()))
    return LookupResult(matches=svc.queries.lookup(user.actor, body.last_name, body.date_of_birth))


@router.get("/worklist", tags=["worklist"])
def worklist(
    user: CurrentUser, svc: ServicesDep, state: str | None = None,
    role: Annotated[str | None, Query(description="Only deadlines owned by this party role")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Worklist:
    """Open deadlines of the caller's organisation, most urgent first; past target and overdue flagged."""
    return svc.queries.worklist(user.actor, limit=limit, cursor=cursor, state=state, role=role)


@router.get("/reports/capta", tags=["reports"])
def capta(
    user: CurrentUser, svc: ServicesDep,
    start: Annotated[date, Query(alias="from", description="First day of the period (ISO date)")],
    end: Annotated[date, Query(alias="to", description="Last day of the period (ISO date)")],
) -> dict[str, Any]:
    """De-identified CAPTA figures for the period: births and their plans, time to treatment; counts from 1 to 4
    shown as "<5"."""
    return svc.queries.capta_report(user.actor, start, end)
