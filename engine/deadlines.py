"""Deadlines kept in step with events, inside the action's transaction.

An event may open deadlines (on the action, or on a case date at opening), meet them (the right action, with the
right data), and cancel them (the case left the states they apply in). Deadlines are only ever open in states they
apply in, so the definition alone says which ones an event can touch: the engine issues a statement only for those,
with prebuilt set-based statements and no read first, so taking an action stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Update, bindparam, case, exists, func, insert, or_, select, update

from engine.definitions.compiled import CompiledDeadline, CompiledWorkflow, matches
from engine.definitions.vocabulary import OPEN_EVENT
from engine.guards import as_date
from engine.store.tables import Deadline

DEADLINES = Deadline.__table__  # type: ignore[attr-defined]
OPEN, MET, MISSED, CANCELLED = "open", "met", "missed", "cancelled"
#: An escalation item (a missed deadline, on the lead organisation's worklist) is a deadline row named
#: `escalation:<deadline>`; doing the late work closes it, and so does closing the case.
ESCALATION_PREFIX = "escalation:"

_OPEN_ROWS = (DEADLINES.c.case_id == bindparam("b_case"), DEADLINES.c.status == OPEN)


@cache
def _close_statement(count: int) -> Update:
    """Meets or cancels `count` named deadlines in one statement (`b_name_<i>`, each with its `b_status_<i>`). One
    statement per count, built once: a list parameter would be compiled again at every execution."""
    names: list[Any] = [bindparam(f"b_name_{i}") for i in range(count)]
    return (
        update(DEADLINES)
        .where(*_OPEN_ROWS, DEADLINES.c.name.in_(names))
        .values(
            status=case(*((DEADLINES.c.name == names[i], bindparam(f"b_status_{i}")) for i in range(count)),
                        else_=CANCELLED),
            closed_at=bindparam("b_now"), closed_seq=bindparam("b_seq"),
        )
    )


def _close(conn: Connection, common: Mapping[str, Any], met: list[str], cancelled: list[str]) -> bool:
    """Meets the `met` deadlines and cancels the `cancelled` ones that are open, in one statement; True if it closed
    any."""
    names = [*met, *(n for n in cancelled if n not in met)]
    params = {**common}
    for i, name in enumerate(names):
        params[f"b_name_{i}"], params[f"b_status_{i}"] = name, MET if name in met else CANCELLED
    return _ran(conn, _close_statement(len(names)), params)


@cache
def settle_statement(at: int, closing: int, roles: int) -> Update:
    """One statement for what an event does to the case's open deadlines: meets `at` of them at the time the work
    was done (`b_at_<i>`, `b_done_<i>`; never before the deadline opened), meets or cancels `closing` others now
    (`b_name_<i>`, `b_status_<i>`), and hands the open items of `roles` reassigned parties to their new
    organisations (`b_role_<i>`, `b_org_<i>`; items closed by the same event keep their owner). Built once per
    shape."""
    at_names: list[Any] = [bindparam(f"b_at_{i}") for i in range(at)]
    done: list[Any] = [bindparam(f"b_done_{i}", type_=DEADLINES.c.closed_at.type) for i in range(at)]
    names: list[Any] = [bindparam(f"b_name_{i}") for i in range(closing)]
    role_names: list[Any] = [bindparam(f"b_role_{i}") for i in range(roles)]
    name, opened = DEADLINES.c.name, DEADLINES.c.opened_at
    closed = [*at_names, *names]
    touched = [name.in_(closed)] if closed else []
    if role_names:
        touched.append(DEADLINES.c.owner_role.in_(role_names))
    values: dict[str, Any] = {}
    if closed:
        values["status"] = case(
            *((name == at_names[i], MET) for i in range(at)),
            *((name == names[i], bindparam(f"b_status_{i}")) for i in range(closing)),
            else_=DEADLINES.c.status,
        )
        values["closed_at"] = case(
            *((name == at_names[i], case((opened > done[i], opened), else_=done[i])) for i in range(at)),
            *([(name.in_(names), bindparam("b_now"))] if names else []),
            else_=DEADLINES.c.closed_at,
        )
        values["closed_seq"] = case((name.in_(closed), bindparam("b_seq")), else_=DEADLINES.c.closed_seq)
    if role_names:
        owners: list[tuple[Any, Any]] = [
            (DEADLINES.c.owner_role == role_names[i], bindparam(f"b_org_{i}")) for i in range(roles)
        ]
        values["owner_org"] = case(*([(name.in_(closed), DEADLINES.c.owner_org)] if closed else []), *owners,
                                   else_=DEADLINES.c.owner_org)
    return update(DEADLINES).where(*_OPEN_ROWS, or_(*touched)).values(**values)


#: Moves the clock of an open deadline whose anchor was corrected.
_REANCHOR = (
    update(DEADLINES)
    .where(*_OPEN_ROWS, DEADLINES.c.name == bindparam("b_name"))
    .values(opened_at=bindparam("b_opened"), target_at=bindparam("b_target"), due_at=bindparam("b_due"))
)
_OTHER = DEADLINES.alias("other")
#: The last missed row of a deadline that has no open one (a deadline missed only because of a mistaken date).
_LAST_MISSED = (
    select(func.max(DEADLINES.c.id))
    .where(DEADLINES.c.case_id == bindparam("b_case"), DEADLINES.c.name == bindparam("b_name"),
           DEADLINES.c.status == MISSED)
    .where(~exists().where(_OTHER.c.case_id == bindparam("b_case"), _OTHER.c.name == bindparam("b_name"),
                           _OTHER.c.status == OPEN))
)
#: Moves a missed deadline's clock; open again (`b_again`) when its corrected due time is still ahead.
_REOPEN = (
    update(DEADLINES)
    .where(DEADLINES.c.id == bindparam("b_id"))
    .values(
        opened_at=bindparam("b_opened"), target_at=bindparam("b_target"), due_at=bindparam("b_due"),
        status=bindparam("b_status"),
        closed_at=case((bindparam("b_again"), None), else_=DEADLINES.c.closed_at),
        closed_seq=case((bindparam("b_again"), None), else_=DEADLINES.c.closed_seq),
    )
)
#: Meets one deadline only if it opened early enough (`not_before`).
_MEET_LATE = (
    update(DEADLINES)
    .where(*_OPEN_ROWS, DEADLINES.c.name == bindparam("b_name"), DEADLINES.c.opened_at <= bindparam("b_earliest"))
    .values(status=MET, closed_at=bindparam("b_now"), closed_seq=bindparam("b_seq"))
)
_INSERT = insert(DEADLINES)
_CLOSE_ALL = (
    update(DEADLINES).where(*_OPEN_ROWS)
    .values(status=CANCELLED, closed_at=bindparam("b_now"), closed_seq=bindparam("b_seq"))
)


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
        if not matches(deadline.opens_when, data):
            return None
        if deadline.opens_at is not None:  # the clock starts when it happened, however late it is entered
            return workflow.moment(data.get(deadline.opens_at, values.get(deadline.opens_at))) or now
        return now
    if event == OPEN_EVENT and deadline.opens_date is not None:
        anchor: date | None = as_date(values.get(deadline.opens_date))
        if anchor is None:
            return None
        return deadline.offset.after(workflow.start_of_day(anchor), workflow.timezone)
    return None


@dataclass(frozen=True)
class Work:
    """What one event does to the case's deadlines, worked out from the definition before anything is written
    (`plan`); `run` writes it. The usual event only meets, cancels and re-owns open deadlines and opens new ones
    (`settles`, `rows`), which PostgreSQL can write in the statement that moves the case (`simple`)."""

    common: Mapping[str, Any]
    met_at: Mapping[str, datetime]
    met: list[str]
    cancelled: list[str]
    reowned: Mapping[str, str]
    #: New deadline rows.
    rows: list[dict[str, Any]]
    #: Deadlines met only if they opened early enough: (name, earliest opening).
    met_late: list[tuple[str, datetime]] = field(default_factory=list)
    #: The case closes: nothing stays open.
    close_all: bool = False
    #: Corrected anchors: (deadline, its new opened, target and due times).
    reanchored: list[tuple[str, dict[str, datetime]]] = field(default_factory=list)
    #: Deadlines that open again and replace the one still open.
    reopened: list[str] = field(default_factory=list)

    @property
    def settles(self) -> bool:
        """Whether the settle statement (`settle_statement`) has anything to do."""
        return bool(self.met_at or self.met or self.cancelled or self.reowned)

    @property
    def simple(self) -> bool:
        """Only the settle statement and new rows: nothing that must read, or run in order, first."""
        return not (self.met_late or self.close_all or self.reanchored or self.reopened)

    def settle_shape(self) -> tuple[int, int, int]:
        """The settle statement's shape, for `settle_statement`."""
        return len(self.met_at), len(self.closing()), len(self.reowned)

    def closing(self) -> list[str]:
        return [*self.met, *(n for n in self.cancelled if n not in self.met)]

    def settle_params(self) -> dict[str, Any]:
        """The settle statement's parameters (with `common`)."""
        params = {**self.common}
        for i, (name, done) in enumerate(self.met_at.items()):
            params[f"b_at_{i}"], params[f"b_done_{i}"] = name, done
        for i, name in enumerate(self.closing()):
            params[f"b_name_{i}"], params[f"b_status_{i}"] = name, MET if name in self.met else CANCELLED
        for i, (role, organisation) in enumerate(self.reowned.items()):
            params[f"b_role_{i}"], params[f"b_org_{i}"] = role, organisation
        return params


def plan(
    workflow: CompiledWorkflow, *, case_id: str, seq: int, event: str, from_state: str | None, to_state: str,
    data: Mapping[str, Any], values: Mapping[str, Any], parties: Mapping[str, str],
    previous_parties: Mapping[str, str], now: datetime, previous_values: Mapping[str, Any] | None = None,
) -> Work:
    """What the event does to the case's deadlines: which it meets, cancels, opens, re-anchors and re-owns."""
    common = {"b_case": case_id, "b_now": now, "b_seq": seq}
    # Only deadlines that apply in the state the case is leaving can be open now.
    possibly_open = [d for d in workflow.deadlines.values() if from_state in d.applies_in]
    met: list[str] = []
    met_at: dict[str, datetime] = {}  # met at the time the work was done
    met_late: list[tuple[str, datetime]] = []
    for deadline in possibly_open:
        for rule in deadline.met_by:
            if rule.action != event or not matches(rule.when, data):
                continue
            done = workflow.moment(data.get(rule.at)) if rule.at is not None else None
            if done is not None and rule.not_before is None:
                met_at[deadline.name] = min(done, now)
            elif rule.not_before is None:
                met.append(deadline.name)
            else:
                met_late.append((deadline.name, rule.not_before.negated().after(now, workflow.timezone)))
            break
    cancelled = [
        d.name for d in possibly_open if to_state not in d.applies_in and d.name not in met and d.name not in met_at
    ]
    # Doing the work of a missed deadline, late, settles its escalation.
    met += [f"{ESCALATION_PREFIX}{d.name}" for d in workflow.deadlines.values()
            if any(r.action == event and matches(r.when, data) for r in d.met_by)]
    # Every open item a party owned moves with it (a new lead CPS office takes over its escalations too).
    reowned = {r: parties[r] for r in parties if previous_parties and parties.get(r) != previous_parties.get(r)}
    reanchored = [] if previous_values is None else _reanchors(
        workflow, possibly_open, [*met, *met_at, *cancelled], values, previous_values
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
    # A deadline that opens again (a second referral) replaces the one still open.
    reopened = [str(r["name"]) for r in rows if any(d.name == r["name"] for d in possibly_open)]
    return Work(
        common=common, met_at=met_at, met=met, cancelled=cancelled, reowned=reowned, rows=rows, met_late=met_late,
        close_all=from_state is not None and workflow.is_terminal(to_state), reanchored=reanchored,
        reopened=reopened,
    )


def run(conn: Connection, work: Work) -> bool:
    """Writes `work`, in order. True when the open deadlines, their due times or their owners changed (what the
    case list's `overdue_from` is made of)."""
    common = work.common
    changed = False
    for name, earliest in work.met_late:
        changed |= _ran(conn, _MEET_LATE, {**common, "b_name": name, "b_earliest": earliest})
    if work.settles:  # met, cancelled and re-owned in one statement
        changed |= _ran(conn, settle_statement(*work.settle_shape()), work.settle_params())
    if work.close_all:
        changed |= _ran(conn, _CLOSE_ALL, common)  # a closed case leaves nothing open, escalations included
    for name, clock in work.reanchored:
        changed |= _reanchor(conn, name, clock, common)
    if work.rows:
        if work.reopened:
            _close(conn, common, [], work.reopened)
        conn.execute(_INSERT, work.rows)
    return changed or bool(work.rows)


def _ran(conn: Connection, statement: Any, params: Mapping[str, Any]) -> bool:
    """Runs an update; True if it changed a row."""
    return bool(conn.execute(statement, params).rowcount)


def _reanchors(
    workflow: CompiledWorkflow, possibly_open: list[CompiledDeadline], closed: list[str],
    values: Mapping[str, Any], previous: Mapping[str, Any],
) -> list[tuple[str, dict[str, datetime]]]:
    """A corrected date (identification date, due date) moves the clocks of the deadlines anchored on it: each such
    deadline with its new opened, target and due times."""
    found = []
    for deadline in possibly_open:
        key = deadline.opens_at or deadline.opens_date
        if key is None or deadline.name in closed or values.get(key) == previous.get(key):
            continue
        anchor = workflow.moment(values.get(key))
        if anchor is None:
            continue
        opened = deadline.offset.after(anchor, workflow.timezone) if deadline.opens_date else anchor
        found.append((deadline.name, {
            "b_opened": opened, "b_target": deadline.target.after(opened, workflow.timezone),
            "b_due": deadline.due.after(opened, workflow.timezone),
        }))
    return found


def _reanchor(conn: Connection, name: str, clock: Mapping[str, datetime], common: Mapping[str, Any]) -> bool:
    """Moves the clock of the open deadline `name`, and of one missed only because of the mistaken date: one whose
    corrected due time is still ahead is open again, and its escalation is withdrawn; the `deadline_missed` event
    stays in the history, with the correction after it."""
    moved = _ran(conn, _REANCHOR, {**common, "b_name": name, **clock})
    missed = conn.execute(_LAST_MISSED, {**common, "b_name": name}).scalar()
    if missed is None:
        return moved
    again = clock["b_due"] > common["b_now"]
    conn.execute(_REOPEN, {**clock, "b_id": missed, "b_status": OPEN if again else MISSED, "b_again": again})
    if again:
        _close(conn, common, [], [f"{ESCALATION_PREFIX}{name}"])
    return True
