"""Errors as RFC 9457 problem details: the one place that maps the engine's error vocabulary to HTTP.

No problem body carries a stack trace, SQL, or data the caller may not see: only the engine's own messages, which
are written for the caller. An unexpected exception is logged by its type, the route's template and the place in
our code where it happened, never by its message (a database error's message repeats SQL and can repeat values),
and it goes no further: Starlette and uvicorn would print it whole.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.logs import type_name
from engine import (
    AlreadyOpen,
    Forbidden,
    GuardFailed,
    IdempotencyConflict,
    InvalidForm,
    NotAuthenticated,
    NotAvailable,
    NotFound,
    PoscError,
    SchemaOutOfDate,
    StaleVersion,
)

log = logging.getLogger("posc.api")
PROBLEM = "application/problem+json"

#: Engine error → (status, title). Order matters: subclasses first.
TABLE: list[tuple[type[PoscError], int, str]] = [
    (AlreadyOpen, 409, "A case is already open for this parent"),
    (GuardFailed, 409, "Refused by the pathway's rules"),
    (NotAvailable, 409, "Action not available"),
    (NotFound, 404, "Not found"),
    (Forbidden, 403, "Not allowed"),
    (NotAuthenticated, 401, "Not authenticated"),
    (InvalidForm, 422, "Invalid form data"),
    (StaleVersion, 409, "The case changed"),
    (IdempotencyConflict, 422, "Idempotency key reused"),
    (SchemaOutOfDate, 503, "Database schema out of date"),
]


#: Every kind of problem posc answers with: title → (the last part of its `type` URI, what it means). A problem's
#: `type` is `/problems/<kind>` (relative to the server; `GET /problems/<kind>` describes it). Clients may rely on
#: the types; titles and details are for people.
PROBLEM_TYPES: dict[str, tuple[str, str]] = {
    "A case is already open for this parent": (
        "already-open", "The parent has an open case the caller may know of; `existing_case` names it. Send "
        "`new_pregnancy: true` if the case is for a new pregnancy."),
    "Refused by the pathway's rules": (
        "refused-by-rules", "A guard of the pathway refused the action; `reasons` says why, in the domain's words."),
    "Action not available": (
        "not-available", "The action cannot be taken in the case's current state; `reasons` says why."),
    "Not found": ("not-found", "No such resource, or one the caller may not know exists."),
    "Not allowed": ("not-allowed", "The caller's role may not do this."),
    "Invalid form data": (
        "invalid-form", "The form data do not match the form definition; `errors` lists each field and why."),
    "Invalid request": (
        "invalid-request", "The request does not match its schema; `errors` lists each field and why."),
    "The case changed": (
        "stale", "The case changed while the action was being taken, or since the version the caller sent; read it "
        "again."),
    "Precondition failed": (
        "precondition-failed", "`If-Match` names a version the case is no longer at; read it again."),
    "Idempotency key reused": (
        "idempotency-key-reused", "The `Idempotency-Key` was already used for a different request; use a new key."),
    "Database schema out of date": (
        "schema-out-of-date", "The database needs `posc db upgrade` before the server can answer."),
    "Service unavailable": (
        "unavailable", "The server cannot answer now (its database does not answer); try again shortly."),
    "Malformed request": ("malformed-request", "The body is not valid JSON, or a header is malformed."),
    "Not authenticated": ("not-authenticated", "No API key, or an unknown or revoked one."),
    "Method not allowed": ("method-not-allowed", "The path does not take this method."),
    "Request too large": ("request-too-large", "The body is over 256 KiB."),
    "Too many requests": ("too-many-requests", "Over the rate limit (lookups: 30 a minute); `Retry-After` says when."),
    "Internal error": ("internal-error", "An unexpected error; it was logged without the request's data."),
}


def problem_type(title: str) -> str:
    found = PROBLEM_TYPES.get(title)
    return f"/problems/{found[0]}" if found else "about:blank"


#: Paths answered with pages rather than problem details (the web pages), and how to draw the page.
PageRenderer = Callable[[Request, int, str, str, dict[str, Any]], Response]


def answer_pages_under(app: FastAPI, prefix: str, renderer: PageRenderer) -> None:
    """Errors on paths under `prefix` become pages drawn by `renderer` (same status, title and detail)."""
    app.state.page_errors = [*getattr(app.state, "page_errors", []), (prefix, renderer)]


def _answer(request: Request, status: int, title: str, detail: str, **extra: Any) -> Response:
    pages: list[tuple[str, PageRenderer]] = getattr(request.app.state, "page_errors", [])
    for prefix, renderer in pages:
        if request.url.path.startswith(prefix):
            return renderer(request, status, title, detail, extra)
    return problem(status, title, detail, **extra)


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": problem_type(title), "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def status_of(exc: PoscError) -> int:
    """The status an engine error answers with (pages drawing a refused form use it too)."""
    return next((status for kind, status, _ in TABLE if isinstance(exc, kind)), 500)


def for_error(request: Request, exc: PoscError) -> Response:
    for kind, status, title in TABLE:
        if isinstance(exc, kind):
            extra: dict[str, Any] = {}
            if isinstance(exc, InvalidForm):
                extra["errors"] = [{"field": e.field, "message": e.message} for e in exc.errors]
            if isinstance(exc, NotAvailable):
                extra["reasons"] = exc.reasons
            if isinstance(exc, AlreadyOpen):
                extra["existing_case"] = exc.existing
            if isinstance(exc, StaleVersion) and request.headers.get("if-match"):
                status, title = 412, "Precondition failed"
            return _answer(request, status, title, exc.message, **extra)
    log.error("unmapped engine error %s", type(exc).__name__)
    return _answer(request, 500, "Internal error", "the server could not complete the request")


def _validation(request: Request, exc: RequestValidationError) -> Response:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return _answer(request, 400, "Malformed request", "the body is not valid JSON")
    fields = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body",)]
        message = "is not allowed here" if error.get("type") == "extra_forbidden" else (
            "is required" if error.get("type") == "missing" else str(error.get("msg", "is invalid"))
        )
        fields.append({"field": ".".join(loc) or "body", "message": message})
    return _answer(
        request, 422, "Invalid request", "; ".join(f"{f['field']}: {f['message']}" for f in fields), errors=fields
    )


def _http(request: Request, exc: StarletteHTTPException) -> Response:
    titles = {401: "Not authenticated", 403: "Not allowed", 404: "Not found", 405: "Method not allowed",
              413: "Request too large", 429: "Too many requests", 400: "Malformed request",
              503: "Service unavailable"}
    response = _answer(request, exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def _unexpected(request: Request, exc: Exception) -> Response:
    """The last resort (Starlette's server-error middleware), for an error outside `UnexpectedErrors`."""
    log_unexpected(request.scope, exc)
    return _answer(request, 500, "Internal error", "the server could not complete the request")


class UnexpectedErrors:
    """ASGI middleware: an exception no handler took is logged (`log_unexpected`) and answered with a 500 here,
    instead of being passed on to Starlette's server-error middleware, which re-raises it for uvicorn to print
    with its message."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            log_unexpected(scope, exc)
            if started:  # too late for a 500: the answer ends cut short
                return
            try:
                response = _answer(Request(scope, receive), 500, "Internal error",
                                   "the server could not complete the request")
            except Exception:
                response = problem(500, "Internal error", "the server could not complete the request")
            await response(scope, receive, send)


_ROOT = Path(__file__).resolve().parent.parent


def log_unexpected(scope: Scope, exc: BaseException) -> None:
    """Logs an unexpected error as `unexpected <type> on <method> <route template> at <our file:line>`: no
    exception message, no path as requested (it holds a case reference; its query string can hold search terms),
    no traceback (its frames' variables hold the request's data)."""
    route = getattr(scope.get("route"), "path", None) or "(no route)"
    cause = exc.__cause__ or exc.__context__ or getattr(exc, "orig", None)
    caused = f" (from {type_name(cause)})" if isinstance(cause, BaseException) else ""
    log.error("unexpected %s%s on %s %s%s", type_name(exc), caused, scope.get("method", ""), route, _where(exc))


def _where(exc: BaseException) -> str:
    """The innermost frame of the traceback in our own code (not a library's)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename)
        if path.is_absolute() and _ROOT in path.parents and "site-packages" not in path.parts:
            return f" at {path.relative_to(_ROOT)}:{frame.lineno} in {frame.name}"
    return ""


def install(app: FastAPI) -> None:
    app.add_exception_handler(PoscError, for_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
