"""events by cohort date

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

The outcome figures find a period's cases by the dates inside the forms (identified on, born at, admitted on,
referred on), however long after the period they were entered. Without an index on those dates, finding a year's
cohorts at a million cases read every event recorded since the year began and decoded its form (15 s on SQLite).
A partial expression index, holding only the events that open a cohort, turns it into a range of the index.

The expression is spelled exactly as `engine.reports.courses` queries it (a test checks the query uses it).
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

FIELDS = (
    ("open_case", "identified_on"), ("amend_identification", "identified_on"), ("record_birth", "born_at"),
    ("admit_to_treatment", "admitted_on"), ("refer_to_treatment", "referred_on"),
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    field = "json_extract(data, '$.{}')" if dialect == "sqlite" else "(data ->> '{}')"
    cases = " ".join(f"WHEN '{action}' THEN {field.format(name)}" for action, name in FIELDS)
    actions = ", ".join(f"'{action}'" for action, _ in FIELDS)
    op.execute(
        f"CREATE INDEX ix_events_cohort ON events ((CASE action {cases} END), case_id, action) "
        f"WHERE action IN ({actions})"
    )


def downgrade() -> None:
    op.drop_index("ix_events_cohort", table_name="events")
