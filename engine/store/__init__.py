"""Persistence: tables, the database wrapper, column types."""

from engine.store.database import Database, SchemaOutOfDate
from engine.store.tables import (
    AccessLog,
    Case,
    CaseParty,
    Consent,
    Deadline,
    Event,
    IdempotencyRecord,
    Organisation,
    User,
)


def is_empty(db: Database) -> bool:
    """True when the database holds no user and no case (a fresh one the demo may fill)."""
    from sqlalchemy import func, select

    with db.read() as conn:
        users = conn.execute(select(func.count()).select_from(User.__table__)).scalar()  # type: ignore[attr-defined]
        cases = conn.execute(select(func.count()).select_from(Case.__table__)).scalar()  # type: ignore[attr-defined]
    return not users and not cases


__all__ = [
    "AccessLog",
    "Case",
    "CaseParty",
    "Consent",
    "Database",
    "Deadline",
    "Event",
    "IdempotencyRecord",
    "Organisation",
    "SchemaOutOfDate",
    "User",
    "is_empty",
]
