"""Alembic environment: migrations run on the connection posc hands over (`Database.upgrade`), or on
`sqlalchemy.url` / `POSC_DATABASE_URL` when run through the `alembic` command for development."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlmodel import SQLModel

import engine.store.tables  # noqa: F401  (registers the tables on the metadata)
from engine.settings import Settings

config = context.config
target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url") or Settings().database_url
    with create_engine(url).begin() as conn:
        _run(conn)
