"""The migrations build exactly the schema the models declare (tables, columns, types, nullability, indexes), on
SQLite and PostgreSQL: a column or an index added to a model without its migration (or the other way round) fails
here instead of in an operator's upgrade."""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from engine import Database

#: Indexes on expressions, spelled per database in their migration and not in the models (SQLAlchemy cannot reflect
#: them on SQLite, and compares them as text on PostgreSQL); `test_reports` checks the queries that need them use
#: them.
EXPRESSION_INDEXES = {"ix_events_cohort"}


def test_the_migrated_schema_is_the_schema_the_models_declare(empty_database: Database) -> None:
    empty_database.upgrade()

    dialect = empty_database.dialect

    def declared(item: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
        if kind == "index" and name in EXPRESSION_INDEXES:
            return False
        # An index the models create on one database only (`Index.ddl_if`): alembic compares it everywhere.
        only_on = getattr(getattr(item, "_ddl_if", None), "dialect", None)
        return reflected or only_on in (None, dialect)

    with empty_database.engine.connect() as conn, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        context = MigrationContext.configure(conn, opts={"include_object": declared})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_an_index_declared_for_one_database_exists_on_that_one_only(empty_database: Database) -> None:
    """The party rows' overdue indexes serve PostgreSQL's planner and are never used by SQLite's, where they would
    only cost writes: the migrated schema has each declared index exactly on the databases it is declared for."""
    empty_database.upgrade()
    dialect = empty_database.dialect
    with empty_database.engine.connect() as conn, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        found = {index["name"] for table in SQLModel.metadata.tables for index in inspect(conn).get_indexes(table)}
    declared = {
        index.name: getattr(getattr(index, "_ddl_if", None), "dialect", None)
        for table in SQLModel.metadata.tables.values() for index in table.indexes
    }
    assert {"ix_case_parties_overdue", "ix_case_parties_phase_overdue"} <= {
        name for name, only_on in declared.items() if only_on == "postgresql"
    }
    for name, only_on in declared.items():
        assert (name in found) == (only_on in (None, dialect)), (name, only_on, dialect)


def test_several_processes_starting_on_an_empty_database_all_come_up(empty_database: Database) -> None:
    """Four server processes started at once on a database with no schema: one sets it up, the others wait for the
    schema lock and find it done; none fails."""
    url = empty_database.url
    start = time.time() + 2.0  # every process waits for the same moment, after its imports
    script = (
        "import sys, time\n"
        "from engine import Database\n"
        "database = Database(sys.argv[1])\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "database.ensure_schema()\n"
        "print(database.current_revision())\n"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", script, url, str(start)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = [(run.wait(timeout=120), *run.communicate()) for run in runs]
    head = empty_database.head_revision()
    assert [(code, out.strip()) for code, out, _ in results] == [(0, head)] * 4, [err for _, _, err in results]
