"""no overdue indexes on the party rows on SQLite

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

`ix_case_parties_overdue` and `ix_case_parties_phase_overdue` (revision 0007) serve the case list's `?overdue=true`
filter on PostgreSQL, whose planner picks them when few cases are overdue. SQLite's planner never does: it answers
that filter by walking the organisation's (or the phase's) index in case order, the order of the page. There the
two indexes were only written, and a state change rewrote their entries for every party row of the case: a third of
the pages it committed (65 pages a state change with them, 40 without). They are dropped on SQLite and kept on
PostgreSQL.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_case_parties_overdue": ["organisation", "overdue_from"],
    "ix_case_parties_phase_overdue": ["organisation", "phase", "overdue_from"],
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in _INDEXES:
        op.drop_index(name, table_name="case_parties")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, columns in _INDEXES.items():
        op.create_index(name, "case_parties", columns)
