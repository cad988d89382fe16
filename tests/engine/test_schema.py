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
    """An index the models declare for one database only (`Index.ddl_if`) exists on that one only."""
    empty_database.upgrade()
    dialect = empty_database.dialect
    with empty_database.engine.connect() as conn, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        found = {index["name"] for table in SQLModel.metadata.tables for index in inspect(conn).get_indexes(table)}
    declared = {
        index.name: getattr(getattr(index, "_ddl_if", None), "dialect", None)
        for table in SQLModel.metadata.tables.values() for index in table.indexes
    }
    for name, only_on in declared.items():
        assert (name in found) == (only_on in (None, dialect)), (name, only_on, dialect)


def test_the_case_lists_overdue_filter_never_leaves_the_index_on_postgresql(empty_database: Database) -> None:
    """`?overdue=true` walks the organisation's party rows in case order (alone, with a state or with a phase): on
    PostgreSQL each of those indexes carries the overdue time, so the walk is an index-only scan however many of the
    organisation's cases are overdue, and no index sorted by overdue time tempts the planner into reading and
    sorting every overdue row of a large caseload for one page (migration 0011)."""
    empty_database.upgrade()
    with empty_database.engine.connect() as conn:
        indexes = {index["name"]: index for index in inspect(conn).get_indexes("case_parties")}
    case_order = {"ix_case_parties_organisation", "ix_case_parties_state", "ix_case_parties_phase"}
    assert case_order <= set(indexes)
    assert not {name for name, index in indexes.items() if "overdue_from" in index["column_names"]}
    included = {name: index.get("dialect_options", {}).get("postgresql_include", []) for name, index in indexes.items()
                if name in case_order}
    expected = ["overdue_from"] if empty_database.dialect == "postgresql" else []
    assert included == dict.fromkeys(case_order, expected)


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
