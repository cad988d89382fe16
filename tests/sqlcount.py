"""Counting the SQL statements (each one a round trip to the database) that a piece of work runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from engine import Database


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements run meanwhile, `BEGIN` included (the access log's group commit too)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    def begin(_conn: Any) -> None:
        if db.engine.dialect.name == "postgresql":  # SQLite's BEGIN is a statement of its own already
            seen.append("BEGIN")

    event.listen(db.engine, "before_cursor_execute", record)
    event.listen(db.engine, "begin", begin)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
        event.remove(db.engine, "begin", begin)
