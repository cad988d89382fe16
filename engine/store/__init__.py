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
]
