"""Counting the SQL statements (each one a round trip to the database) that a piece of work runs, and on SQLite the
pages it writes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from engine import Database


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements run meanwhile, `BEGIN` included (the access log's group commit too)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    def begin(conn: Any) -> None:
        # SQLite's BEGIN is a statement of its own already; a PostgreSQL connection in autocommit sends none.
        if db.engine.dialect.name == "postgresql" and not conn.connection.driver_connection.autocommit:
            seen.append("BEGIN")

    event.listen(db.engine, "before_cursor_execute", record)
    event.listen(db.engine, "begin", begin)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
        event.remove(db.engine, "begin", begin)


def without_checkpoints(db: Database) -> None:
    """SQLite: the database's connections, opened from now on, leave the write-ahead log to grow until it is
    checkpointed by hand (so `pages_written` can read what was written from its length). Call it before the first
    connection is opened."""
    def connected(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    event.listen(db.engine, "connect", connected)


@contextmanager
def pages_written(db: Database) -> Iterator[Callable[[], int]]:
    """SQLite, on a database set up `without_checkpoints`: a function giving how many pages were written to the
    write-ahead log meanwhile. Each commit writes every page it changed, so this is the work a commit and its
    share of checkpoints cost; a page changed by two commits counts twice."""
    path = Path(str(db.engine.url.database) + "-wal")
    with db.engine.connect() as conn:
        page_size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").all()
    start = path.stat().st_size if path.exists() else 0

    def frames() -> int:
        size = path.stat().st_size if path.exists() else 0
        header = 32 if start == 0 and size else 0  # a log truncated to nothing starts again with its header
        return (size - start - header) // (page_size + 24)

    yield frames
