"""The pathway's clock: deadlines that passed their due time are marked missed, once.

Each missed deadline gets a `deadline_missed` event on its case (by the `system` actor, hash-chained like every
event, state unchanged) and an escalation item on the lead organisation's worklist. Running the tick again does
nothing more. Any number of tickers (server processes, `posc tick` runs) may tick the same database at once: each
case is ticked in a transaction that locks its row before touching its deadlines, as actions do, so no two
transactions wait for each other in a circle and no deadline is processed twice; on SQLite, writers are serialised.
Overdue is computed when read, so a stopped worker never hides overdue work: the tick only records misses and
escalates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from engine import caselog, scope
from engine.actor import Actor
from engine.deadlines import DEADLINES, ESCALATION_PREFIX, MISSED, OPEN
from engine.definitions.catalogue import Catalogue
from engine.definitions.vocabulary import MISSED_EVENT
from engine.store.database import Database

#: How far past the real time a tick may be asked to run (`posc tick --now`) without `--allow-future`: clocks of two
#: machines that differ a little, a time typed a minute ahead. Anything later would record missed deadlines as
#: events dated in the future, on a live database, and mark deadlines missed that are not yet.
FUTURE_TOLERANCE = timedelta(minutes=5)
_DUE_ROWS = (DEADLINES.c.status == OPEN, DEADLINES.c.due_at < bindparam("b_now"),
             DEADLINES.c.name.not_like(f"{ESCALATION_PREFIX}%"))
#: Deadlines past due, the most overdue first (a range of the (status, due_at) index; their cases are then ticked).
_DUE = (
    select(DEADLINES.c.case_id)
    .where(*_DUE_ROWS)
    .order_by(DEADLINES.c.due_at, DEADLINES.c.id)
    .limit(bindparam("b_batch"))
)
#: One case's deadlines past due, read once its row is locked.
_DUE_OF_CASE = (
    select(DEADLINES.c.id, DEADLINES.c.case_id, DEADLINES.c.name, DEADLINES.c.target_at, DEADLINES.c.due_at,
           DEADLINES.c.owner_org)
    .where(DEADLINES.c.case_id == bindparam("b_case"), *_DUE_ROWS)
    .order_by(DEADLINES.c.due_at, DEADLINES.c.id)
)
_NEXT_DUE = (
    select(func.min(DEADLINES.c.due_at))
    .where(DEADLINES.c.status == OPEN, DEADLINES.c.due_at < bindparam("b_before"),
           DEADLINES.c.name.not_like(f"{ESCALATION_PREFIX}%"))
)
_MARK_MISSED = (
    update(DEADLINES).where(DEADLINES.c.id == bindparam("b_id"), DEADLINES.c.status == OPEN)
    .values(status=MISSED, closed_at=bindparam("b_now"), closed_seq=bindparam("b_seq"))
)


@dataclass(frozen=True)
class Missed:
    """One deadline marked missed, and where it was escalated."""

    case_id: str
    deadline: str
    due_at: datetime
    escalated_to: str | None


def in_the_future(now: datetime, real: datetime) -> bool:
    """Whether `now` (aware) is later than the real time `real` by more than `FUTURE_TOLERANCE`."""
    return now - real > FUTURE_TOLERANCE


def tick(db: Database, catalogue: Catalogue, now: datetime, *, batch: int = 200) -> list[Missed]:
    """Marks every deadline past its due time as missed: one transaction per case, which locks the case row first
    and then reads and marks its deadlines past due, as every action locks the case before its deadlines. So tickers
    and actions never wait for each other in a circle (no deadlock), and a deadline another ticker marked while this
    one waited for the case is not past due any more when read (no deadline twice)."""
    done: list[Missed] = []
    while True:
        with db.read() as conn:
            due = conn.execute(_DUE, {"b_now": now, "b_batch": batch}).scalars().all()
        marked = 0
        for case_id in dict.fromkeys(due):  # each case once, in the order of its most overdue deadline
            with db.write() as conn:
                case = caselog.load(conn, case_id, for_update=True)
                rows = conn.execute(_DUE_OF_CASE, {"b_case": case_id, "b_now": now}).mappings().all()
                missed = [_miss(conn, catalogue, row, now) for row in rows]
                # Late work another organisation owned is now the lead's (its escalation): their rows follow, once.
                if any(row["owner_org"] != m.escalated_to for row, m in zip(rows, missed, strict=True)):
                    scope.refresh(conn, case_id, state=case["state"], phase=case["phase"],
                                  lead=missed[0].escalated_to, state_moved=False, phase_moved=False)
                done.extend(missed)
                marked += len(missed)
        if len(due) < batch or not marked:
            return done


def next_due(db: Database, before: datetime) -> datetime | None:
    """The earliest due time, before `before`, of a deadline still open (escalations aside): when a tick would
    next mark something missed."""
    with db.read() as conn:
        due: datetime | None = conn.execute(_NEXT_DUE, {"b_before": before}).scalar()
    if due is not None and due.tzinfo is None:
        due = due.replace(tzinfo=UTC)
    return due


def _miss(conn: Connection, catalogue: Catalogue, deadline: Any, now: datetime) -> Missed:
    case = caselog.load(conn, deadline["case_id"], for_update=True)
    workflow = catalogue.workflow(case["workflow_id"], case["workflow_version"])
    data = {"deadline": deadline["name"], "due_at": deadline["due_at"].isoformat()}
    seq = caselog.append(
        conn, workflow, case, action=MISSED_EVENT, form=None, to_state=case["state"], actor=Actor.system(), now=now,
        data=data,
    ).seq
    conn.execute(_MARK_MISSED, {"b_id": deadline["id"], "b_now": now, "b_seq": seq})
    lead = case["parties"].get(workflow.spec.escalate_to)
    # The escalation keeps the missed deadline's times: it is overdue from the start, and sorts by real urgency.
    conn.execute(insert(DEADLINES), {
        "case_id": case["id"], "name": f"{ESCALATION_PREFIX}{deadline['name']}", "status": OPEN, "opened_at": now,
        "target_at": deadline["target_at"], "due_at": deadline["due_at"], "owner_role": workflow.spec.escalate_to,
        "owner_org": lead, "opened_seq": seq,
    })
    return Missed(case["id"], deadline["name"], deadline["due_at"], lead)


_COUNTS = select(
    func.count(), func.count().filter(DEADLINES.c.due_at < bindparam("b_now")),
).where(DEADLINES.c.status == OPEN)


def deadline_counts(db: Database, now: datetime) -> tuple[int, int]:
    """Open deadlines (escalations included) and how many of them are past due, now: for the service's metrics."""
    with db.read() as conn:
        open_count, overdue = conn.execute(_COUNTS, {"b_now": now}).one()
    return int(open_count), int(overdue or 0)
