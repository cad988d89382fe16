"""Who is signed in to the pages, and the CSRF check on every form they post.

The session cookie carries only a random token (HttpOnly, SameSite=Lax, Secure when the page was served over
HTTPS, scoped to the pages' path); the engine keeps its digest and the session's CSRF token. Every form carries that
CSRF token in a hidden field, and a post without the right one changes nothing. The sign-in form, which comes before
any session, uses a double-submit cookie instead.

A form posted after its session ended cannot be checked against the session, so it is carried through a new
sign-in only with proof that this browser was shown it, for the person who signs in: each form of a signed-in page
holds a form proof, an HMAC of the browser's own cookie (random, HttpOnly, SameSite=Strict, unreadable from another
site) and the person's user id. A post forged elsewhere has no valid proof and is dropped, as is another person's
form left open on a shared device.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, Response

from api.deps import ServicesDep
from engine import WebSessionRecord, resume_session

PREFIX = "/ui"
SESSION_COOKIE = "posc_session"
SIGN_IN_COOKIE = "posc_sign_in"
BROWSER_COOKIE = "posc_browser"
#: The browser cookie outlives sessions (it proves where a form was shown, not who is signed in).
BROWSER_COOKIE_AGE = timedelta(days=400)
#: The hidden field that carries a form's proof.
FORM_PROOF = "form_proof"


#: Forms whose submission survives a session that ended while they were being filled in (see `resumable`).
_RESUMABLE = re.compile(rf"^{PREFIX}/cases/(?:new|[A-Z0-9-]{{1,32}}/actions/[a-z][a-z0-9_]{{0,63}})$")


class SignInRequired(Exception):
    """The page needs a signed-in person: a GET is redirected to the sign-in page; the post of a long form is
    answered with the sign-in page, carrying what was typed so that it can be submitted after signing in."""

    def __init__(self, next_path: str, resume: bool = False) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.resume = resume


def resumable(path: str) -> bool:
    """Whether `path` is a form worth carrying through a new sign-in (opening a case, taking an action)."""
    return bool(_RESUMABLE.match(path))


def secure(request: Request) -> bool:
    """Cookies are `Secure` over HTTPS, and always when `POSC_SECURE_COOKIES` says (behind a TLS proxy)."""
    return request.url.scheme == "https" or bool(request.app.state.services.settings.secure_cookies)


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    # No Max-Age: the cookie ends with the browser (a shared ward tablet); the server ends the session anyway
    # after `IDLE` or `LIFETIME`.
    response.set_cookie(SESSION_COOKIE, token, path=PREFIX, httponly=True, samesite="lax", secure=secure(request))


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
    if len(expected) < 32 or not _same(expected, posted):
        raise HTTPException(403, "the sign-in form has expired; reload the page and sign in again")


def browser_token(request: Request) -> str | None:
    """This browser's own random token (its `posc_browser` cookie), if it has a well-formed one."""
    token = request.cookies.get(BROWSER_COOKIE) or ""
    return token if 32 <= len(token) <= 100 else None


def remember_browser(response: Response, request: Request, token: str) -> None:
    """Gives the browser its token (`browser_token`, or a new one) at sign-in, for another `BROWSER_COOKIE_AGE`."""
    response.set_cookie(
        BROWSER_COOKIE, token, max_age=int(BROWSER_COOKIE_AGE.total_seconds()), path=PREFIX, httponly=True,
        samesite="strict", secure=secure(request),
    )


def form_proof(request: Request, user_id: str, token: str | None = None) -> str:
    """The proof a form shown to `user_id` on this browser carries (empty if the browser has no token)."""
    token = token or browser_token(request)
    if not token:
        return ""
    return f"{user_id}.{_mac(request, token, user_id)}"


def proven_user(request: Request, proof: str) -> str | None:
    """The user a posted form proof was made for, if it was made on this browser (by this process's key)."""
    token = browser_token(request)
    user_id, _, mac = proof.partition(".")
    if not token or not user_id or len(proof) > 200:
        return None
    return user_id if _same(_mac(request, token, user_id), mac) else None


def _same(expected: str, posted: str) -> bool:
    """Constant-time comparison of a secret with what was posted (any text: `compare_digest` takes only ASCII
    strings, so both are compared as UTF-8 bytes)."""
    return hmac.compare_digest(expected.encode(), posted.encode())


_KEY_LOCK = threading.Lock()


def _mac(request: Request, token: str, user_id: str) -> str:
    message = b"\0".join((b"posc form proof", token.encode(), user_id.encode()))
    return hmac.new(_proof_key(request), message, hashlib.sha256).hexdigest()


def _proof_key(request: Request) -> bytes:
    """`POSC_FORM_PROOF_KEY`, or one made for this application when it first needs it."""
    configured = request.app.state.services.settings.form_proof_key
    if configured is not None:
        return str(configured.get_secret_value()).encode()
    state = request.app.state
    with _KEY_LOCK:
        if getattr(state, "form_proof_key", None) is None:
            state.form_proof_key = secrets.token_bytes(32)
        key: bytes = state.form_proof_key
    return key


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
        if request.method == "GET":
            raise SignInRequired(target)
        raise SignInRequired(request.url.path if resumable(request.url.path) else PREFIX + "/",
                             resume=resumable(request.url.path))
    request.state.web_session = found
    return found


SignedIn = Annotated[WebSessionRecord, Depends(signed_in)]


def check_csrf(request: Request, session: WebSessionRecord, posted: str) -> None:
    """A form post must carry the session's CSRF token, and come from our own origin when the browser says."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise HTTPException(403, "this form was posted from another site")
    if not posted or not _same(session.csrf_token, posted):
        raise HTTPException(403, "the form has expired; go back, reload the page and submit it again")
