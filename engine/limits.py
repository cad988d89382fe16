"""Counting calls in fixed windows of time, in the database, so that a limit holds across every server process (the
HTTP layer decides what the limits are and answers 429)."""

from __future__ import annotations

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite

from engine.store.database import Database
from engine.store.tables import RateWindow

RATE_WINDOWS = RateWindow.__table__  # type: ignore[attr-defined]
_ROW = (RATE_WINDOWS.c.name == bindparam("b_name"), RATE_WINDOWS.c.user_id == bindparam("b_user"))
_FORGET_OLD = delete(RATE_WINDOWS).where(*_ROW, RATE_WINDOWS.c.window < bindparam("b_window"))


def _count(dialect: object) -> object:
    upsert = dialect.insert(RATE_WINDOWS).values(  # type: ignore[attr-defined]
        name=bindparam("b_name"), user_id=bindparam("b_user"), window=bindparam("b_window"), calls=1,
    )
    return upsert.on_conflict_do_update(
        index_elements=["name", "user_id", "window"], set_={"calls": RATE_WINDOWS.c.calls + 1},
    ).returning(RATE_WINDOWS.c.calls)


_COUNT = (_count(sqlite), _count(postgresql))


def count_call(db: Database, name: str, user_id: str, window: int) -> int:
    """Counts one call of `name` by the user in `window` and returns the calls counted there so far (this one
    included); the user's earlier windows are forgotten."""
    params = {"b_name": name, "b_user": user_id, "b_window": window}
    with db.write() as conn:
        conn.execute(_FORGET_OLD, params)
        calls: int = conn.execute(_COUNT[db.dialect == "postgresql"], params).scalar_one()  # type: ignore[call-overload]
    return calls
