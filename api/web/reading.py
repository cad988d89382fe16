"""Reading: case documents, the pathway diagrams and the outcome figures."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import ServicesDep
from api.web.rendering import case_id_of, render
from api.web.session import PREFIX, SignedIn
from engine import InvalidForm, mermaid, to_pdf

router = APIRouter(prefix=PREFIX, include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/cases/{case_id}/documents/{document}")
def document(
    request: Request, svc: ServicesDep, session: SignedIn, document: str,
    version: Annotated[int | None, Query(ge=1)] = None,
    format: Annotated[str | None, Query(pattern="^(html|pdf)$")] = None,
) -> Response:
    case_id = case_id_of(request)
    html = svc.queries.document(session.user.actor, case_id, document, version)
    if format == "pdf":
        return Response(to_pdf(html), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{case_id}-{document}.pdf"'})
    return HTMLResponse(html)


@router.get("/cases/{case_id}/diagram")
def case_diagram(request: Request, svc: ServicesDep, session: SignedIn) -> HTMLResponse:
    view = svc.queries.view(session.user.actor, case_id_of(request))
    workflow = svc.catalogue.workflow(view.workflow, view.workflow_version)
    return render(
        request, "diagram.html", session, workflow=workflow, case=view,
        diagram=mermaid(workflow, view.state or None, internal=False, direction="TB"),
    )


# --- definitions and figures ---


@router.get("/workflows")
def workflows(request: Request, svc: ServicesDep, session: SignedIn) -> Response:
    latest = svc.catalogue.latest()[0]
    return RedirectResponse(f"{PREFIX}/workflows/{latest.id}", status_code=303)


@router.get("/workflows/{workflow_id}")
def workflow_diagram(
    request: Request, svc: ServicesDep, session: SignedIn, workflow_id: str,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    workflow = svc.catalogue.workflow(workflow_id, version)
    drawing = mermaid(workflow, internal=False, direction="TB")
    return render(request, "diagram.html", session, workflow=workflow, case=None, diagram=drawing)


@router.get("/reports")
def reports(
    request: Request, svc: ServicesDep, session: SignedIn,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> HTMLResponse:
    today = svc.catalogue.latest()[0].today(svc.clock.now())
    errors: dict[str, str] = {}
    period: dict[str, date] = {}
    for key, raw, default in (("from", start, today.replace(day=1) - timedelta(days=365)), ("to", end, today)):
        try:
            period[key] = date.fromisoformat(raw) if raw else default
        except ValueError:
            errors[key] = "Enter a date (YYYY-MM-DD)."
    report = None
    if not errors:
        try:
            report = svc.queries.capta_report(session.user.actor, period["from"], period["to"])
        except InvalidForm as refused:  # the period itself, as the engine judges it
            errors = {e.field: f"The period {e.message}." for e in refused.errors}
    values = {"from": start or period.get("from", ""), "to": end or period.get("to", "")}
    return render(request, "reports.html", session, status=422 if errors else 200, report=report, errors=errors,
                  values=values)
