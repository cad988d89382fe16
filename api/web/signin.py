"""Signing in and out, and carrying a long form through a new sign-in when its session ended."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import ServicesDep
from api.services import Services
from api.web.rendering import home_of, render
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
from api.web.widgets import choice_label
from engine import FieldSpec, FormSpec, PoscError, WebSessionRecord, end_session, list_organisations, start_session

router = APIRouter(prefix=PREFIX, include_in_schema=False, default_response_class=HTMLResponse)


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
        response = RedirectResponse(home_of(session.user), status_code=303)
    else:
        response = RedirectResponse(home_of(session.user) if target == PREFIX + "/" else target, status_code=303)
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
    return RedirectResponse(home_of(session.user), status_code=303)
