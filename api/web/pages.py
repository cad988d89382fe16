"""The web pages: sign-in, hospital lookup, worklist, case list, case page with its action forms, documents,
diagrams and outcome figures.

Handlers are thin, as in the JSON API: each reads the signed-in person, calls the same engine functions the API
calls (so disclosure, guards and the access log are the engine's), and renders a template. Every form posts back to
its own address with the session's CSRF token; a refused or invalid submission shows the form again, filled in,
with the reasons next to the fields, and changes nothing.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.deps import ServicesDep
from api.services import Services
from api.web import present
from api.web.session import (
    PREFIX,
    SignedIn,
    check_csrf,
    check_sign_in_token,
    clear_session_cookie,
    remember_sign_in_token,
    resumable,
    safe_next,
    set_session_cookie,
    sign_in_token,
)
from api.web.widgets import errors_by_field, form_data, local_input, posted_row_counts, posted_values, widgets
from engine import InvalidForm, NotAvailable, PoscError, StaleVersion
from engine.cases import IdempotencyConflict
from engine.definitions.compiled import CompiledWorkflow
from engine.definitions.forms import FormSpec
from engine.diagram import mermaid
from engine.documents import to_pdf
from engine.organisations import list_organisations
from engine.queries import LOOKUP_ROLES, REPORT_ROLES
from engine.sessions import WebSessionRecord, end_session, start_session
from engine.users import UserRecord

router = APIRouter(prefix=PREFIX, include_in_schema=False, default_response_class=HTMLResponse)
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
TEMPLATES.env.globals.update(label=present.choice_label, day=present.day, local_input=local_input)
#: The pages each role starts on.
HOME = {"hospital": "lookup", "analyst": "reports", "admin": "workflows"}


def render(
    request: Request, template: str, session: WebSessionRecord | None, status: int = 200, **context: Any
) -> HTMLResponse:
    svc: Services = request.app.state.services
    zone = _zone(svc)
    user = session.user if session else None
    response = TEMPLATES.TemplateResponse(request, template, {
        "user": user, "csrf": session.csrf_token if session else "", "nav": _nav(svc, user), "prefix": PREFIX,
        "when": lambda v: present.when(v, zone), "now": svc.clock.now(),
        "relative": lambda v: present.relative(v, svc.clock.now()), **context,
    }, status_code=status)
    return response


# --- signing in and out ---


@router.get("/sign-in")
def sign_in_page(
    request: Request, next: Annotated[str | None, Query(max_length=500)] = None,
    signed_out: Annotated[str | None, Query(max_length=1)] = None,
) -> HTMLResponse:
    notice = "You have signed out." if signed_out else None
    return sign_in_form(request, safe_next(next), error=None, notice=notice)


@router.post("/sign-in")
async def sign_in(request: Request, svc: ServicesDep) -> Response:
    form = await request.form(max_files=0, max_fields=2000)
    fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    given = dict(fields)
    check_sign_in_token(request, given.get("csrf_token", ""))
    api_key = given.get("api_key", "").strip()[:300]
    target = safe_next(given.get("next"))
    carried = [(k.removeprefix(CARRIED), v) for k, v in fields if k.startswith(CARRIED)]
    started = start_session(svc.db, svc.clock, api_key) if api_key else None
    if started is None:
        error = "Enter your API key." if not api_key else "That API key is unknown or has been revoked."
        return sign_in_form(request, target, error=error, status=401, carried=carried)
    token, session = started
    if carried and resumable(target):
        # Back from a session that ended mid-form: offer to submit what was typed, with the new session's token.
        response: Response = render(request, "resume.html", session, target=target, carried=carried)
    else:
        response = RedirectResponse(_home(session.user) if target == PREFIX + "/" else target, status_code=303)
    set_session_cookie(response, request, token)
    return response


#: Hidden fields of the sign-in page that carry a form's values through a new sign-in.
CARRIED = "carried:"


def sign_in_form(
    request: Request, next_path: str, *, error: str | None, notice: str | None = None, status: int = 200,
    carried: list[tuple[str, str]] | None = None,
) -> HTMLResponse:
    """The sign-in page, with its CSRF token in both the form and a cookie."""
    token, fresh = sign_in_token(request)
    page = render(request, "sign_in.html", None, status=status, next=next_path, error=error, notice=notice,
                  sign_in_token=token, carried=carried or [], carried_prefix=CARRIED)
    if fresh:
        remember_sign_in_token(page, request, token)
    return page


@router.post("/sign-out")
def sign_out(
    request: Request, svc: ServicesDep, session: SignedIn, csrf_token: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    check_csrf(request, session, csrf_token)
    token = request.cookies.get("posc_session", "")
    end_session(svc.db, token)
    response = RedirectResponse(f"{PREFIX}/sign-in?signed_out=1", status_code=303)
    clear_session_cookie(response, request)
    return response


@router.get("/")
def home(session: SignedIn) -> Response:
    return RedirectResponse(_home(session.user), status_code=303)


# --- hospital lookup ---


@router.get("/lookup")
def lookup_page(request: Request, session: SignedIn) -> HTMLResponse:
    _require_role(session, LOOKUP_ROLES, "look parents up")
    return render(request, "lookup.html", session, matches=None, values={}, errors={})


@router.post("/lookup")
def lookup(
    request: Request, svc: ServicesDep, session: SignedIn,
    last_name: Annotated[str, Form(max_length=100)] = "", date_of_birth: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> HTMLResponse:
    check_csrf(request, session, csrf_token)
    _require_role(session, LOOKUP_ROLES, "look parents up")
    values = {"last_name": last_name.strip(), "date_of_birth": date_of_birth.strip()}
    errors: dict[str, str] = {}
    if not values["last_name"]:
        errors["last_name"] = "Enter the parent's last name."
    born: date | None = None
    try:
        born = date.fromisoformat(values["date_of_birth"])
    except ValueError:
        errors["date_of_birth"] = "Enter the parent's date of birth as a date (YYYY-MM-DD)."
    if errors or born is None:
        return render(request, "lookup.html", session, status=422, matches=None, values=values, errors=errors)
    svc.lookups.check(session.user.id)
    matches = svc.queries.lookup(session.user.actor, values["last_name"], born, with_access=True)
    return render(request, "lookup.html", session, matches=matches, values=values, errors={})


# --- worklist and case list ---


@router.get("/worklist")
def worklist(
    request: Request, svc: ServicesDep, session: SignedIn,
    role: Annotated[str | None, Query(max_length=32)] = None,
    state: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    page = svc.queries.worklist(session.user.actor, limit=50, cursor=cursor, state=state or None, role=role or None)
    workflow = svc.catalogue.latest()[0]
    return render(
        request, "worklist.html", session, items=page.items, next_cursor=page.next_cursor,
        filters={"role": role or "", "state": state or ""}, roles=workflow.spec.roles, states=list(workflow.states),
    )


@router.get("/cases")
def case_list(
    request: Request, svc: ServicesDep, session: SignedIn,
    state: Annotated[str | None, Query(max_length=64)] = None,
    phase: Annotated[str | None, Query(max_length=64)] = None,
    overdue: Annotated[str | None, Query(max_length=5)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    page = svc.queries.list_cases(
        session.user.actor, state=state or None, phase=phase or None, overdue=overdue == "true", limit=50,
        cursor=cursor,
    )
    workflow = svc.catalogue.latest()[0]
    return render(
        request, "cases.html", session, items=page.items, next_cursor=page.next_cursor,
        filters={"state": state or "", "phase": phase or "", "overdue": overdue == "true"},
        states=list(workflow.states), phases=workflow.spec.phases, can_open=_can_open(svc, session.user),
    )


# --- opening a case ---


@router.get("/cases/new")
def new_case_page(request: Request, svc: ServicesDep, session: SignedIn) -> HTMLResponse:
    workflow = svc.catalogue.latest()[0]
    _require_role(session, tuple(workflow.open.roles), "open cases")
    return _form_page(request, svc, session, workflow, workflow.open.form.spec, title=workflow.open.title)


@router.post("/cases/new")
async def open_case(request: Request, svc: ServicesDep, session: SignedIn) -> Response:
    posted = await _posted(request, session)
    fields = dict(posted)
    workflow = svc.catalogue.latest()[0]
    spec = workflow.open.form.spec
    values = posted_values(spec, posted)
    key = fields.get("idempotency_key") or None
    rows = _more_rows(posted)
    if rows:  # "Add another row" asked for, not a submission
        return _form_page(request, svc, session, workflow, spec, title=workflow.open.title, values=values,
                          min_rows=rows, key=key)
    try:
        view = svc.cases.open(
            session.user.actor, workflow.id, form_data(spec, values, workflow.timezone), idempotency_key=key
        )
    except (InvalidForm, NotAvailable, IdempotencyConflict) as refused:
        return _form_page(
            request, svc, session, workflow, spec, title=workflow.open.title, values=values, refused=refused,
            key=key if not isinstance(refused, IdempotencyConflict) else None,
        )
    return RedirectResponse(f"{PREFIX}/cases/{view['id']}?done=open_case", status_code=303)


# --- one case ---


@router.get("/cases/{case_id}")
def case_page(
    request: Request, svc: ServicesDep, session: SignedIn, done: Annotated[str | None, Query(max_length=64)] = None
) -> HTMLResponse:
    page = svc.queries.page(session.user.actor, case_id_of(request))
    case = page["case"]
    workflow = svc.catalogue.workflow(case["workflow"], case["workflow_version"])
    zone = workflow.timezone
    timeline = []
    for event in page["events"]:
        form = present.event_form(workflow, event["action"])
        timeline.append({
            **event, "title": present.event_title(workflow, event["action"], event["data"]),
            "fields": present.shown_fields(form, event["data"], zone) if form else [],
            "withheld_labels": present.withheld_labels(form, event["withheld"]),
        })
    opening = workflow.open.form.spec
    last = page["events"][-1] if page["events"] else None
    # "Recorded: ..." only when the latest event really is that action (the address alone proves nothing).
    done_title = present.event_title(workflow, done, {}) if done and last and last["action"] == done else None
    return render(
        request, "case.html", session, case=case, state=workflow.states[case["state"]] if case["state"] else None,
        data=present.shown_fields(opening, case["data"], zone),
        withheld=present.withheld_labels(opening, case["withheld"]), timeline=timeline,
        deadlines=page["deadlines"], actions=page["actions"], plan_versions=page["plan_versions"],
        done=done_title, workflow=workflow,
    )


@router.get("/cases/{case_id}/actions/{action}")
def action_page(request: Request, svc: ServicesDep, session: SignedIn, action: str) -> HTMLResponse:
    page = svc.queries.page(session.user.actor, case_id_of(request))
    return _action_form(request, svc, session, page, action)


@router.post("/cases/{case_id}/actions/{action}")
async def take_action(request: Request, svc: ServicesDep, session: SignedIn, action: str) -> Response:
    posted = await _posted(request, session)
    case_id = case_id_of(request)
    fields = dict(posted)
    actor = session.user.actor
    workflow = svc.queries.workflow_of(actor, case_id)
    compiled = workflow.actions.get(action)
    if compiled is None:
        raise HTTPException(404, f"this case has no action {action!r}")
    spec = compiled.form.spec
    values = posted_values(spec, posted)
    version, key = fields.get("version"), fields.get("idempotency_key") or None

    def again(**shown: Any) -> HTMLResponse:  # the form once more, as the case is now
        page = svc.queries.page(actor, case_id)
        shown = {"version": version, "key": key, **shown}
        return _action_form(request, svc, session, page, action, values=values, **shown)

    rows = _more_rows(posted)
    if rows:  # "Add another row" asked for, not a submission
        return again(min_rows=rows)
    expected = int(version) if version and version.isdigit() and len(version) < 10 else None
    data = form_data(spec, values, workflow.timezone)
    try:
        try:
            svc.cases.act(actor, case_id, action, data, expected_version=expected, idempotency_key=key)
        except StaleVersion:
            # A double click can lose the race to its own first click, which may have just committed: asked
            # again with the same key, the engine answers with that first click's result if so.
            svc.cases.act(actor, case_id, action, data, expected_version=expected, idempotency_key=key)
    except StaleVersion:
        return _stale(request, svc, session, case_id, action, values)
    except IdempotencyConflict as refused:
        return again(refused=refused, key=None)  # a new key for the corrected submission
    except (InvalidForm, NotAvailable) as refused:
        return again(refused=refused)
    return RedirectResponse(f"{PREFIX}/cases/{case_id}?done={action}", status_code=303)


def _stale(
    request: Request, svc: Services, session: WebSessionRecord, case_id: str, action: str, values: dict[str, Any]
) -> HTMLResponse:
    """Someone else changed the case while this form was open: the form again, filled in, at the case's new
    version, if the action is still offered; otherwise a page that says so and leads back to the case."""
    page = svc.queries.page(session.user.actor, case_id)
    reason = ("Someone else updated this case while you were filling in the form. Check the case as it is now "
              "and submit again.")
    if any(o.action == action for o in page["actions"]):
        stale = NotAvailable("the case changed since you opened this form", [reason])
        return _action_form(request, svc, session, page, action, values=values, refused=stale, status=409)
    gone = (f"Meanwhile the case moved to {present.choice_label(page['case']['state'])}, where "
            f"{present.choice_label(action)} is no longer an action. Nothing you typed was recorded.")
    return render(request, "error.html", session, status=409, title="The case changed", detail=reason,
                  reasons=[gone], back=f"{PREFIX}/cases/{case_id}")


def _more_rows(posted: list[tuple[str, str]]) -> dict[str, int]:
    """For "Add another row": each list's rows as shown (the highest row posted), plus one for the list asked."""
    asked = {k.removeprefix("_more_") for k, _ in posted if k.startswith("_more_")}
    if not asked:
        return {}
    shown = posted_row_counts(posted)
    return {name: shown.get(name, 0) + (1 if name in asked else 0) for name in {*asked, *shown}}


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
    workflow = svc.catalogue.workflow(view["workflow"], view["workflow_version"])
    return render(
        request, "diagram.html", session, workflow=workflow, case=view,
        diagram=mermaid(workflow, view["state"] or None, internal=False, direction="TB"),
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


# --- pieces ---


def case_id_of(request: Request) -> str:
    case_id = str(request.path_params["case_id"])
    if len(case_id) > 32:
        raise HTTPException(404, "no such case")
    return case_id


async def _posted(request: Request, session: WebSessionRecord) -> list[tuple[str, str]]:
    form = await request.form(max_files=0, max_fields=2000)
    posted = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    check_csrf(request, session, dict(posted).get("csrf_token", ""))
    return posted


def _action_form(
    request: Request, svc: Services, session: WebSessionRecord, page: dict[str, Any], action: str,
    values: dict[str, Any] | None = None, refused: Exception | None = None, min_rows: dict[str, int] | None = None,
    version: str | None = None, key: str | None = None, status: int | None = None,
) -> HTMLResponse:
    case = page["case"]
    workflow = svc.catalogue.workflow(case["workflow"], case["workflow_version"])
    option = next((o for o in page["actions"] if o.action == action), None)
    compiled = workflow.actions.get(action)
    if option is None or compiled is None:
        raise HTTPException(404, f"{present.choice_label(action)} is not an action of this case in its state")
    return _form_page(
        request, svc, session, workflow, compiled.form.spec, title=compiled.title, case=case, option=option,
        values=values, refused=refused, min_rows=min_rows, version=version, key=key, status=status,
    )


def _form_page(
    request: Request, svc: Services, session: WebSessionRecord, workflow: CompiledWorkflow, spec: FormSpec, *,
    title: str, case: dict[str, Any] | None = None, option: Any = None, values: dict[str, Any] | None = None,
    refused: Exception | None = None, min_rows: dict[str, int] | None = None, version: str | None = None,
    key: str | None = None, status: int | None = None,
) -> HTMLResponse:
    errors: dict[str, str] = {}
    reasons: list[str] = []
    if isinstance(refused, InvalidForm):
        errors = errors_by_field(refused.errors)
    elif isinstance(refused, NotAvailable):
        reasons = list(refused.reasons)
    elif isinstance(refused, PoscError):
        reasons = [refused.message]
    organisations = [(o.id, o.name) for o in list_organisations(svc.db)]
    shown = widgets(spec, values or {}, errors, organisations, min_rows)
    if status is None:
        status = 422 if errors else (409 if reasons else 200)
    return render(
        request, "action.html", session, status=status, form=spec, title=title, case=case, option=option,
        widgets=shown, errors=errors, reasons=reasons, zone=workflow.timezone,
        version=version or (str(case["version"]) if case else ""), idempotency_key=key or secrets.token_urlsafe(16),
        labels=_labels(shown),
    )


def _labels(shown: list[Any]) -> dict[str, tuple[str, str]]:
    """Field path → (label, element id), for the error summary's links at the top of a form."""
    found: dict[str, tuple[str, str]] = {}
    for widget in shown:
        found[widget.name] = (widget.spec.label, widget.dom_id)
        for index, row in enumerate(widget.rows):
            for sub in row:
                found[sub.name] = (f"{widget.spec.label}, row {index + 1}: {sub.spec.label}", sub.dom_id)
    return found


def _zone(svc: Services) -> ZoneInfo:
    return svc.catalogue.latest()[0].timezone


def _home(user: UserRecord) -> str:
    return f"{PREFIX}/{HOME.get(user.role, 'worklist')}"


def _can_open(svc: Services, user: UserRecord) -> bool:
    return user.role in svc.catalogue.latest()[0].open.roles


def _require_role(session: WebSessionRecord, roles: tuple[str, ...], what: str) -> None:
    if session.user.role not in roles:
        raise HTTPException(403, f"the {session.user.role} role may not {what}")


def _nav(svc: Services, user: UserRecord | None) -> list[tuple[str, str]]:
    if user is None:
        return []
    items: list[tuple[str, str]] = []
    if user.role in LOOKUP_ROLES:
        items.append(("lookup", "Lookup"))
    if user.role in svc.queries.case_roles:
        items += [("worklist", "Worklist"), ("cases", "Cases")]
    if _can_open(svc, user):
        items.append(("cases/new", "Open a case"))
    items.append(("workflows", "Pathway"))
    if user.role in REPORT_ROLES:
        items.append(("reports", "Figures"))
    return items
