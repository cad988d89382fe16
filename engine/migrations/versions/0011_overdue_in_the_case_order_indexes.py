"""PostgreSQL: the overdue time carried in the party rows' case-order indexes; the two overdue indexes dropped

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

The case list's `?overdue=true` on PostgreSQL could be answered two ways: from `ix_case_parties_overdue` (or
`ix_case_parties_phase_overdue`), every overdue party row of the organisation, sorted into case order for the page;
or by walking the organisation's rows in case order and stopping at the page's last case. The planner chose by its
estimate of how many rows are overdue, which it makes as if the organisation and the overdue time were unrelated.
An organisation most of whose cases were overdue while few in the database were got the first: at 1,000,000 cases
its first page read and sorted 8,571 rows (9.5 ms for the statement, 2.6 times its time at 10,000 cases).

The three case-order indexes now include `overdue_from`, so the walk is an index-only scan whatever the share of
overdue cases: 0.06 ms when most are, 0.8 ms when none of an organisation's 10,000 are (the whole caseload
walked). The overdue indexes are dropped: nothing needs them, and a state change writes every index of every party
row of the case. SQLite is unchanged (it never had the overdue indexes, and has no included columns).
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_CASE_ORDER = {
    "ix_case_parties_organisation": ["organisation", "case_id"],
    "ix_case_parties_state": ["organisation", "state", "case_id"],
    "ix_case_parties_phase": ["organisation", "phase", "case_id"],
}
_OVERDUE = {
    "ix_case_parties_overdue": ["organisation", "overdue_from"],
    "ix_case_parties_phase_overdue": ["organisation", "phase", "overdue_from"],
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, columns in _CASE_ORDER.items():
        op.drop_index(name, table_name="case_parties")
        op.create_index(name, "case_parties", columns, postgresql_include=["overdue_from"])
    for name in _OVERDUE:
        op.drop_index(name, table_name="case_parties")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, columns in _OVERDUE.items():
        op.create_index(name, "case_parties", columns)
    for name, columns in _CASE_ORDER.items():
        op.drop_index(name, table_name="case_parties")
        op.create_index(name, "case_parties", columns)
