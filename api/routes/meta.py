"""Health, the caller, the loaded definitions (workflows, forms, diagrams), and the organisations forms name."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import PlainTextResponse
from sqlalchemy.exc import SQLAlchemyError

from api import metrics
from api.deps import CurrentUser, ServicesDep
from api.models import PROBLEMS, Me, OrganisationSummary, ProblemKind, WorkflowSummary
from api.problems import PROBLEM_TYPES
from engine import ORGANISATION_KINDS, SchemaOutOfDate, check_may_read_metrics, list_organisations, mermaid

router = APIRouter(responses=PROBLEMS)


@router.get("/health", tags=["meta"])
def health() -> dict[str, str]:
    """Liveness: `{"status": "ok"}`; needs no key."""
    return {"status": "ok"}


@router.get("/health/ready", tags=["meta"])
def ready(services: ServicesDep) -> dict[str, str]:
    """Readiness, for a load balancer or an orchestrator: the database answers and its schema is the one this posc
    needs (503 otherwise: `unavailable`, or `schema-out-of-date` until `posc db upgrade`); needs no key."""
    try:
        current = services.db.current_revision()
    except SQLAlchemyError:
        raise HTTPException(503, "the database does not answer") from None
    if current != services.schema_head:
        raise SchemaOutOfDate(f"the database schema is at revision {current}; this posc needs "
                              f"{services.schema_head} (`posc db upgrade`)")
    return {"status": "ready", "database": services.db.dialect, "schema": current}


@router.get("/metrics", tags=["meta"], response_class=PlainTextResponse, responses={200: {
    "content": {metrics.CONTENT_TYPE: {"schema": {"type": "string"}}},
    "description": "Prometheus text exposition"}})
def service_metrics(user: CurrentUser, services: ServicesDep) -> PlainTextResponse:
    """The service's metrics for Prometheus (an administrator's key): requests by route template and status with
    their latency, deadline rounds, open and overdue deadlines, and how far deadline processing is behind."""
    check_may_read_metrics(user.actor)
    return PlainTextResponse(metrics.exposition(services), media_type=metrics.CONTENT_TYPE)


@router.get("/problems/{kind}", tags=["meta"])
def problem_kind(kind: Annotated[str, Path(max_length=64)]) -> ProblemKind:
    """What a problem `type` (`/problems/<kind>`) means; needs no key."""
    found = next(((title, text) for title, (slug, text) in PROBLEM_TYPES.items() if slug == kind), None)
    if found is None:
        raise HTTPException(404, f"no problem type {kind!r}")
    return ProblemKind(type=f"/problems/{kind}", title=found[0], description=found[1])


@router.get("/me", tags=["meta"])
def me(user: CurrentUser) -> Me:
    """The caller: name, role, organisation."""
    return Me(id=user.id, name=user.name, role=user.role, organisation=user.organisation)


@router.get("/workflows", tags=["definitions"])
def workflows(user: CurrentUser, svc: ServicesDep) -> list[WorkflowSummary]:
    """Every loaded workflow version."""
    return [WorkflowSummary(id=w.id, version=w.version, title=w.title) for w in svc.catalogue.workflows.values()]


@router.get("/workflows/{workflow_id}", tags=["definitions"])
def workflow(workflow_id: str, user: CurrentUser, svc: ServicesDep, version: int | None = None) -> dict[str, Any]:
    """The definition: states with phases, actions with sources, targets, roles and form, deadlines."""
    compiled = svc.catalogue.workflow(workflow_id, version)
    return {
        "id": compiled.id, "version": compiled.version, "title": compiled.title,
        "description": compiled.spec.description, "timezone": compiled.spec.timezone, "initial": compiled.initial,
        "phases": compiled.spec.phases,
        "states": [{"name": n, "phase": s.phase, "terminal": s.terminal, "description": s.description}
                   for n, s in compiled.states.items()],
        "actions": [
            {"name": a.name, "title": a.title, "form": a.form.id, "roles": sorted(a.roles),
             "transitions": [{"from": sorted(b.sources), "to": b.target or "same", "when": dict(b.when)}
                             for b in a.branches],
             "guards": [g.ref.guard for g in a.guards]}
            for a in compiled.actions.values()
        ],
        "deadlines": [
            {"name": d.name, "title": d.title, "source": d.source, "opens_on": d.opens_on, "opens_date": d.opens_date,
             "target": d.target.text, "due": d.due.text, "met_by": [m.action for m in d.met_by],
             "applies_in": sorted(d.applies_in), "owner": d.owner}
            for d in compiled.deadlines.values()
        ],
    }


@router.get("/workflows/{workflow_id}/diagram", tags=["definitions"], response_class=PlainTextResponse)
def diagram(workflow_id: str, user: CurrentUser, svc: ServicesDep, version: int | None = None) -> str:
    """The workflow as Mermaid text (phases as nested states)."""
    return mermaid(svc.catalogue.workflow(workflow_id, version))


@router.get("/forms/{form_id}", tags=["definitions"])
def form(form_id: str, user: CurrentUser, svc: ServicesDep) -> dict[str, Any]:
    """The form's JSON Schema: field ids, types, allowed values, required, and each field's tier (`x-tier`)."""
    return svc.catalogue.form(form_id).json_schema()


@router.get("/organisations", tags=["definitions"])
def organisations(
    user: CurrentUser, svc: ServicesDep,
    kind: Annotated[str | None, Query(
        max_length=16, description=f"Only organisations of this kind: {', '.join(ORGANISATION_KINDS)}",
    )] = None,
) -> list[OrganisationSummary]:
    """Every organisation by name, or those of one kind: what the organisation fields of forms may name (each field
    declares the kinds it accepts as `x-organisation-kinds` in `GET /forms/{form}`). An unknown kind is a 422."""
    return [OrganisationSummary(id=o.id, name=o.name, kind=o.kind) for o in list_organisations(svc.db, kind)]
