"""Case work: the worklist, the case list, opening a case (at delivery too), the case page and its action forms.

Every form posts back to its own address with the session's CSRF token; a refused or invalid submission shows the
form again, filled in, with the reasons next to the fields, and changes nothing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import problems
from api.deps import ServicesDep
from api.services import Services
from api.web import present
from api.web.rendering import BIRTH_VARIANT, can_open, case_id_of, posted_fields, render
from api.web.session import PREFIX, SignedIn
from api.web.widgets import errors_by_field, form_data, posted_row_counts, posted_values, widgets
from engine import (
    ActionOption,
    AlreadyOpen,
    CasePage,
    CaseView,
    CompiledOpening,
    CompiledWorkflow,
    FormSpec,
    IdempotencyConflict,
    InvalidForm,
    NotAvailable,
    OrganisationRecord,
    PoscError,
    StaleVersion,
    UserRecord,
    WebSessionRecord,
    list_organisations,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False, default_response_class=HTMLResponse)
#: What the lookup carries into the form for an opening at delivery.
LOOKED_UP = ("last_name", "date_of_birth")


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
        states=list(workflow.states), phases=workflow.spec.phases, can_open=can_open(svc, session.user),
    )


# --- opening a case ---


@router.get("/cases/new")
def new_case_page(request: Request, svc: ServicesDep, session: SignedIn) -> HTMLResponse:
    workflow = svc.catalogue.latest()[0]
    svc.cases.check_may_open(session.user.actor, workflow.id)
    return _form_page(request, svc, session, workflow, [Part(workflow.open.form.spec)], title=workflow.open.title)


@router.post("/cases/new")
async def open_case(request: Request, svc: ServicesDep, session: SignedIn) -> Response:
    posted = await posted_fields(request, session)
    fields = dict(posted)
    workflow = svc.catalogue.latest()[0]
    spec = workflow.open.form.spec
    values = posted_values(spec, posted)
    key = fields.get("idempotency_key") or None
    rows = _more_rows(posted)
    if rows:  # "Add another row" asked for, not a submission
        return _form_page(request, svc, session, workflow, [Part(spec, values)], title=workflow.open.title,
                          min_rows=rows, key=key)
    try:
        outcome = svc.cases.open(
            session.user.actor, workflow.id, form_data(spec, values, workflow.timezone), idempotency_key=key,
            new_pregnancy=fields.get("new_pregnancy") == "yes",
        )
    except (InvalidForm, NotAvailable, IdempotencyConflict) as refused:
        return _form_page(
            request, svc, session, workflow, [Part(spec, values)], title=workflow.open.title, refused=refused,
            key=key if not isinstance(refused, IdempotencyConflict) else None,
        )
    return RedirectResponse(f"{PREFIX}/cases/{outcome.case.id}?done=open_case", status_code=303)


# --- identification at birth ---


def _way_at_delivery(svc: Services, session: WebSessionRecord) -> tuple[CompiledWorkflow, CompiledOpening]:
    workflow = svc.catalogue.latest()[0]
    way = workflow.variants.get(BIRTH_VARIANT)
    if way is None:
        raise HTTPException(404, "this pathway has no opening at delivery")
    svc.cases.check_may_open(session.user.actor, workflow.id, way.name)
    return workflow, way


@router.get("/cases/new/at-delivery")
def new_at_delivery_page(request: Request, svc: ServicesDep, session: SignedIn) -> HTMLResponse:
    workflow, way = _way_at_delivery(svc, session)
    return _at_delivery_page(request, svc, session, workflow, way)


@router.post("/cases/new/at-delivery")
async def open_at_delivery(request: Request, svc: ServicesDep, session: SignedIn) -> Response:
    """Opens a case at delivery; posted from the lookup page (`start`, with the name and date of birth looked up,
    never in a URL) it shows the form filled with them instead."""
    posted = await posted_fields(request, session)
    fields = dict(posted)
    workflow, way = _way_at_delivery(svc, session)
    opening, then = workflow.open.form.spec, workflow.actions[way.then].form.spec
    values = posted_values(opening, [(k, v) for k, v in posted if k not in way.set])
    if fields.get("start") == "yes":
        return _at_delivery_page(request, svc, session, workflow, way, values=values)
    birth = posted_values(then, posted, prefix=f"{way.name}.")
    key = fields.get("idempotency_key") or None
    try:
        outcome = svc.cases.open(
            session.user.actor, workflow.id, form_data(opening, values, workflow.timezone), idempotency_key=key,
            new_pregnancy=fields.get("new_pregnancy") == "yes",
            variant=(way.name, form_data(then, birth, workflow.timezone)),
        )
    except (InvalidForm, NotAvailable, IdempotencyConflict) as refused:
        return _at_delivery_page(
            request, svc, session, workflow, way, values=values, birth=birth, refused=refused,
            key=key if not isinstance(refused, IdempotencyConflict) else None,
        )
    return RedirectResponse(f"{PREFIX}/cases/{outcome.case.id}?done=open_case", status_code=303)


# --- one case ---


@router.get("/cases/{case_id}")
def case_page(
    request: Request, svc: ServicesDep, session: SignedIn, done: Annotated[str | None, Query(max_length=64)] = None
) -> HTMLResponse:
    page = svc.queries.page(session.user.actor, case_id_of(request))
    case = page.case
    workflow = svc.catalogue.workflow(case.workflow, case.workflow_version)
    timeline = [present.timeline_entry(workflow, event) for event in page.events]
    opening = workflow.open.form.spec
    last = page.events[-1] if page.events else None
    # "Recorded: ..." only when the latest event really is that action (the address alone proves nothing).
    done_title = present.event_title(workflow, done, {}) if done and last and last.action == done else None
    return render(
        request, "case.html", session, case=case, state=workflow.states[case.state] if case.state else None,
        data=present.shown_fields(opening, case.data, workflow.timezone),
        withheld=present.withheld_labels(opening, case.withheld), timeline=timeline,
        deadlines=page.deadlines, actions=page.actions, plan_versions=page.plan_versions,
        done=done_title, workflow=workflow,
    )


@router.get("/cases/{case_id}/actions/{action}")
def action_page(request: Request, svc: ServicesDep, session: SignedIn, action: str) -> HTMLResponse:
    page = svc.queries.page(session.user.actor, case_id_of(request))
    return _action_form(request, svc, session, page, action)


@router.post("/cases/{case_id}/actions/{action}")
async def take_action(request: Request, svc: ServicesDep, session: SignedIn, action: str) -> Response:
    posted = await posted_fields(request, session)
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
    rows = _more_rows(posted)
    if rows:  # "Add another row" asked for, not a submission
        return _action_form(request, svc, session, svc.queries.page(actor, case_id), action, values=values,
                            version=version, key=key, min_rows=rows)
    expected = int(version) if version and version.isdigit() and len(version) < 10 else None
    data = form_data(spec, values, workflow.timezone)
    try:
        svc.cases.act(
            actor, case_id, action, data, expected_version=expected, idempotency_key=key, page_if_refused=True
        )
    except (InvalidForm, NotAvailable, IdempotencyConflict, StaleVersion) as refused:
        # The engine read the case's page in the refused attempt's own transaction: the form is drawn from it.
        page: CasePage = refused.page
        if isinstance(refused, StaleVersion):
            return _stale(request, svc, session, page, action, values)
        return _action_form(
            request, svc, session, page, action, values=values, refused=refused, version=version,
            key=None if isinstance(refused, IdempotencyConflict) else key,  # a new key for the corrected submission
        )
    return RedirectResponse(f"{PREFIX}/cases/{case_id}?done={action}", status_code=303)


def _stale(
    request: Request, svc: Services, session: WebSessionRecord, page: CasePage, action: str, values: dict[str, Any]
) -> HTMLResponse:
    """Someone else changed the case while this form was open: the form again, filled in, at the case's new
    version (`page`, as it is now), if the action is still offered; otherwise a page that says so and leads back to
    the case."""
    reason = ("Someone else updated this case while you were filling in the form. Check the case as it is now "
              "and submit again.")
    if any(o.action == action for o in page.actions):
        stale = NotAvailable("the case changed since you opened this form", [reason])
        return _action_form(request, svc, session, page, action, values=values, refused=stale, status=409)
    gone = (f"Meanwhile the case moved to {present.choice_label(page.case.state or page.case.phase)}, where "
            f"{present.choice_label(action)} is no longer an action. Nothing you typed was recorded.")
    return render(request, "error.html", session, status=409, title="The case changed", detail=reason,
                  reasons=[gone], back=f"{PREFIX}/cases/{page.case.id}")


def _more_rows(posted: list[tuple[str, str]]) -> dict[str, int]:
    """For "Add another row": each list's rows as shown (the highest row posted), plus one for the list asked."""
    asked = {k.removeprefix("_more_") for k, _ in posted if k.startswith("_more_")}
    if not asked:
        return {}
    shown = posted_row_counts(posted)
    return {name: shown.get(name, 0) + (1 if name in asked else 0) for name in {*asked, *shown}}


def _action_form(
    request: Request, svc: Services, session: WebSessionRecord, page: CasePage, action: str,
    values: dict[str, Any] | None = None, refused: PoscError | None = None, min_rows: dict[str, int] | None = None,
    version: str | None = None, key: str | None = None, status: int | None = None,
) -> HTMLResponse:
    case = page.case
    workflow = svc.catalogue.workflow(case.workflow, case.workflow_version)
    compiled = workflow.actions.get(action)
    option = next((o for o in page.actions if o.action == action), None)
    if option is None and compiled is not None:
        option = svc.cases.role_refusal(session.user.actor, compiled)
    if option is None or compiled is None:
        raise HTTPException(404, f"{present.choice_label(action)} is not an action of this case in its state")
    return _form_page(
        request, svc, session, workflow, [Part(compiled.form.spec, values)], title=compiled.title, case=case,
        option=option, refused=refused, min_rows=min_rows, version=version, key=key, status=status,
    )


@dataclass(frozen=True)
class Part:
    """One form of a page: its definition, the values to fill it with (None: a new form) and, for a page of
    several forms, its legend and the prefix of its field names. `carried` values (a name and date of birth brought
    from the lookup) fill a form that is otherwise new."""

    spec: FormSpec
    values: dict[str, Any] | None = None
    legend: str | None = None
    prefix: str = ""
    leave_out: frozenset[str] = frozenset()
    carried: bool = False


def _form_page(
    request: Request, svc: Services, session: WebSessionRecord, workflow: CompiledWorkflow, parts: list[Part], *,
    title: str, description: str | None = None, case: CaseView | None = None, option: ActionOption | None = None,
    refused: PoscError | None = None, min_rows: dict[str, int] | None = None, version: str | None = None,
    key: str | None = None, status: int | None = None, cancel: str | None = None,
) -> HTMLResponse:
    """A page of one form (an action, the opening) or of several in sections (the opening at delivery), filled
    with what was posted and the refusal's errors and reasons next to the fields."""
    errors, reasons = _refusal(refused)
    known = list_organisations(svc.db)
    organisations = [(o.id, o.name, o.kind) for o in known]
    sections = []
    for part in parts:
        values = part.values
        if values is None or part.carried:  # a new form names the person's own organisation where it fits
            values = {**_own_organisation_defaults(part.spec, session.user, known), **(values or {})}
        shown = widgets(part.spec, values, errors, organisations, min_rows, prefix=part.prefix,
                        leave_out=part.leave_out)
        sections.append((part.legend, shown))
    every = [w for _, shown in sections for w in shown]
    if status is None:
        status = problems.status_of(refused) if refused else 200
    return render(
        request, "action.html", session, status=status, form=parts[0].spec if len(parts) == 1 else None,
        title=title, description=description, case=case, option=option, widgets=every,
        sections=sections if len(parts) > 1 else None, errors=errors, reasons=reasons, zone=workflow.timezone,
        existing_case=refused.existing if isinstance(refused, AlreadyOpen) else None,
        version=version or (str(case.version) if case else ""), idempotency_key=key or secrets.token_urlsafe(16),
        labels=_labels(every), cancel=cancel,
    )


def _refusal(refused: PoscError | None) -> tuple[dict[str, str], list[str]]:
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
    values: dict[str, Any] | None = None, birth: dict[str, Any] | None = None, refused: PoscError | None = None,
    key: str | None = None,
) -> HTMLResponse:
    """Identification at birth: the opening form (less what the way in sets) and its action's form, in one page."""
    opening, then = workflow.open.form.spec, workflow.actions[way.then].form.spec
    carried = values is None or not any(v for k, v in values.items() if k not in LOOKED_UP)
    parts = [
        Part(opening, values, opening.title, leave_out=frozenset(way.set), carried=carried),
        Part(then, birth or {}, then.title, prefix=f"{way.name}."),
    ]
    return _form_page(request, svc, session, workflow, parts, title=way.title, description=way.description,
                      refused=refused, key=key, cancel="lookup")


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
