"""Errors as RFC 9457 problem details: the one place that maps the engine's error vocabulary to HTTP.

No problem body carries a stack trace, SQL, or data the caller may not see: only the engine's own messages, which
are written for the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine import (
    Forbidden,
    GuardFailed,
    InvalidForm,
    NotAvailable,
    NotFound,
    PoscError,
    SchemaOutOfDate,
    StaleVersion,
)
from engine.cases import IdempotencyConflict

log = logging.getLogger("posc.api")
PROBLEM = "application/problem+json"

#: Engine error → (status, title). Order matters: subclasses first.
TABLE: list[tuple[type[PoscError], int, str]] = [
    (GuardFailed, 409, "Refused by the pathway's rules"),
    (NotAvailable, 409, "Action not available"),
    (NotFound, 404, "Not found"),
    (Forbidden, 403, "Not allowed"),
    (InvalidForm, 422, "Invalid form data"),
    (StaleVersion, 409, "The case changed"),
    (IdempotencyConflict, 422, "Idempotency key reused"),
    (SchemaOutOfDate, 503, "Database schema out of date"),
]


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
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def for_error(request: Request, exc: PoscError) -> Response:
    for kind, status, title in TABLE:
        if isinstance(exc, kind):
            extra: dict[str, Any] = {}
            if isinstance(exc, InvalidForm):
                extra["errors"] = [{"field": e.field, "message": e.message} for e in exc.errors]
            if isinstance(exc, NotAvailable):
                extra["reasons"] = exc.reasons
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
              413: "Request too large", 429: "Too many requests", 400: "Malformed request"}
    response = _answer(request, exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return _answer(request, 500, "Internal error", "the server could not complete the request")


def install(app: FastAPI) -> None:
    app.add_exception_handler(PoscError, for_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
