"""The case's party rows (`case_parties`): which organisation plays which part on a case, so which organisations find
it in their case list, and what that list's filters see of it.

Each row carries the case's state and phase and `overdue_from`: the earliest due time of the case's open work that
the row's organisation may see (the deadlines it owns; for the organisation leading the case, all of them, the
escalations of missed ones included, as `Access.sees_deadline` shows them). The case is overdue for that organisation
once that time has passed, with no write needed. The rows are written in the transaction that changes the case, so
every filter of `GET /cases` is a range of an index (`CaseParty`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Boolean, Connection, bindparam, func, or_, select, update
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


# Built once (building them costs more than running them on SQLite).
_REFRESH = update(PARTIES).where(PARTIES.c.case_id == bindparam("b_case")).values(
    state=bindparam("b_state"), phase=bindparam("b_phase"),
    overdue_from=_overdue_from(PARTIES.c.organisation, PARTIES.c.organisation == bindparam("b_lead")),
)


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


def refresh(conn: Connection, case_id: str, *, state: str, phase: str, lead: str | None) -> None:
    """Brings every party row of the case up to date: after a change of state or phase, of the open deadlines, their
    due times or owners, or of the lead."""
    conn.execute(_REFRESH, {"b_case": case_id, "b_state": state, "b_phase": phase, "b_lead": lead})
