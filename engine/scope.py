"""The case's party rows (`case_parties`): which organisation plays which part on a case, so which organisations find
it in their case list, and what that list's filters see of it.

Each row carries the case's state and phase and `overdue_from`: the earliest due time of the case's open work that
the row's organisation may see (the deadlines it owns; for the organisation leading the case, all of them, the
escalations of missed ones included, as `Access.sees_deadline` shows them). The case is overdue for that organisation
once that time has passed, with no write needed. The rows are written in the transaction that changes the case, so
every filter of `GET /cases` is a range of an index (`CaseParty`)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import Boolean, Connection, Update, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from engine.deadlines import DEADLINES, OPEN
from engine.store.tables import CaseParty

PARTIES = CaseParty.__table__  # type: ignore[attr-defined]


def _overdue_from(organisation: Any, sees_all: Any) -> Any:
    """The earliest due time of the case's open work `organisation` may see (`sees_all`: it leads the case)."""
    return (
        select(func.min(DEADLINES.c.due_at))
        .where(DEADLINES.c.case_id == bindparam("b_case"), DEADLINES.c.status == OPEN,
               or_(DEADLINES.c.owner_org == organisation, sees_all))
        .scalar_subquery()
    )


@cache
def _refresh(state: bool, phase: bool, overdue: bool) -> Update:
    """Brings the case's party rows up to date in what may have changed: the `state`, the `phase`, the `overdue`
    time. Only those columns are set, and only on rows where one differs: every column set rewrites its indexes,
    and a case has a row per party and per organisation its consent covers (about ten), so writing what did not
    change was most of a state change's cost on SQLite. Each combination is built once (building costs more than
    running on SQLite)."""
    due = _overdue_from(PARTIES.c.organisation, PARTIES.c.organisation == bindparam("b_lead"))
    values: dict[str, Any] = {}
    differs = []
    if state:
        values["state"] = bindparam("b_state")
        differs.append(PARTIES.c.state != bindparam("b_state"))
    if phase:
        values["phase"] = bindparam("b_phase")
        differs.append(PARTIES.c.phase != bindparam("b_phase"))
    if overdue:
        values["overdue_from"] = due
        differs.append(PARTIES.c.overdue_from.is_distinct_from(due))
    return update(PARTIES).where(PARTIES.c.case_id == bindparam("b_case"), or_(*differs)).values(**values)


def _upsert(dialect: Any) -> Any:
    upsert = dialect.insert(PARTIES).values(
        case_id=bindparam("b_case"), party=bindparam("b_party"), organisation=bindparam("b_org"),
        state=bindparam("b_state"), phase=bindparam("b_phase"),
        overdue_from=_overdue_from(bindparam("b_org"), bindparam("b_all", type_=Boolean)),
    )
    return upsert.on_conflict_do_update(index_elements=["case_id", "party"], set_={
        column: upsert.excluded[column] for column in ("organisation", "state", "phase", "overdue_from")
    })


#: The party upsert per dialect: [SQLite, PostgreSQL].
_UPSERT = (_upsert(sqlite), _upsert(postgresql))


def write_parties(
    conn: Connection, case_id: str, before: Mapping[str, str], after: Mapping[str, str], *, state: str, phase: str,
    lead: str | None,
) -> None:
    """Upserts the parties that changed from `before` to `after` (parties are added or reassigned, never removed
    here), each row whole: the case's `state` and `phase`, and its overdue time as the deadlines are now (`lead`: the
    organisation leading the case). Write them after the deadlines of the same event."""
    changed = [
        {"b_case": case_id, "b_party": p, "b_org": after[p], "b_state": state, "b_phase": phase,
         "b_all": after[p] == lead}
        for p in after if before.get(p) != after[p]
    ]
    if changed:
        conn.execute(_UPSERT[conn.dialect.name == "postgresql"], changed)


def refresh(
    conn: Connection, case_id: str, *, state: str, phase: str, lead: str | None, state_moved: bool = True,
    phase_moved: bool = True, deadlines_moved: bool = True,
) -> None:
    """Brings every party row of the case up to date after a change of state (`state_moved`) or phase
    (`phase_moved`), or of the open deadlines, their due times or owners, or of the lead (`deadlines_moved`): rows
    already right are not written."""
    if state_moved or phase_moved or deadlines_moved:
        conn.execute(_refresh(state_moved, phase_moved, deadlines_moved),
                     {"b_case": case_id, "b_state": state, "b_phase": phase, "b_lead": lead})
