"""Organisations: the agencies, providers and hospitals that take part. Form fields of type organisation name them
by id (a slug such as `county-cps`).

Every organisation has a kind (`ORGANISATION_KINDS`), set when it is created and never changed: a form field
accepts only organisations of the kinds it declares, and a user's role must suit its organisation's kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, RowMapping, bindparam, insert, select

from engine.clock import Clock
from engine.definitions.forms import ORGANISATION_ID, ORGANISATION_KINDS, PARTY_KINDS
from engine.errors import FieldError, InvalidForm
from engine.store.database import Database
from engine.store.tables import Organisation

__all__ = [
    "ORGANISATION_KINDS",
    "PARTY_KINDS",
    "OrganisationRecord",
    "ensure_organisation",
    "find_organisation",
    "kinds_of",
    "list_organisations",
]

ORGANISATIONS = Organisation.__table__  # type: ignore[attr-defined]
_BY_ID = select(ORGANISATIONS).where(ORGANISATIONS.c.id == bindparam("b_id"))
_KINDS = select(ORGANISATIONS.c.id, ORGANISATIONS.c.kind).where(
    ORGANISATIONS.c.id.in_(bindparam("b_ids", expanding=True))
)
_BY_NAME = select(ORGANISATIONS).order_by(ORGANISATIONS.c.name, ORGANISATIONS.c.id)


@dataclass(frozen=True)
class OrganisationRecord:
    id: str
    name: str
    contact: str | None = None
    kind: str = "prenatal"


def _record(row: RowMapping) -> OrganisationRecord:
    return OrganisationRecord(row["id"], row["name"], row["contact"], row["kind"])


def kind_problem(org_id: str, kind: str | None, existing: OrganisationRecord | None) -> FieldError | None:
    """Why `kind` cannot be the kind of organisation `org_id` (None when it can, or when it is not given for an
    existing organisation)."""
    if kind is None:
        if existing is None:
            return FieldError("org_kind", f"is required for a new organisation: one of {', '.join(ORGANISATION_KINDS)}")
        return None
    if kind not in ORGANISATION_KINDS:
        return FieldError("org_kind", f"unknown organisation kind {kind!r}: one of {', '.join(ORGANISATION_KINDS)}")
    if existing is not None and existing.kind != kind:
        return FieldError(
            "org_kind", f"the organisation {org_id} is already of kind {existing.kind}; an organisation's kind never "
            "changes"
        )
    return None


def ensure_organisation(
    db: Database, clock: Clock, org_id: str, name: str | None = None, contact: str | None = None,
    kind: str | None = None,
) -> OrganisationRecord:
    """Creates the organisation if it is new (a new one needs its `kind`); returns it either way. A `kind` that
    contradicts an existing organisation's kind is refused: kinds never change."""
    if not ORGANISATION_ID.fullmatch(org_id) or len(org_id) > 64:
        raise InvalidForm("organisation", [FieldError(
            "org", "must be a slug of at most 64 characters: lowercase letters, digits, hyphens")])
    for field, value in (("name", name), ("contact", contact)):
        if value is not None and (len(value) > 200 or not value.isprintable()):
            raise InvalidForm("organisation", [FieldError(
                field, "must be at most 200 printable characters (no line breaks or control characters)")])
    with db.write() as conn:
        row = conn.execute(_BY_ID, {"b_id": org_id}).mappings().first()
        existing = _record(row) if row is not None else None
        problem = kind_problem(org_id, kind, existing)
        if problem is not None:
            raise InvalidForm("organisation", [problem])
        if existing is not None:
            return existing
        assert kind is not None  # kind_problem refuses a new organisation without one
        conn.execute(insert(ORGANISATIONS).values(
            id=org_id, name=name or org_id, contact=contact, kind=kind, created_at=clock.now()
        ))
    return OrganisationRecord(org_id, name or org_id, contact, kind)


def find_organisation(db: Database, org_id: str) -> OrganisationRecord | None:
    """The organisation, or None if there is none of that id."""
    with db.read() as conn:
        row = conn.execute(_BY_ID, {"b_id": org_id}).mappings().first()
    return _record(row) if row is not None else None


def kinds_of(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    """Organisation id → kind, for the ids that name an organisation (unknown ids are left out)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {org: kind for org, kind in conn.execute(_KINDS, {"b_ids": wanted})}


def list_organisations(db: Database, kind: str | Iterable[str] | None = None) -> list[OrganisationRecord]:
    """Every organisation, by name, or those of one kind (or of any of several kinds), for choosing one on a form.
    An unknown kind is refused (`InvalidForm` on `kind`)."""
    kinds = None if kind is None else ({kind} if isinstance(kind, str) else set(kind))
    for unknown in sorted((kinds or set()) - set(ORGANISATION_KINDS)):
        raise InvalidForm("organisations", [
            FieldError("kind", f"unknown organisation kind {unknown!r}: one of {', '.join(ORGANISATION_KINDS)}")
        ])
    statement = _BY_NAME if kinds is None else _BY_NAME.where(ORGANISATIONS.c.kind.in_(sorted(kinds)))
    with db.read() as conn:
        return [_record(row) for row in conn.execute(statement).mappings()]
