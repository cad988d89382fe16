"""Web sessions: a person signs in to the pages once with their API key and the browser then carries a random
session token in a cookie.

Only a SHA-256 digest of the token is stored, beside a CSRF token for the session's forms. A session ends when the
person signs out, after `IDLE` without use, after `LIFETIME` in all, or as soon as their API key is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, select, update

from engine.clock import Clock
from engine.store.database import Database
from engine.store.tables import User, WebSession
from engine.users import UserRecord, authenticate

SESSIONS = WebSession.__table__  # type: ignore[attr-defined]
USERS = User.__table__  # type: ignore[attr-defined]
#: A session unused for this long ends (a shared tablet on a ward left signed in).
IDLE = timedelta(minutes=30)
#: A session ends this long after sign-in, used or not.
LIFETIME = timedelta(hours=12)
#: Recording each use costs a write; a session's last use is recorded at most this often.
_TOUCH_EVERY = timedelta(minutes=1)
_BY_TOKEN = (
    select(SESSIONS, USERS.c.name, USERS.c.role, USERS.c.organisation)
    .join(USERS, USERS.c.id == SESSIONS.c.user_id)
    .where(SESSIONS.c.token_hash == bindparam("b_hash"), USERS.c.revoked_at.is_(None))
)


@dataclass(frozen=True)
class WebSessionRecord:
    user: UserRecord
    csrf_token: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(db: Database, clock: Clock, api_key: str) -> tuple[str, WebSessionRecord] | None:
    """Signs in with an API key: the new session's token (for the cookie) and the session; None for a bad key."""
    user = authenticate(db, api_key)
    if user is None:
        return None
    now = clock.now()
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = now + LIFETIME
    with db.write() as conn:
        # The user's ended sessions are no use to anyone: clear them on the way in.
        conn.execute(delete(SESSIONS).where(
            SESSIONS.c.user_id == user.id, (SESSIONS.c.expires_at <= now) | (SESSIONS.c.last_seen_at <= now - IDLE)
        ))
        conn.execute(insert(SESSIONS), {
            "token_hash": _digest(token), "user_id": user.id, "csrf_token": csrf, "created_at": now,
            "last_seen_at": now, "expires_at": expires,
        })
    return token, WebSessionRecord(user, csrf, expires)


def resume_session(db: Database, clock: Clock, token: str) -> WebSessionRecord | None:
    """The live session a cookie token belongs to, or None (unknown, ended, idle too long, or key revoked)."""
    if not token or len(token) > 100:
        return None
    now = clock.now()
    digest = _digest(token)
    with db.read() as conn:
        row = conn.execute(_BY_TOKEN, {"b_hash": digest}).mappings().first()
    if row is None or row["expires_at"] <= now or row["last_seen_at"] <= now - IDLE:
        return None
    if now - row["last_seen_at"] >= _TOUCH_EVERY:
        with db.write() as conn:
            conn.execute(update(SESSIONS).where(SESSIONS.c.token_hash == digest).values(last_seen_at=now))
    user = UserRecord(row["user_id"], row["name"], row["role"], row["organisation"])
    return WebSessionRecord(user, row["csrf_token"], row["expires_at"])


def end_session(db: Database, token: str) -> None:
    """Signs out: the token stops working at once, from every copy of the cookie."""
    with db.write() as conn:
        conn.execute(delete(SESSIONS).where(SESSIONS.c.token_hash == _digest(token)))
