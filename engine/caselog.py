"""The case log: a case row (the fold of its events, a cache) and its append-only, hash-chained events.

Every write to a case goes through here. `start` writes a new case and its first event (`starting`); `append`
adds one event to a case read with `load(..., for_update=True)`: it hashes the event onto the chain, folds it into
the case row, compares-and-sets the row on its version (a writer that raced this one makes it fail with
`StaleVersion`) and inserts the event. Opening a case, taking an action and the deadline ticker all write this way,
so the chain, the fold and the version check are written once. On PostgreSQL, the statement that writes the case
can make other writes too (`Also`, built by `engine.onewrite`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, bindparam, func, insert, select, true, update

from engine.actor import Actor
from engine.chain import GENESIS, event_hash
from engine.definitions.compiled import CompiledWorkflow
from engine.errors import NotFound, StaleVersion
from engine.fold import Folded, apply, case_values
from engine.store.tables import Case, CaseParty, Event, Organisation

CASES = Case.__table__  # type: ignore[attr-defined]
EVENTS = Event.__table__  # type: ignore[attr-defined]
PARTIES = CaseParty.__table__  # type: ignore[attr-defined]
ORGANISATIONS = Organisation.__table__  # type: ignore[attr-defined]

# Statements on the hot path, built once (building them per call costs more than running them on SQLite).
_SELECT_CASE = select(CASES).where(CASES.c.id == bindparam("b_id"))
_LOCK_CASE = _SELECT_CASE.with_for_update()
#: Columns a read with `lead` adds to the row: the lead organisation's id, name and contact line.
LEAD_ORG, LEAD_NAME, LEAD_CONTACT = "lead_org", "lead_name", "lead_contact"
LEAD_ANSWER_COLUMNS = (LEAD_ORG, LEAD_NAME, LEAD_CONTACT)
_LEAD = PARTIES.alias("lead")
#: The lead organisation's id, name and contact line, from `with_lead`'s joins.
LEAD_COLUMNS = (_LEAD.c.organisation.label(LEAD_ORG), ORGANISATIONS.c.name.label(LEAD_NAME),
                ORGANISATIONS.c.contact.label(LEAD_CONTACT))


def with_lead(source: Any) -> Any:
    """`source` (which holds the case row) joined to the case's lead party (the party `b_lead`) and its
    organisation, for `LEAD_COLUMNS`: every answer shows the lead's contact."""
    return (
        source.outerjoin(_LEAD, and_(_LEAD.c.case_id == CASES.c.id, _LEAD.c.party == bindparam("b_lead")))
        .outerjoin(ORGANISATIONS, ORGANISATIONS.c.id == _LEAD.c.organisation)
    )


#: The case with its lead organisation's contact in one statement.
_SELECT_WITH_LEAD = select(CASES, *LEAD_COLUMNS).select_from(with_lead(CASES)).where(CASES.c.id == bindparam("b_id"))
_LOCK_WITH_LEAD = _SELECT_WITH_LEAD.with_for_update(of=CASES)
_UPDATE_CASE = update(CASES).where(CASES.c.id == bindparam("b_id"), CASES.c.version == bindparam("b_version"))
_INSERT_CASE = insert(CASES)
_INSERT_EVENT = insert(EVENTS)
_EVENTS = select(EVENTS).where(EVENTS.c.case_id == bindparam("b_id")).order_by(EVENTS.c.seq)


@dataclass(frozen=True)
class CaseRecord:
    id: str
    workflow_id: str
    workflow_version: int
    state: str
    phase: str
    version: int
    data: Mapping[str, Any]
    facts: Mapping[str, Any]
    parties: Mapping[str, str]
    opened_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class EventRecord:
    case_id: str
    seq: int
    action: str
    form: str | None
    from_state: str | None
    to_state: str
    actor_id: str
    actor_role: str
    organisation: str
    occurred_at: datetime
    data: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Appended:
    """What one append did: the event's number, the case before and after it, and the rows the statement that wrote
    it answered (`Also.answer`; None when it asked for none)."""

    seq: int
    before: Folded
    after: Folded
    answer: Sequence[RowMapping] | None = None


def load(conn: Connection, case_id: str, *, for_update: bool = False, lead: str | None = None) -> RowMapping:
    """The case row; locked for this transaction with `for_update` (a writer's first read). With `lead` (a party
    role), the row carries that party's organisation and contact too (`LEAD_*`). `NotFound` if none."""
    if lead is None:
        row = conn.execute(_LOCK_CASE if for_update else _SELECT_CASE, {"b_id": case_id}).mappings().first()
    else:
        statement = _LOCK_WITH_LEAD if for_update else _SELECT_WITH_LEAD
        row = conn.execute(statement, {"b_id": case_id, "b_lead": lead}).mappings().first()
    if row is None:
        raise NotFound(f"no case {case_id!r}")
    return row


def events(conn: Connection, case_id: str) -> Sequence[RowMapping]:
    """The case's events, oldest first."""
    return conn.execute(_EVENTS, {"b_id": case_id}).mappings().all()


@dataclass(frozen=True)
class Starting:
    """A new case about to be written (`starting`): its row, its first event and the fold of it."""

    row: dict[str, Any]
    event: dict[str, Any]
    folded: Folded


def starting(
    workflow: CompiledWorkflow, case_id: str, *, action: str, form: str, actor: Actor, now: datetime,
    data: Mapping[str, Any], lookup_key: str | None,
) -> Starting:
    """A new case in the workflow's initial state with its first event (`data` is the opening form's), folded;
    nothing is written."""
    content = _content(case_id, 1, action, form, None, workflow.initial, actor, now, data)
    event = {**content, "prev_hash": GENESIS, "hash": event_hash(GENESIS, content)}
    folded = apply(workflow, Folded(), data, event)
    row = {
        "id": case_id, "workflow_id": workflow.id, "workflow_version": workflow.version,
        "state": folded.state, "phase": folded.phase, "version": folded.version, "data": dict(data),
        "facts": folded.facts, "parties": folded.parties, "last_hash": folded.last_hash,
        "lookup_key": lookup_key, "opened_at": now, "updated_at": now,
    }
    return Starting(row, event, folded)


def start(
    conn: Connection, new: Starting, also: Also | None = None,
) -> tuple[Sequence[RowMapping], dict[str, Any]] | None:
    """Writes a new case and its first event (`starting`). On PostgreSQL with `also`, one statement makes the
    writes `also` too; where `also` has an answer, it returns that answer's rows (as `write`) and the lead
    organisation's id, name and contact (`LEAD_*`: the organisation `b_lead`), read in the same statement."""
    if also is None:
        conn.execute(_INSERT_CASE, new.row)
        conn.execute(_INSERT_EVENT, new.event)
        return None
    if conn.dialect.name != "postgresql":
        raise ValueError("only PostgreSQL makes other writes in the statement that starts a case")
    params = {**{f"n_{k}": v for k, v in new.row.items()}, **{f"e_{k}": v for k, v in new.event.items()},
              **also.params}
    if also.answer is None:
        conn.execute(_start_and_insert(also.ctes), params)
        return None
    rows = conn.execute(_start_and_insert(also.ctes, also.answer, also.order_by), params).mappings().all()
    # With nothing to answer, the outer join leaves one row of nulls but for the lead's columns.
    return [row for row in rows if row[also.order_by] is not None], {k: rows[0][k] for k in LEAD_ANSWER_COLUMNS}


@dataclass(frozen=True)
class Appending:
    """An event about to be appended (`prepare`): what it is, the case before and after it, and the case row's
    new values with its compare-and-set (`b_id`, `b_version`)."""

    event: dict[str, Any]
    before: Folded
    after: Folded
    changes: dict[str, Any]

    @property
    def seq(self) -> int:
        return int(self.event["seq"])


@dataclass(frozen=True)
class Also:
    """PostgreSQL: more writes to make in the statement that moves the case (`write`): data-modifying CTEs, built
    once per shape by the caller (the tuple is part of the statement's cache key), and their parameters."""

    ctes: tuple[Any, ...]
    params: Mapping[str, Any]
    #: A CTE among `ctes` whose rows the statement answers with, ordered by its `order_by` column (never null).
    answer: Any = None
    order_by: str = ""


def prepare(
    workflow: CompiledWorkflow, row: Mapping[Any, Any], *, action: str, form: str | None, to_state: str, actor: Actor,
    now: datetime, data: Mapping[str, Any], rekey: Callable[[Mapping[str, Any]], str | None] | None = None,
) -> Appending:
    """The next event of the case `row` (read for update in this transaction), hashed onto its chain, and the case
    folded with it; nothing is written. With `rekey`, the case's lookup digest is recomputed from its values after
    the event (a corrected name)."""
    seq = row["version"] + 1
    content = _content(row["id"], seq, action, form, row["state"], to_state, actor, now, data)
    event = {**content, "prev_hash": row["last_hash"], "hash": event_hash(row["last_hash"], content)}
    before = Folded(row["state"], row["phase"], row["version"], row["facts"], row["parties"], row["last_hash"])
    after = apply(workflow, before, row["data"], event)
    changes = {
        "b_id": row["id"], "b_version": row["version"], "state": after.state, "phase": after.phase,
        "version": after.version, "facts": after.facts, "parties": after.parties, "last_hash": after.last_hash,
        "updated_at": now,
    }
    if rekey is not None:
        changes["lookup_key"] = rekey(case_values(row["data"], after.facts))
    return Appending(event, before, after, changes)


def write(conn: Connection, appending: Appending, also: Also | None = None) -> Appended:
    """Writes a prepared event: compares-and-sets the case row on its version (`StaleVersion` if another writer
    moved it) and inserts the event. On PostgreSQL this is one statement, which makes the writes `also` too (they
    roll back with the transaction when the version moved)."""
    changes, event = appending.changes, appending.event
    rekeyed = "lookup_key" in changes
    if conn.dialect.name == "postgresql":  # one round trip: the event is inserted only if the row moved
        # Parameters never named after a column: SQLAlchemy would add such a key to every UPDATE's SET clause.
        params = {**{k if k.startswith("b_") else f"m_{k}": v for k, v in changes.items()},
                  **{f"e_{k}": v for k, v in event.items()}, **(also.params if also else {})}
        if also is not None and also.answer is not None:
            statement = _move_and_insert(rekeyed, also.ctes, also.answer, also.order_by)
            rows = conn.execute(statement, params).mappings().all()
            if not rows or rows[0]["written"] != 1:
                raise StaleVersion(f"case {changes['b_id']} changed while this action was being taken")
            # With nothing to answer, the outer join leaves one row of nulls: `order_by` names a column never null.
            answer = [row for row in rows if row[also.order_by] is not None]
            return Appended(appending.seq, appending.before, appending.after, answer)
        moved = conn.execute(_move_and_insert(rekeyed, also.ctes if also else ()), params)
    else:
        if also is not None:
            raise ValueError("only PostgreSQL makes other writes in the statement that moves the case")
        moved = conn.execute(_UPDATE_CASE, changes)
        if moved.rowcount == 1:
            conn.execute(_INSERT_EVENT, event)
    if moved.rowcount != 1:
        raise StaleVersion(f"case {changes['b_id']} changed while this action was being taken")
    return Appended(appending.seq, appending.before, appending.after)


def append(
    conn: Connection, workflow: CompiledWorkflow, row: Mapping[Any, Any], *, action: str, form: str | None,
    to_state: str, actor: Actor, now: datetime, data: Mapping[str, Any],
    rekey: Callable[[Mapping[str, Any]], str | None] | None = None,
) -> Appended:
    """Appends one event to the case `row` (read for update in this transaction) and folds it into the row
    (`prepare`, then `write`)."""
    return write(conn, prepare(
        workflow, row, action=action, form=form, to_state=to_state, actor=actor, now=now, data=data, rekey=rekey,
    ))


_CASE_CHANGES = ("state", "phase", "version", "facts", "parties", "last_hash", "updated_at")
_EVENT_COLUMNS = [c.name for c in EVENTS.c if c.name != "id"]


_CASE_COLUMNS = [c.name for c in CASES.c]
#: PostgreSQL: the lead organisation's id, name and contact, for a statement's answer (`b_lead`).
_LEAD_ANSWER = (
    bindparam("b_lead", type_=ORGANISATIONS.c.id.type).label(LEAD_ORG),
    select(ORGANISATIONS.c.name).where(ORGANISATIONS.c.id == bindparam("b_lead")).scalar_subquery().label(LEAD_NAME),
    select(ORGANISATIONS.c.contact).where(ORGANISATIONS.c.id == bindparam("b_lead"))
    .scalar_subquery().label(LEAD_CONTACT),
)


@cache
def _move_and_insert(rekeyed: bool, also: tuple[Any, ...] = (), answer: Any = None, order_by: str = "") -> Any:
    """PostgreSQL: compare-and-set the case row and insert the event in one statement (a data-modifying CTE), with
    the data-modifying CTEs `also`. The insert selects from the updated row, so it inserts nothing, and reports no
    row, when the version moved on. With `answer` (a CTE), the statement answers with its rows, ordered by
    `order_by`, each with `written` (1 if the event was inserted; one row with no answer columns if there is
    none)."""
    columns = [*_CASE_CHANGES, "lookup_key"] if rekeyed else list(_CASE_CHANGES)
    moved = (
        update(CASES)
        .where(CASES.c.id == bindparam("b_id"), CASES.c.version == bindparam("b_version"))
        .values({c: bindparam(f"m_{c}", type_=CASES.c[c].type) for c in columns})
        .returning(CASES.c.id)
        .cte("moved")
    )
    return _event_after(moved, also, answer, order_by)


@cache
def _start_and_insert(also: tuple[Any, ...], answer: Any = None, order_by: str = "") -> Any:
    """PostgreSQL: insert a new case row (`n_<column>`) and its first event in one statement, with the
    data-modifying CTEs `also`; with `answer`, as `_move_and_insert`, each row with the lead's contact too."""
    started = (
        insert(CASES).values({c: bindparam(f"n_{c}", type_=CASES.c[c].type) for c in _CASE_COLUMNS})
        .returning(CASES.c.id).cte("started")
    )
    return _event_after(started, also, answer, order_by, _LEAD_ANSWER)


def _event_after(
    made: Any, also: tuple[Any, ...], answer: Any, order_by: str, extra: tuple[Any, ...] = (),
) -> Any:
    """The event insert (`e_<column>`) selecting from `made` (the case row written, a CTE), with `also`; with
    `answer`, the statement that answers (see `_move_and_insert`), with the `extra` columns on each row."""
    values = select(*(bindparam(f"e_{c}", type_=EVENTS.c[c].type) for c in _EVENT_COLUMNS)).select_from(made)
    # An INSERT's row count is kept only on request (SQLAlchemy reports it reliably for UPDATE and DELETE).
    if answer is not None:
        inserted = insert(EVENTS).from_select(_EVENT_COLUMNS, values).returning(EVENTS.c.seq).cte("inserted")
        written = select(func.count().label("written")).select_from(inserted).subquery("written")
        return (
            select(written.c.written, *answer.c, *extra).select_from(written.outerjoin(answer, true()))
            .order_by(answer.c[order_by]).add_cte(*also)
        )
    statement = insert(EVENTS).from_select(_EVENT_COLUMNS, values).execution_options(preserve_rowcount=True)
    return statement.add_cte(*also) if also else statement


def case_record(row: Mapping[Any, Any]) -> CaseRecord:
    return CaseRecord(**{k: row[k] for k in CaseRecord.__dataclass_fields__})


def event_fields(row: Mapping[Any, Any]) -> dict[str, Any]:
    """An event row's fields, without the storage id (what the chain and the fold read)."""
    return {k: row[k] for k in EventRecord.__dataclass_fields__}


def event_record(row: Mapping[Any, Any]) -> EventRecord:
    return EventRecord(**event_fields(row))


def record_from(
    case_id: str, workflow: CompiledWorkflow, data: Mapping[str, Any], folded: Folded, opened_at: datetime,
    updated_at: datetime,
) -> CaseRecord:
    """The case record as a write left it, without reading it back."""
    return CaseRecord(
        id=case_id, workflow_id=workflow.id, workflow_version=workflow.version, state=folded.state,
        phase=folded.phase, version=folded.version, data=data, facts=folded.facts, parties=folded.parties,
        opened_at=opened_at, updated_at=updated_at,
    )


def _content(
    case_id: str, seq: int, action: str, form: str | None, from_state: str | None, to_state: str, actor: Actor,
    now: datetime, data: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "case_id": case_id, "seq": seq, "action": action, "form": form, "from_state": from_state,
        "to_state": to_state, "actor_id": actor.id, "actor_role": actor.role, "organisation": actor.organisation,
        "occurred_at": now, "data": dict(data),
    }
