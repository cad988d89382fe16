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

from sqlalchemy import Boolean, Connection, Update, bindparam, func, or_, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite

from engine.deadlines import DEADLINES, OPEN
from engine.store.tables import CaseParty

PARTIES = CaseParty.__table__  # type: ignore[attr-defined]


def _overdue_from(organisation: Any, sees_all: Any, source: Any = None) -> Any:
    """The earliest due time of the case's open work `organisation` may see (`sees_all`: it leads the case). The
    open work is the case's open deadlines (`b_case`), or `source` (due_at and owner_org of each open item) where a
    statement computes them as they will be."""
    if source is None:
        return (
            select(func.min(DEADLINES.c.due_at))
            .where(DEADLINES.c.case_id == bindparam("b_case"), DEADLINES.c.status == OPEN,
                   or_(DEADLINES.c.owner_org == organisation, sees_all))
            .scalar_subquery()
        )
    return select(func.min(source.c.due_at)).where(or_(source.c.owner_org == organisation, sees_all)).scalar_subquery()


@cache
def refresh_statement(state: bool, phase: bool, overdue: bool, source: Any = None, kept: int = 0) -> Update:
    """Brings the case's party rows up to date in what may have changed: the `state`, the `phase`, the `overdue`
    time (from `source`, as `_overdue_from`). Only those columns are set, and only on rows where one differs: every
    column set rewrites its indexes, and a case has a row per party and per organisation its consent covers (about
    ten), so writing what did not change was most of a state change's cost on SQLite. `kept` parties
    (`p_party_<i>`) are left alone (written whole in the same statement). Each combination is built once (building
    costs more than running on SQLite)."""
    due = _overdue_from(PARTIES.c.organisation, PARTIES.c.organisation == bindparam("b_lead"), source)
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
    rows = [PARTIES.c.case_id == bindparam("b_case"), or_(*differs)]
    if kept:
        rows.append(PARTIES.c.party.not_in([bindparam(f"p_party_{i}") for i in range(kept)]))
    return update(PARTIES).where(*rows).values(**values)


def _upsert(dialect: Any) -> Any:
    upsert = dialect.insert(PARTIES).values(
        case_id=bindparam("b_case"), party=bindparam("b_party"), organisation=bindparam("b_org"),
        state=bindparam("b_state"), phase=bindparam("b_phase"),
        overdue_from=_overdue_from(bindparam("b_org"), bindparam("b_all", type_=Boolean)),
    )
    return _on_conflict_update(upsert)


def _on_conflict_update(upsert: Any) -> Any:
    return upsert.on_conflict_do_update(index_elements=["case_id", "party"], set_={
        column: upsert.excluded[column] for column in ("organisation", "state", "phase", "overdue_from")
    })


#: The party upsert per dialect: [SQLite, PostgreSQL].
_UPSERT = (_upsert(sqlite), _upsert(postgresql))


@cache
def upsert_statement(count: int, source: Any) -> Any:
    """PostgreSQL: upserts `count` party rows in one statement (`p_party_<i>`, `p_org_<i>`, `p_all_<i>`; the case's
    `b_case`, `b_state`, `b_phase`), their overdue times from `source` (as `_overdue_from`)."""
    columns = ("case_id", "party", "organisation", "state", "phase", "overdue_from")
    def typed(name: str, column: str) -> Any:  # a parameter used twice must have one type
        return bindparam(name, type_=PARTIES.c[column].type)

    rows = [
        select(typed("b_case", "case_id"), typed(f"p_party_{i}", "party"), typed(f"p_org_{i}", "organisation"),
               typed("b_state", "state"), typed("b_phase", "phase"),
               _overdue_from(typed(f"p_org_{i}", "organisation"), bindparam(f"p_all_{i}", type_=Boolean), source))
        for i in range(count)
    ]
    # From a SELECT of parameters: a multi-row VALUES would be compiled afresh at every execution.
    source_rows = union_all(*rows) if count > 1 else rows[0]
    return _on_conflict_update(postgresql.insert(PARTIES).from_select(columns, source_rows))


def changed_parties(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, str]:
    """The parties added or reassigned from `before` to `after` (parties are never removed here): party → org."""
    return {p: org for p, org in after.items() if before.get(p) != org}


def write_parties(
    conn: Connection, case_id: str, parties: Mapping[str, str], *, state: str, phase: str, lead: str | None,
) -> None:
    """Upserts the `parties` (party → organisation: added or reassigned), each row whole: the case's `state` and
    `phase`, and its overdue time as the deadlines are when it runs (`lead`: the organisation leading the case).
    Written before the deadlines of the same event, a row is brought up to date by the `refresh` that follows."""
    rows = [
        {"b_case": case_id, "b_party": p, "b_org": org, "b_state": state, "b_phase": phase, "b_all": org == lead}
        for p, org in parties.items()
    ]
    if rows:
        conn.execute(_UPSERT[conn.dialect.name == "postgresql"], rows)


def refresh(
    conn: Connection, case_id: str, *, state: str, phase: str, lead: str | None, state_moved: bool = True,
    phase_moved: bool = True, deadlines_moved: bool = True,
) -> None:
    """Brings every party row of the case up to date after a change of state (`state_moved`) or phase
    (`phase_moved`), or of the open deadlines, their due times or owners, or of the lead (`deadlines_moved`): rows
    already right are not written."""
    if state_moved or phase_moved or deadlines_moved:
        conn.execute(refresh_statement(state_moved, phase_moved, deadlines_moved),
                     {"b_case": case_id, "b_state": state, "b_phase": phase, "b_lead": lead})
