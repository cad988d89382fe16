"""The hospital lookup, the organisation's worklist, and the outcome reports."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from api.deps import CurrentUser, ServicesDep
from api.exports import figures_csv
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


@router.get("/reports/capta", tags=["reports"], responses={200: {
    "description": "The figures as JSON, or as CSV with `?format=csv` (one row per published number)",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}})
def capta(
    user: CurrentUser, svc: ServicesDep,
    start: Annotated[date, Query(alias="from", description="First day of the period: the first day of a month")],
    end: Annotated[date, Query(alias="to", description="Last day of the period: a whole month, quarter or year")],
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv")] = "json",
) -> Any:
    """De-identified outcome figures for a whole month, quarter or year: CAPTA figures, timeliness, retention and
    outcomes, each with its definition, some by month and lead CPS office. Counts from 1 to 4 are shown as "<5", and
    anything that would let a reader work one out as "suppressed"."""
    report = svc.queries.capta_report(user.actor, start, end)
    if format == "json":
        return report
    name = f"posc-figures-{report['period']['from']}-{report['period']['to']}.csv"
    return Response(figures_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
