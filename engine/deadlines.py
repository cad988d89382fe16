"""Deadlines kept in step with events, inside the action's transaction.

An event may open deadlines (on the action, or on a case date at opening), meet them (the right action, with the
right data), and cancel them (the case left the states they apply in). All of it is done with set-based UPDATEs and
INSERTs, without reading the deadlines first, so taking an action stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, update

from engine.definitions.checks import OPEN_EVENT
from engine.definitions.compiled import CompiledDeadline, CompiledWorkflow, matches
from engine.guards import as_date
from engine.store.tables import Deadline

DEADLINES = Deadline.__table__  # type: ignore[attr-defined]
OPEN, MET, MISSED, CANCELLED = "open", "met", "missed", "cancelled"


def owner_of(workflow: CompiledWorkflow, deadline: CompiledDeadline, parties: Mapping[str, str]) -> str | None:
    return parties.get(deadline.owner) or parties.get(workflow.spec.escalate_to)


def opening_time(
    workflow: CompiledWorkflow, deadline: CompiledDeadline, event: str, to_state: str,
    data: Mapping[str, Any], values: Mapping[str, Any], now: datetime,
) -> datetime | None:
    """When `deadline` opens because of this event, or None if the event does not open it."""
    if to_state not in deadline.applies_in:
        return None
    if deadline.opens_on is not None:
        if deadline.opens_on != event or (deadline.opens_to and to_state not in deadline.opens_to):
            return None
        return now if matches(deadline.opens_when, data) else None
    if event == OPEN_EVENT and deadline.opens_date is not None:
        anchor: date | None = as_date(values.get(deadline.opens_date))
        if anchor is None:
            return None
        return deadline.offset.after(workflow.start_of_day(anchor), workflow.timezone)
    return None


def record_event(
    conn: Connection, workflow: CompiledWorkflow, *, case_id: str, seq: int, event: str, from_state: str | None,
    to_state: str, data: Mapping[str, Any], values: Mapping[str, Any], parties: Mapping[str, str],
    previous_parties: Mapping[str, str], now: datetime,
) -> None:
    """Meets, cancels, opens and re-owns the case's deadlines for one event."""
    open_rows = DEADLINES.c.case_id == case_id, DEADLINES.c.status == OPEN
    closing = {"closed_at": now, "closed_seq": seq}
    for deadline in workflow.deadlines.values():
        for met in deadline.met_by:
            if met.action != event or not matches(met.when, data):
                continue
            condition = and_(*open_rows, DEADLINES.c.name == deadline.name)
            if met.not_before is not None:
                earliest = met.not_before.negated().after(now, workflow.timezone)
                condition = and_(condition, DEADLINES.c.opened_at <= earliest)
            conn.execute(update(DEADLINES).where(condition).values(status=MET, **closing))
            break
    if from_state is not None and to_state != from_state:
        leaving = [d.name for d in workflow.deadlines.values() if to_state not in d.applies_in]
        if leaving:
            conn.execute(
                update(DEADLINES)
                .where(*open_rows, DEADLINES.c.name.in_(leaving))
                .values(status=CANCELLED, **closing)
            )
    for role in {r for r in parties if parties.get(r) != previous_parties.get(r)} if previous_parties else ():
        conn.execute(
            update(DEADLINES).where(*open_rows, DEADLINES.c.owner_role == role).values(owner_org=parties[role])
        )
    rows = []
    for deadline in workflow.deadlines.values():
        opened = opening_time(workflow, deadline, event, to_state, data, values, now)
        if opened is None:
            continue
        rows.append({
            "case_id": case_id, "name": deadline.name, "status": OPEN, "opened_at": opened,
            "target_at": deadline.target.after(opened, workflow.timezone),
            "due_at": deadline.due.after(opened, workflow.timezone), "owner_role": deadline.owner,
            "owner_org": owner_of(workflow, deadline, parties), "opened_seq": seq,
        })
    if rows:
        # A deadline that opens again (a second referral) replaces the one still open.
        conn.execute(
            update(DEADLINES)
            .where(*open_rows, DEADLINES.c.name.in_([r["name"] for r in rows]))
            .values(status=CANCELLED, **closing)
        )
        conn.execute(insert(DEADLINES), rows)
