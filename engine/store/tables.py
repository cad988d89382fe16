"""The tables, as SQLModel models. They are storage only (table models skip validation): requests are validated
by the compiled forms, and hot paths use SQLAlchemy Core statements on these tables."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.store.types import UTCDateTime


def _time(nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json() -> Any:
    return Field(sa_column=Column(JSON, nullable=False))


class Organisation(SQLModel, table=True):
    __tablename__ = "organisations"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    #: How partners reach the organisation (a duty line, a shared mailbox): the "lead CPS contact".
    contact: str | None = Field(default=None, max_length=200)
    #: What the organisation is (`engine.organisations.ORGANISATION_KINDS`); set on creation, never changed.
    kind: str = Field(max_length=16)
    created_at: datetime = _time()


class Case(SQLModel, table=True):
    """The current state of a case: a cache of the fold of its events, written in the same transaction."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_lookup", "lookup_key"),
        Index("ix_cases_state", "state"),
    )

    id: str = Field(primary_key=True, max_length=32)
    workflow_id: str = Field(max_length=64)
    workflow_version: int
    state: str = Field(max_length=64)
    phase: str = Field(max_length=64)
    #: Number of events; the sequence number of the last one. Optimistic concurrency compares it.
    version: int
    #: The opening form's data, as submitted (tiered by its form definition).
    data: dict[str, Any] = _json()
    #: Values the engine derives from events (recorded facts, plan version, organisations).
    facts: dict[str, Any] = _json()
    #: The organisation playing each party role on the case (workflow `parties`, plus `opened_by`).
    parties: dict[str, str] = _json()
    last_hash: str = Field(max_length=64)
    #: A digest of the workflow's lookup fields (last name, date of birth) for exact lookups by index.
    lookup_key: str | None = Field(default=None, max_length=64)
    opened_at: datetime = _time()
    updated_at: datetime = _time()


class CaseParty(SQLModel, table=True):
    """Which organisation plays which party role on a case: the index behind "cases my organisation may see".

    Each row also carries what the case list filters on, kept with the case row in the same transaction: the case's
    state and phase, and `overdue_from`, the earliest due time of its open or missed deadlines (the case is overdue
    once that time has passed, with no write needed). So every filter of an organisation's list is a range of one
    of these indexes, however many cases the organisation has."""

    __tablename__ = "case_parties"
    __table_args__ = (
        # `?overdue=true`, alone or with a state or a phase, walks one of these in case order (the page's order)
        # and stops at the page's last case. On PostgreSQL each carries `overdue_from`, so the walk never leaves
        # the index (an index-only scan); SQLite reads it from the row.
        Index("ix_case_parties_organisation", "organisation", "case_id", postgresql_include=["overdue_from"]),
        Index("ix_case_parties_state", "organisation", "state", "case_id", postgresql_include=["overdue_from"]),
        Index("ix_case_parties_phase", "organisation", "phase", "case_id", postgresql_include=["overdue_from"]),
    )

    case_id: str = Field(sa_column=Column(String(32), ForeignKey("cases.id"), primary_key=True))
    #: A party role, or `consent:<organisation id>` (organisation ids are up to 64 characters).
    party: str = Field(primary_key=True, max_length=80)
    organisation: str = Field(max_length=64)
    state: str = Field(max_length=64)
    phase: str = Field(max_length=64)
    overdue_from: datetime | None = _time(nullable=True)


class Event(SQLModel, table=True):
    """One thing that happened to a case. Append-only: never updated or deleted (the database refuses too)."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("case_id", "seq", name="uq_events_case_seq"),
        Index("ix_events_action_occurred", "action", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("cases.id"), nullable=False))
    seq: int
    action: str = Field(max_length=64)
    form: str | None = Field(default=None, max_length=64)
    from_state: str | None = Field(default=None, max_length=64)
    to_state: str = Field(max_length=64)
    actor_id: str = Field(max_length=64)
    actor_role: str = Field(max_length=32)
    organisation: str = Field(max_length=64)
    occurred_at: datetime = _time()
    data: dict[str, Any] = _json()
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class Consent(SQLModel, table=True):
    """A universal consent recorded on a case, and its revocation."""

    __tablename__ = "consents"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("cases.id"), nullable=False, index=True))
    event_seq: int
    signed_on: date
    expires_on: date
    organisations: list[str] = _json()
    categories: list[str] = _json()
    revoked_on: date | None = None
    revoked_seq: int | None = None


class Deadline(SQLModel, table=True):
    """One deadline of one case: open, met, missed or cancelled."""

    __tablename__ = "deadlines"
    __table_args__ = (
        Index("ix_deadlines_status_due", "status", "due_at"),
        # A case's open deadlines in due order, and the earliest (`engine.scope`) straight from the index.
        Index("ix_deadlines_case_status_due", "case_id", "status", "due_at"),
        Index("ix_deadlines_owner_status_due", "owner_org", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(sa_column=Column(String(32), ForeignKey("cases.id"), nullable=False))
    name: str = Field(max_length=64)
    status: str = Field(max_length=16)
    opened_at: datetime = _time()
    target_at: datetime = _time()
    due_at: datetime = _time()
    owner_role: str = Field(max_length=32)
    owner_org: str | None = Field(default=None, max_length=64)
    opened_seq: int
    closed_at: datetime | None = _time(nullable=True)
    closed_seq: int | None = None


class User(SQLModel, table=True):
    """A person with one role in one organisation, and the digest of their API key (never the key)."""

    __tablename__ = "users"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    role: str = Field(max_length=32)
    organisation: str = Field(sa_column=Column(String(64), ForeignKey("organisations.id"), nullable=False))
    key_id: str = Field(max_length=32, unique=True)
    key_hash: str = Field(max_length=64)
    created_at: datetime = _time()
    revoked_at: datetime | None = _time(nullable=True)


class AccessLog(SQLModel, table=True):
    """Every read of a case: who, which case, what, at which tier, when (the accounting of disclosures)."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_case_at", "case_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str | None = Field(default=None, max_length=32)
    actor_id: str = Field(max_length=64)
    actor_role: str = Field(max_length=32)
    organisation: str = Field(max_length=64)
    what: str = Field(max_length=32)
    tiers: str = Field(max_length=64)
    at: datetime = _time()


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to a request made with an `Idempotency-Key`, replayed for a repeat of it."""

    __tablename__ = "idempotency_records"

    actor_id: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=200)
    fingerprint: str = Field(max_length=64)
    case_id: str = Field(max_length=32)
    response: dict[str, Any] = _json()
    created_at: datetime = _time()


class WebSession(SQLModel, table=True):
    """A signed-in browser: the digest of its cookie token (never the token), its CSRF token, and its lifetime."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_id"),)

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(sa_column=Column(String(32), ForeignKey("users.id"), nullable=False))
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _time()
    last_seen_at: datetime = _time()
    expires_at: datetime = _time()


class RateWindow(SQLModel, table=True):
    """Calls counted per user in fixed windows of time, shared by every server process (the lookup limit)."""

    __tablename__ = "rate_windows"

    #: What is limited ("lookup").
    name: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(primary_key=True, max_length=64)
    #: The window's number: seconds since the epoch divided by the window's length.
    window: int = Field(primary_key=True)
    calls: int
