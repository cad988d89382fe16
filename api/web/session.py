"""Who is signed in to the pages, and the CSRF check on every form they post.

The session cookie carries only a random token (HttpOnly, SameSite=Lax, Secure when the page was served over
HTTPS, scoped to the pages' path); the engine keeps its digest and the session's CSRF token. Every form carries that
CSRF token in a hidden field, and a post without the right one changes nothing. The sign-in form, which comes before
any session, uses a double-submit cookie instead.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, Response

from api.deps import ServicesDep
from engine.sessions import LIFETIME, WebSessionRecord, resume_session

PREFIX = "/ui"
SESSION_COOKIE = "posc_session"
SIGN_IN_COOKIE = "posc_sign_in"


class SignInRequired(Exception):
    """The page needs a signed-in person; answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(LIFETIME.total_seconds()), path=PREFIX, httponly=True, samesite="lax",
        secure=secure(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="lax", secure=secure(request))


def sign_in_token(request: Request) -> tuple[str, bool]:
    """The sign-in form's CSRF token: the one already in the browser's cookie, or a new one (`True`)."""
    token = request.cookies.get(SIGN_IN_COOKIE) or ""
    if len(token) < 32 or len(token) > 100:
        return secrets.token_urlsafe(32), True
    return token, False


def remember_sign_in_token(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SIGN_IN_COOKIE, token, max_age=3600, path=PREFIX, httponly=True, samesite="strict", secure=secure(request)
    )


def check_sign_in_token(request: Request, posted: str) -> None:
    expected = request.cookies.get(SIGN_IN_COOKIE) or ""
    if len(expected) < 32 or not hmac.compare_digest(expected, posted):
        raise HTTPException(403, "the sign-in form has expired; reload the page and sign in again")


def safe_next(path: str | None) -> str:
    """Where to go after signing in: only one of our own pages (never another site)."""
    if not path:
        return PREFIX + "/"
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX + "/") or "\\" in path:
        return PREFIX + "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


def signed_in(request: Request, svc: ServicesDep) -> WebSessionRecord:
    """The person signed in on this browser, or a redirect to the sign-in page."""
    token = request.cookies.get(SESSION_COOKIE)
    found = resume_session(svc.db, svc.clock, token) if token else None
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target if request.method == "GET" else PREFIX + "/")
    request.state.web_session = found
    return found


SignedIn = Annotated[WebSessionRecord, Depends(signed_in)]


def check_csrf(request: Request, session: WebSessionRecord, posted: str) -> None:
    """A form post must carry the session's CSRF token, and come from our own origin when the browser says."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise HTTPException(403, "this form was posted from another site")
    if not posted or not hmac.compare_digest(session.csrf_token, posted):
        raise HTTPException(403, "the form has expired; go back, reload the page and submit it again")
