"""The database: engine creation, transactions, and schema set-up through Alembic.

SQLite allows one writer: every write transaction starts with `BEGIN IMMEDIATE`, so concurrent writers queue on
the busy timeout instead of failing with "database is locked", and a read-then-write can never interleave with
another writer. On PostgreSQL the case row is locked with `SELECT ... FOR UPDATE` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, inspect, text
from sqlalchemy.engine import Engine

from engine.errors import PoscError
from engine.settings import Settings

_WRITE = "posc_write"
#: A connection for one statement with no transaction around it (SQLite; `Database.statement`).
_ONE_STATEMENT = "posc_one_statement"
#: The PostgreSQL advisory lock key that serialises schema set-up and upgrades across processes.
_SCHEMA_LOCK = 0x706F7363  # "posc"


class SchemaOutOfDate(PoscError):
    """The database was made by an older posc; it is never migrated silently."""


class Database:
    """One database URL, one SQLAlchemy engine, and the two kinds of transaction posc uses."""

    def __init__(
        self, url: str, *, busy_timeout: float = 30.0, echo: bool = False, pool_size: int = 10,
        max_overflow: int = 10,
    ) -> None:
        self.url = url
        self.engine: Engine = _create_engine(url, busy_timeout, echo, pool_size, max_overflow)
        self.dialect = self.engine.dialect.name

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.database_url, busy_timeout=settings.sqlite_busy_timeout, echo=settings.echo_sql,
                   pool_size=settings.pool_size, max_overflow=settings.pool_max_overflow)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends normally, rolled back on any exception."""
        with self.engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot; rolled back at the end)."""
        with self.engine.connect() as conn, conn.begin() as tx:
            yield conn
            tx.rollback()

    @contextmanager
    def statement(self) -> Iterator[Connection]:
        """A read that is one statement, run outside any transaction: a statement reads a consistent snapshot on
        its own, so it needs no `BEGIN` and no rollback (on PostgreSQL two round trips fewer). Only for reads
        whose consistency rests on a single statement (lookups of what never changes may follow it)."""
        with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                conn.execution_options(isolation_level="AUTOCOMMIT")  # restored when the connection is returned
            else:
                conn.execution_options(**{_ONE_STATEMENT: True})
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()

    # --- schema ---

    def alembic_config(self, connection: Connection) -> Any:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).resolve().parent.parent / "migrations"))
        config.attributes["connection"] = connection
        return config

    def upgrade(self, revision: str = "head") -> None:
        """Applies migrations up to `revision` (`posc db upgrade`), one process at a time."""
        from alembic import command

        with self._schema_transaction() as conn:
            command.upgrade(self.alembic_config(conn), revision)

    @contextmanager
    def _schema_transaction(self) -> Iterator[Connection]:
        """A write transaction that holds the schema lock: SQLite's one writer (`BEGIN IMMEDIATE`), on PostgreSQL an
        advisory lock until the commit. Several processes starting on an empty database, or upgrading it, take
        turns: the first migrates, the others then find the schema current."""
        with self.write() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            yield conn

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return _revision(conn)

    def head_revision(self) -> str:
        from alembic.script import ScriptDirectory

        with self.engine.connect() as conn:
            head = ScriptDirectory.from_config(self.alembic_config(conn)).get_current_head()
        assert head is not None
        return head

    def ensure_schema(self) -> str:
        """Sets up an empty database on first use; refuses one made by an older version of posc. Safe to call from
        several processes at once (the schema lock: one sets the database up, the others find it done). Returns the
        schema revision this posc needs (the one the database is now at)."""
        from alembic import command

        head = self.head_revision()
        if self.current_revision() == head:  # the usual start: nothing to lock
            return head
        with self._schema_transaction() as conn:
            current = _revision(conn)
            if current is None:
                tables = inspect(conn).get_table_names()
                if tables:
                    raise SchemaOutOfDate(
                        f"the database has tables ({', '.join(sorted(tables)[:3])}, ...) but no posc schema "
                        "version; refusing to touch it"
                    )
                command.upgrade(self.alembic_config(conn), "head")
            elif current != head:
                raise SchemaOutOfDate(
                    f"the database schema is at revision {current}; run `posc db upgrade` to migrate it"
                )
        return head


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    revision: str | None = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return revision


def _create_engine(url: str, busy_timeout: float, echo: bool, pool_size: int, max_overflow: int) -> Engine:
    # Parameters carry case data (names, dates of birth, substances): `hide_parameters` keeps them out of SQL
    # errors' messages and of the statement echo, so no log or traceback can repeat them.
    if not url.startswith("sqlite"):
        return create_engine(
            url, echo=echo, hide_parameters=True, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow
        )
    # Enough pooled connections for every request thread (uvicorn's pool has 40) plus the access-log writer:
    # connections beyond the pool are opened and closed per use, and each opening re-runs the pragmas below.
    engine = create_engine(
        url, echo=echo, hide_parameters=True, connect_args={"check_same_thread": False, "timeout": busy_timeout},
        pool_size=64, max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if not options.get(_ONE_STATEMENT):  # the connection is in autocommit mode: no transaction
            conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE) else "BEGIN")

    return engine
