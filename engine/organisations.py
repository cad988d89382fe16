"""Organisations: the agencies, providers and hospitals that take part. Form fields of type organisation name them
by id (a slug such as `county-cps`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select

from engine.clock import Clock
from engine.definitions.forms import ORGANISATION_ID
from engine.errors import FieldError, InvalidForm
from engine.store.database import Database
from engine.store.tables import Organisation

ORGANISATIONS = Organisation.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OrganisationRecord:
    id: str
    name: str
    contact: str | None = None


def ensure_organisation(
    db: Database, clock: Clock, org_id: str, name: str | None = None, contact: str | None = None
) -> OrganisationRecord:
    """Creates the organisation if it is new; returns it either way."""
    if not ORGANISATION_ID.fullmatch(org_id):
        raise InvalidForm("organisation", [FieldError("org", "must be a slug: lowercase letters, digits, hyphens")])
    with db.write() as conn:
        row = conn.execute(select(ORGANISATIONS).where(ORGANISATIONS.c.id == org_id)).mappings().first()
        if row is not None:
            return OrganisationRecord(row["id"], row["name"], row["contact"])
        conn.execute(insert(ORGANISATIONS).values(
            id=org_id, name=name or org_id, contact=contact, created_at=clock.now()
        ))
    return OrganisationRecord(org_id, name or org_id, contact)


def list_organisations(db: Database) -> list[OrganisationRecord]:
    """Every organisation, by name (for choosing one on a form)."""
    with db.read() as conn:
        rows = conn.execute(select(ORGANISATIONS).order_by(ORGANISATIONS.c.name, ORGANISATIONS.c.id)).mappings()
        return [OrganisationRecord(r["id"], r["name"], r["contact"]) for r in rows]
