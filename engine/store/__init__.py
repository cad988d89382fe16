"""Persistence: tables, the database wrapper, column types."""

from engine.store.database import Database, SchemaOutOfDate
from engine.store.tables import Case, CaseParty, Consent, Deadline, Event, Organisation

__all__ = ["Case", "CaseParty", "Consent", "Database", "Deadline", "Event", "Organisation", "SchemaOutOfDate"]
