"""The web pages: sign-in, hospital lookup, worklist, case list, case page with its action forms, documents,
diagrams and outcome figures.

Handlers are thin, as in the JSON API: each reads the signed-in person, calls the same engine functions the API
calls (so disclosure, guards and the access log are the engine's), and renders a template. Every form posts back to
its own address with the session's CSRF token; a refused or invalid submission shows the form again, filled in,
with the reasons next to the fields, and changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, Undefined, select_autoescape
from jinja2.utils import missing

from api.deps import ServicesDep
from api.services import Services
from api.web import present
from api.web.session import (
    FORM_PROOF,
    PREFIX,
    SignedIn,
    browser_token,
    check_csrf,
    check_sign_in_token,
    clear_session_cookie,
    form_proof,
    proven_user,
    remember_browser,
    remember_sign_in_token,
    resumable,
    safe_next,
    set_session_cookie,
    sign_in_token,
)
from api.web.widgets import (
    choice_label,
    errors_by_field,
    form_data,
    local_input,
    posted_row_counts,
    posted_values,
    widgets,
)
from engine import (
    AlreadyOpen,
    CompiledOpening,
    CompiledWorkflow,
    FieldSpec,
    FormSpec,
    IdempotencyConflict,
    InvalidForm,
    NotAvailable,
    OrganisationRecord,
    PoscError,
    StaleVersion,
    UserRecord,
    WebSessionRecord,
    end_session,
    list_organisations,
    mermaid,
    start_session,
    to_pdf,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False, default_response_class=HTMLResponse)
class _NamesStrict(Undefined):
    """A variable the handler did not give is an error (as with `StrictUndefined`), not an empty string that hides
    a bug; a key missing from a mapping that was given (`errors.last_name` with no such error) reads as empty."""

    __slots__ = ()

    def _given(self) -> None:
        if self._undefined_obj is missing:
            self._fail_with_undefined_error()

    def __str__(self) -> str:
        self._given()
        return ""

    def __bool__(self) -> bool:
        self._given()
        return False

    def __iter__(self) -> Iterator[Any]:
        self._given()
        return iter(())

    def __len__(self) -> int:
        self._given()
        return 0

    def __eq__(self, other: object) -> bool:
        self._given()
        return type(self) is type(other)

    __hash__ = Undefined.__hash__


TEMPLATES = Jinja2Templates(env=Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"]),
    undefined=_NamesStrict,
))
TEMPLATES.env.globals.update(label=present.choice_label, day=present.day, local_input=local_input)
#: The pages each role starts on.
HOME = {"hospital": "lookup", "analyst": "reports", "admin": "workflows"}
#: The opening variant the lookup offers when no plan is found (PATHWAY, "Identification at birth").
BIRTH_VARIANT = "birth"


#: What a template may be drawn without (everything else it uses must be given).
OPTIONAL: dict[str, dict[str, Any]] = {
    "action.html": {"cancel": None, "description": None, "sections": None},
    "lookup.html": {"can_open_at_delivery": False},
    "error.html": {"back": None, "reasons": []},
}


def render(
    request: Request, template: str, session: WebSessionRecord | None, status: int = 200, **context: Any
) -> HTMLResponse:
    svc: Services = request.app.state.services
    zone = _zone(svc)
    user = session.user if session else None
    response = TEMPLATES.TemplateResponse(request, template, {
        "user": user, "csrf": session.csrf_token if session else "", "nav": _nav(svc, user), "prefix": PREFIX,
        "form_proof": form_proof(request, user.id) if user else "",
        "when": lambda v: present.when(v, zone), "now": svc.clock.now(),
        "relative": lambda v: present.relative(v, svc.clock.now()), **OPTIONAL.get(template, {}), **context,
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
    # The browser keeps its token (forms open in other tabs keep their proofs); a browser without one gets one.
    browser = browser_token(request) or secrets.token_urlsafe(32)
    kept = _kept(request, svc, session, target, carried)
    response: Response
    if kept is not None:
        # Back from a session that ended mid-form: show what was typed, to submit with the new session's token.
        response = render(
            request, "resume.html", session, target=target, rows=kept,
            carried=[(k, v) for k, v in carried if k != FORM_PROOF],
            form_proof=form_proof(request, session.user.id, browser),
        )
    elif carried:  # not this browser's form, or not this person's: nothing of it is kept
        response = RedirectResponse(_home(session.user), status_code=303)
    else:
        response = RedirectResponse(_home(session.user) if target == PREFIX + "/" else target, status_code=303)
    set_session_cookie(response, request, token)
    remember_browser(response, request, browser)
    return response


#: Hidden fields of the sign-in page that carry a form's values through a new sign-in.
CARRIED = "carried:"
#: Posted fields that are the form's machinery, not what the person typed (not listed on the resume page).
_MACHINERY = frozenset({"csrf_token", "version", "idempotency_key", "new_pregnancy", FORM_PROOF})
#: Field types whose values are shown with their label rather than as posted.
_CHOICES = ("choice", "multi_choice")


def carry_through_sign_in(request: Request, next_path: str, posted: list[tuple[str, str]]) -> HTMLResponse:
    """The answer to a long form posted after its session ended: the sign-in page, carrying what was typed only if
    the form proves it was shown on this browser (`FORM_PROOF`); a post forged on another site carries nothing."""
    if proven_user(request, dict(posted).get(FORM_PROOF, "")) is None:
        notice = ("Your session ended before this form was submitted, and the form was not kept: sign in and fill "
                  "it in again. Nothing was recorded.")
        return sign_in_form(request, next_path, error=None, notice=notice, status=401)
    notice = ("Your session ended while you were filling in this form. Sign in again to submit it: what you "
              "typed is kept on this page until you do, and shown to you before it is recorded.")
    return sign_in_form(request, next_path, error=None, notice=notice, status=401, carried=posted)


def _kept(
    request: Request, svc: Services, session: WebSessionRecord, target: str, carried: list[tuple[str, str]]
) -> list[tuple[str, str]] | None:
    """What the resume page lists of a carried form, (label, value) per field typed; None if the form is not to be
    resumed: none carried, not a form worth resuming, made on another browser or for another person, or no longer
    one the person may submit."""
    if not carried or not resumable(target):
        return None
    if proven_user(request, dict(carried).get(FORM_PROOF, "")) != session.user.id:
        return None
    spec = _form_at(svc, session, target)
    if spec is None:
        return None
    organisations = {o.id: o.name for o in list_organisations(svc.db)}
    return _typed_rows(spec, carried, organisations)


def _form_at(svc: Services, session: WebSessionRecord, target: str) -> FormSpec | None:
    """The form a resumable page's address posts (`resumable`), if the person may still see it."""
    if target == f"{PREFIX}/cases/new":
        return svc.catalogue.latest()[0].open.form.spec
    case_id, _, action = target.removeprefix(f"{PREFIX}/cases/").partition("/actions/")
    try:
        compiled = svc.queries.workflow_of(session.user.actor, case_id).actions.get(action)
    except PoscError:
        return None
    return compiled.form.spec if compiled else None


def _typed_rows(
    spec: FormSpec, carried: list[tuple[str, str]], organisations: dict[str, str]
) -> list[tuple[str, str]]:
    """Every carried field that holds a value, labelled as on the form (a name the form does not know is shown as
    posted); the values of a field ticked more than once are listed together."""
    rows: dict[str, list[str]] = {}
    for name, raw in carried:
        value = raw.strip()
        if name in _MACHINERY or name.startswith("_more_") or not value:
            continue
        label, field = _field_at(spec, name)
        if field is not None and field.type in _CHOICES:
            value = choice_label(value)
        elif field is not None and field.type == "organisation":
            value = organisations.get(value, value)
        rows.setdefault(label, []).append(value)
    return [(label, ", ".join(values)) for label, values in rows.items()]


def _field_at(spec: FormSpec, name: str) -> tuple[str, FieldSpec | None]:
    """A posted name's label and field: `substances`, or `participants[0].role` in a list of records."""
    parent, _, rest = name.partition("[")
    field = spec.field(parent)
    if field is None or not rest:
        return (field.label, field) if field is not None else (name, None)
    index, _, sub_id = rest.partition("].")
    sub = next((f for f in field.fields or [] if f.id == sub_id), None)
    if sub is None or not index.isdigit():
        return name, None
    return f"{field.label}, row {int(index) + 1}: {sub.label}", sub


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
def lookup_page(request: Request, svc: ServicesDep, session: SignedIn) -> HTMLResponse:
    _require_role(session, tuple(svc.catalogue.lookup_roles), "look parents up")
    return render(request, "lookup.html", session, matches=None, values={}, errors={})


@router.post("/lookup")
def lookup(
    request: Request, svc: ServicesDep, session: SignedIn,
    last_name: Annotated[str, Form(max_length=100)] = "", date_of_birth: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> HTMLResponse:
    check_csrf(request, session, csrf_token)
    _require_role(session, tuple(svc.catalogue.lookup_roles), "look parents up")
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
    return render(request, "lookup.html", session, matches=matches, values=values, errors={},
                  can_open_at_delivery=_can_open_at_delivery(svc, session.user))


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
        view, _ = svc.cases.open(
            session.user.actor, workflow.id, form_data(spec, values, workflow.timezone), idempotency_key=key,
            new_pregnancy=fields.get("new_pregnancy") == "yes",
        )
    except (InvalidForm, NotAvailable, IdempotencyConflict) as refused:
        return _form_page(
            request, svc, session, workflow, spec, title=workflow.open.title, values=values, refused=refused,
            key=key if not isinstance(refused, IdempotencyConflict) else None,
        )
    return RedirectResponse(f"{PREFIX}/cases/{view['id']}?done=open_case", status_code=303)


# --- identification at birth ---


def _way_at_delivery(svc: Services, session: WebSessionRecord) -> tuple[CompiledWorkflow, CompiledOpening]:
    workflow = svc.catalogue.latest()[0]
    way = workflow.variants.get(BIRTH_VARIANT)
    if way is None:
        raise HTTPException(404, "this pathway has no opening at delivery")
    _require_role(session, tuple(way.opening.roles), "open cases at delivery")
    return workflow, way


@router.get("/cases/new/at-delivery")
def new_at_delivery_page(request: Request, svc: ServicesDep, session: SignedIn) -> HTMLResponse:
    workflow, way = _way_at_delivery(svc, session)
    return _at_delivery_page(request, svc, session, workflow, way)


@router.post("/cases/new/at-delivery")
async def open_at_delivery(request: Request, svc: ServicesDep, session: SignedIn) -> Response:
    """Opens a case at delivery; posted from the lookup page (`start`, with the name and date of birth looked up,
    never in a URL) it shows the form filled with them instead."""
    posted = await _posted(request, session)
    fields = dict(posted)
    workflow, way = _way_at_delivery(svc, session)
    opening, then = workflow.open.form.spec, workflow.actions[way.then].form.spec
    values = posted_values(opening, [(k, v) for k, v in posted if k not in way.set])
    if fields.get("start") == "yes":
        return _at_delivery_page(request, svc, session, workflow, way, values=values)
    birth = posted_values(then, posted, prefix=f"{way.name}.")
    key = fields.get("idempotency_key") or None
    try:
        view, _ = svc.cases.open(
            session.user.actor, workflow.id, form_data(opening, values, workflow.timezone), idempotency_key=key,
            new_pregnancy=fields.get("new_pregnancy") == "yes",
            variant=(way.name, form_data(then, birth, workflow.timezone)),
        )
    except (InvalidForm, NotAvailable, IdempotencyConflict) as refused:
        return _at_delivery_page(
            request, svc, session, workflow, way, values=values, birth=birth, refused=refused,
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
    compiled = workflow.actions.get(action)
    option = next((o for o in page["actions"] if o.action == action), None)
    if option is None and compiled is not None:
        option = svc.cases.role_refusal(session.user.actor, compiled)
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
    errors, reasons = _refusal(refused)
    known = list_organisations(svc.db)
    if values is None:  # a new form
        values = _own_organisation_defaults(spec, session.user, known)
    organisations = [(o.id, o.name, o.kind) for o in known]
    shown = widgets(spec, values, errors, organisations, min_rows)
    if status is None:
        status = 422 if errors else (409 if reasons else 200)
    return render(
        request, "action.html", session, status=status, form=spec, title=title, case=case, option=option,
        widgets=shown, errors=errors, reasons=reasons, zone=workflow.timezone,
        existing_case=refused.existing if isinstance(refused, AlreadyOpen) else None,
        version=version or (str(case["version"]) if case else ""), idempotency_key=key or secrets.token_urlsafe(16),
        labels=_labels(shown),
    )


def _refusal(refused: Exception | None) -> tuple[dict[str, str], list[str]]:
    """What a refusal says: errors by field path, or the rules' reasons."""
    if isinstance(refused, InvalidForm):
        return errors_by_field(refused.errors), []
    if isinstance(refused, NotAvailable):
        return {}, list(refused.reasons)
    if isinstance(refused, PoscError):
        return {}, [refused.message]
    return {}, []


def _at_delivery_page(
    request: Request, svc: Services, session: WebSessionRecord, workflow: CompiledWorkflow, way: CompiledOpening, *,
    values: dict[str, Any] | None = None, birth: dict[str, Any] | None = None, refused: Exception | None = None,
    key: str | None = None,
) -> HTMLResponse:
    """Identification at birth: the opening form (less what the way in sets) and its action's form, in one page."""
    errors, reasons = _refusal(refused)
    known = list_organisations(svc.db)
    organisations = [(o.id, o.name, o.kind) for o in known]
    opening, then = workflow.open.form.spec, workflow.actions[way.then].form.spec
    if values is None or not any(v for k, v in values.items() if k not in ("last_name", "date_of_birth")):
        values = {**_own_organisation_defaults(opening, session.user, known), **(values or {})}
    sections = [
        (opening.title, widgets(opening, values, errors, organisations, leave_out=frozenset(way.set))),
        (then.title, widgets(then, birth or {}, errors, organisations, prefix=f"{way.name}.")),
    ]
    every = [w for _, shown in sections for w in shown]
    return render(
        request, "action.html", session, status=422 if errors else (409 if reasons else 200), form=None,
        title=way.title, description=way.description, case=None, option=None, widgets=every, sections=sections,
        errors=errors, reasons=reasons, zone=workflow.timezone,
        existing_case=refused.existing if isinstance(refused, AlreadyOpen) else None, version="",
        idempotency_key=key or secrets.token_urlsafe(16), labels=_labels(every), cancel="lookup",
    )


def _own_organisation_defaults(
    spec: FormSpec, user: UserRecord, known: list[OrganisationRecord]
) -> dict[str, Any]:
    """A new form names the person's own organisation in each organisation field that takes only its kind: a CPS
    worker opening a case leads it from their own office, a treatment program admits to itself."""
    own = next((o for o in known if o.id == user.organisation), None)
    if own is None:
        return {}
    return {
        field.id: own.id for field in spec.fields
        if field.type == "organisation" and not field.many and field.kinds == [own.kind]
    }


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


def _can_open_at_delivery(svc: Services, user: UserRecord) -> bool:
    way = svc.catalogue.latest()[0].variants.get(BIRTH_VARIANT)
    return way is not None and user.role in way.opening.roles


def _require_role(session: WebSessionRecord, roles: tuple[str, ...], what: str) -> None:
    if session.user.role not in roles:
        raise HTTPException(403, f"the {session.user.role} role may not {what}")


def _nav(svc: Services, user: UserRecord | None) -> list[tuple[str, str]]:
    if user is None:
        return []
    items: list[tuple[str, str]] = []
    if user.role in svc.catalogue.lookup_roles:
        items.append(("lookup", "Lookup"))
    if user.role in svc.queries.case_roles:
        items += [("worklist", "Worklist"), ("cases", "Cases")]
    if _can_open(svc, user):
        items.append(("cases/new", "Open a case"))
    if _can_open_at_delivery(svc, user):
        items.append(("cases/new/at-delivery", "Open at delivery"))
    items.append(("workflows", "Pathway"))
    if user.role in svc.catalogue.figure_roles:
        items.append(("reports", "Figures"))
    return items
