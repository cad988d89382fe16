"""The web pages (Jinja2, server-rendered): the same engine calls as the JSON API, for people at a browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.web import casework, lookup, reading, signin
from api.web.rendering import TEMPLATES, render
from api.web.session import PREFIX, SignInRequired
from api.web.signin import carry_through_sign_in

STATIC = Path(__file__).parent / "static"
#: Pages hold personal data: never cached, never framed, no referrer sent, scripts only from ourselves.
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}


def install(app: FastAPI) -> None:
    for pages in (signin, lookup, casework, reading):
        app.include_router(pages.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(SignInRequired, _sign_in)  # type: ignore[arg-type]
    problems.answer_pages_under(app, PREFIX, _error_page)
    app.add_middleware(PageHeaders)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=303)


async def _sign_in(request: Request, exc: SignInRequired) -> Response:
    if exc.resume:  # a long form posted after its session ended: kept through the new sign-in if it is this browser's
        form = await request.form(max_files=0, max_fields=2000)
        posted = [(k, v) for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"]
        return carry_through_sign_in(request, exc.next_path, posted)
    return RedirectResponse(f"{PREFIX}/sign-in?next={quote(exc.next_path, safe='/')}", status_code=303)


def _error_page(request: Request, status: int, title: str, detail: str, extra: dict[str, Any]) -> Response:
    session = getattr(request.state, "web_session", None)
    if status == 401:
        return RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    reasons = [r for r in extra.get("reasons", []) if r != detail]
    reasons += [f"{e['field']}: {e['message']}" for e in extra.get("errors", [])]
    response = _safe_render(request, session, status, title, detail, reasons)
    # A server error is answered outside the middleware that adds these: set them here for every error page.
    for name, value in HEADERS.items():
        response.headers[name] = value
    return response


def _safe_render(
    request: Request, session: Any, status: int, title: str, detail: str, reasons: list[str]
) -> Response:
    try:
        return render(request, "error.html", session, status=status, title=title, detail=detail, reasons=reasons)
    except Exception:  # the error page itself must not fail
        body = TEMPLATES.env.from_string("<!doctype html><title>{{ t }}</title><h1>{{ t }}</h1><p>{{ d }}</p>")
        return HTMLResponse(body.render(t=title, d=detail), status_code=status)


class PageHeaders:
    """Adds `HEADERS` to every answer under the pages' prefix (pure ASGI: no buffering of bodies)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIX):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in self.headers if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
