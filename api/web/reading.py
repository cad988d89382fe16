"""Reading: case documents, the pathway diagrams and the outcome figures."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import ServicesDep
from api.exports import figures_csv
from api.web.charts import chart, legend
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


@router.get("/features")
def features(request: Request, svc: ServicesDep, session: SignedIn) -> HTMLResponse:
    """Living documentation: every feature and scenario in the analysts' words, with the last run's result and what
    of the pathway no scenario names. Read from the source checkout (`features/`, and `reports/` after a run)."""
    from api.step_catalogue import mentioned, read_features, steps_folder

    root = steps_folder().parents[1]
    folder, results = root / "features", root / "reports" / "cucumber.json"
    docs = read_features(folder, results) if folder.is_dir() else []
    ran = results.is_file() and any(s.results for d in docs for s in d.scenarios)
    tally = {outcome: sum(s.outcome == outcome for d in docs for s in d.scenarios)
             for outcome in ("passed", "failed", "skipped", "not run")}
    coverage = root / "reports" / "feature-coverage.txt"
    return render(request, "features.html", session, features=docs, ran=ran, tally=tally,
                  unnamed=mentioned(docs, svc.catalogue) if docs else {},
                  coverage=coverage.read_text().splitlines() if coverage.is_file() else [],
                  workflow=svc.catalogue.latest()[0])


@router.get("/reports")
def reports(
    request: Request, svc: ServicesDep, session: SignedIn,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    format: Annotated[str | None, Query(pattern="^(html|csv)$")] = None,
) -> Response:
    """The figures page: a whole month, quarter or year (this calendar year unless asked), with charts and tables;
    `format=csv` downloads the same figures."""
    today = svc.catalogue.latest()[0].today(svc.clock.now())
    errors: dict[str, str] = {}
    period: dict[str, date] = {}
    defaults = {"from": date(today.year, 1, 1), "to": date(today.year, 12, 31)}
    for key, raw in (("from", start), ("to", end)):
        try:
            period[key] = date.fromisoformat(raw) if raw else defaults[key]
        except ValueError:
            errors[key] = "Enter a date (YYYY-MM-DD)."
    report = None
    if not errors:
        try:
            report = svc.queries.capta_report(session.user.actor, period["from"], period["to"])
        except InvalidForm as refused:  # the period itself, as the engine judges it
            errors = {e.field: f"The period {e.message}." for e in refused.errors}
    if report is not None and format == "csv":
        name = f"posc-figures-{report['period']['from']}-{report['period']['to']}.csv"
        return Response(figures_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    values = {"from": start or period.get("from", ""), "to": end or period.get("to", "")}
    return render(request, "reports.html", session, status=422 if errors else 200, report=report, errors=errors,
                  values=values, chart=chart, legend=legend,
                  quick=_quick_periods(today))


def _quick_periods(today: date) -> list[tuple[str, date, date]]:
    """Links to the periods analysts ask for most: this and last year, the last whole quarter and month."""
    month_start = today.replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    last_quarter_end = quarter_start - timedelta(days=1)
    last_quarter_start = date(last_quarter_end.year, last_quarter_end.month - 2, 1)
    fiscal = today.year if today.month >= 10 else today.year - 1
    return [
        (f"{today.year}", date(today.year, 1, 1), date(today.year, 12, 31)),
        (f"{today.year - 1}", date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
        (f"Federal fiscal year {fiscal + 1}", date(fiscal, 10, 1), date(fiscal + 1, 9, 30)),
        (f"Last quarter ({last_quarter_start:%b} to {last_quarter_end:%b %Y})", last_quarter_start, last_quarter_end),
        (f"Last month ({last_month_end:%B %Y})", last_month_end.replace(day=1), last_month_end),
    ]
