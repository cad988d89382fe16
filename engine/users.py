"""Users and their API keys.

A key is `posc_<key id>_<secret>`: the key id finds the user by index, and only a SHA-256 digest of the secret is
stored (the secret is 256 random bits, so a slow hash adds nothing). Keys are compared in constant time and can be
revoked; a revoked key stops working on the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from engine.actor import ROLES, Actor
from engine.clock import Clock
from engine.errors import FieldError, InvalidForm, NotFound
from engine.organisations import ensure_organisation, find_organisation, kind_problem
from engine.store.database import Database
from engine.store.tables import User

USERS = User.__table__  # type: ignore[attr-defined]
#: The kind of organisation each role belongs to (a case role to its own kind, analysts to the state's office).
ROLE_ORGANISATION_KIND = {
    "cps": "cps", "treatment": "treatment", "peer": "peer", "prenatal": "prenatal", "hospital": "hospital",
    "analyst": "state", "admin": "admin",
}
_BY_KEY_ID = select(USERS).where(USERS.c.key_id == bindparam("b_key_id"))


@dataclass(frozen=True)
class UserRecord:
    id: str
    name: str
    role: str
    organisation: str

    @property
    def actor(self) -> Actor:
        return Actor(self.id, self.role, self.organisation)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_user(
    db: Database, clock: Clock, *, name: str, role: str, organisation: str, organisation_name: str | None = None,
    organisation_kind: str | None = None,
) -> tuple[UserRecord, str]:
    """Creates a user (and the organisation if new); returns the user and the API key, shown only this once.

    A new organisation is of `organisation_kind`, or by default of the kind the role belongs to (`analyst`:
    `state`). The role must suit the organisation's kind, and a kind contradicting an existing organisation's is
    refused; a refused user leaves no new organisation behind."""
    errors = []
    if not name.strip():
        errors.append(FieldError("name", "must not be empty"))
    elif len(name) > 200 or not name.isprintable():
        errors.append(FieldError("name", "must be at most 200 printable characters (no line breaks or control "
                                         "characters)"))
    if role not in ROLES:
        errors.append(FieldError("role", f"must be one of {', '.join(ROLES)}"))
    if errors:
        raise InvalidForm("user", errors)
    existing = find_organisation(db, organisation)
    kind = organisation_kind or (existing.kind if existing is not None else ROLE_ORGANISATION_KIND[role])
    problem = kind_problem(organisation, kind, existing)
    if problem is None and ROLE_ORGANISATION_KIND[role] != kind:
        user, belongs = _a(f"{role} user"), _a(f"{ROLE_ORGANISATION_KIND[role]} organisation")
        problem = FieldError("role", f"{user} cannot belong to {organisation}, {_a(kind)} organisation "
                             f"({user} belongs to {belongs})")
    if problem is not None:
        raise InvalidForm("user", [problem])
    ensure_organisation(db, clock, organisation, organisation_name, kind=kind)
    user_id, key_id, secret = f"u_{secrets.token_hex(8)}", secrets.token_hex(8), secrets.token_urlsafe(32)
    with db.write() as conn:
        conn.execute(insert(USERS), {
            "id": user_id, "name": name.strip(), "role": role, "organisation": organisation, "key_id": key_id,
            "key_hash": _digest(secret), "created_at": clock.now(), "revoked_at": None,
        })
    return UserRecord(user_id, name.strip(), role, organisation), f"posc_{key_id}_{secret}"


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def authenticate(db: Database, api_key: str) -> UserRecord | None:
    """The user an API key belongs to, or None for a malformed, unknown or revoked key."""
    with db.read() as conn:
        return authenticate_in(conn, api_key)


def authenticate_in(conn: Connection, api_key: str) -> UserRecord | None:
    """`authenticate` inside a transaction that is already open (a read that checks the key and answers in one)."""
    parts = key_parts(api_key)
    if parts is None:
        return None
    row = conn.execute(_BY_KEY_ID, {"b_key_id": parts[0]}).mappings().first()
    return key_holder(row, parts[1])


def key_parts(api_key: str) -> tuple[str, str] | None:
    """A key's id (which finds its user by index) and its secret; None for a string that is not a posc key."""
    parts = api_key.split("_", 2)
    if len(parts) != 3 or parts[0] != "posc" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def key_holder(row: Mapping[Any, Any] | None, secret: str, prefix: str = "") -> UserRecord | None:
    """The user whose row was found by the key's id (`row`, its columns named `prefix` + column; None: no such id)
    if `secret` is theirs and the key is not revoked. The same work for an unknown id as for a wrong secret."""
    if row is None:
        hmac.compare_digest(_digest(secret), "0" * 64)
        return None
    if not hmac.compare_digest(_digest(secret), row[f"{prefix}key_hash"]) or row[f"{prefix}revoked_at"] is not None:
        return None
    return UserRecord(row[f"{prefix}id"], row[f"{prefix}name"], row[f"{prefix}role"], row[f"{prefix}organisation"])


def revoke_key(db: Database, clock: Clock, user_id: str) -> None:
    with db.write() as conn:
        done = conn.execute(
            update(USERS).where(USERS.c.id == user_id, USERS.c.revoked_at.is_(None)).values(revoked_at=clock.now())
        )
    if done.rowcount != 1:
        raise NotFound(f"no active user {user_id!r}")


def list_users(db: Database) -> list[UserRecord]:
    with db.read() as conn:
        rows = conn.execute(select(USERS).where(USERS.c.revoked_at.is_(None)).order_by(USERS.c.created_at))
        return [UserRecord(r.id, r.name, r.role, r.organisation) for r in rows]
