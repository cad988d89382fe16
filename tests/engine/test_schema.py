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
from sqlmodel import SQLModel

from engine import Database

#: Indexes on expressions, spelled per database in their migration and not in the models (SQLAlchemy cannot reflect
#: them on SQLite, and compares them as text on PostgreSQL); `test_reports` checks the queries that need them use
#: them.
EXPRESSION_INDEXES = {"ix_events_cohort"}


def test_the_migrated_schema_is_the_schema_the_models_declare(empty_database: Database) -> None:
    empty_database.upgrade()

    def declared(item: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
        return not (kind == "index" and name in EXPRESSION_INDEXES)

    with empty_database.engine.connect() as conn, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        context = MigrationContext.configure(conn, opts={"include_object": declared})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


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
