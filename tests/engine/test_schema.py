"""The migrations build exactly the schema the models declare (tables, columns, types, nullability, indexes), on
SQLite and PostgreSQL: a column or an index added to a model without its migration (or the other way round) fails
here instead of in an operator's upgrade."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from engine import Database


def test_the_migrated_schema_is_the_schema_the_models_declare(empty_database: Database) -> None:
    empty_database.upgrade()
    with empty_database.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert differences == []
