"""case list filters on the party rows

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

An organisation's case list (`GET /cases`) is the cases it has a party row for, filtered by state, phase and
"overdue". The filters were on the case row and its deadlines, so a filter with few or no matches walked every case
the organisation may see (42 ms at 1,000,000 cases, 0.8 ms at 10,000). Each party row now carries the case's state,
its phase and `overdue_from` (the earliest due time of the case's open work; the case is overdue once it has
passed), written in the same transaction as the case row, with an index for each filter. The open work counted for a
row is what its organisation may see of the case's deadlines: the ones it owns, or all of them (escalations
included) where it plays the workflow's lead party (`escalate_to`).

It also widens `case_parties.party` to 80 characters: a consent's party is `consent:<organisation id>`, and ids are
up to 64 characters.

This adds the columns, fills them from each case and its deadlines, and adds the indexes. The index of a case's
deadlines by status gains the due time, so a case's earliest open deadline (what `overdue_from` is) is read from the
index: without it, SQLite answered that minimum by walking every open deadline in due order. The lead party of each
workflow is read from the shipped workflow files (`escalate_to`; `cps` for a workflow no longer shipped).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import sqlalchemy as sa
import yaml
from alembic import op

from engine.store.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_PARTIES = sa.table(
    "case_parties", sa.column("case_id", sa.String), sa.column("party", sa.String),
    sa.column("organisation", sa.String), sa.column("state", sa.String), sa.column("phase", sa.String),
    sa.column("overdue_from", sa.DateTime),
)
_CASES = sa.table(
    "cases", sa.column("id", sa.String), sa.column("workflow_id", sa.String), sa.column("state", sa.String),
    sa.column("phase", sa.String),
)
_DEADLINES = sa.table(
    "deadlines", sa.column("case_id", sa.String), sa.column("status", sa.String), sa.column("due_at", sa.DateTime),
    sa.column("owner_org", sa.String),
)
_WORKFLOWS = Path(str(resources.files("workflows")))
_INDEXES = {
    "ix_case_parties_state": ["organisation", "state", "case_id"],
    "ix_case_parties_phase": ["organisation", "phase", "case_id"],
    "ix_case_parties_overdue": ["organisation", "overdue_from"],
    "ix_case_parties_phase_overdue": ["organisation", "phase", "overdue_from"],
}


def upgrade() -> None:
    with op.batch_alter_table("case_parties") as batch:
        batch.add_column(sa.Column("state", sa.String(64), nullable=True))
        batch.add_column(sa.Column("phase", sa.String(64), nullable=True))
        batch.add_column(sa.Column("overdue_from", UTCDateTime(), nullable=True))
    of_case = _CASES.c.id == _PARTIES.c.case_id
    op.execute(sa.update(_PARTIES).values(
        state=sa.select(_CASES.c.state).where(of_case).scalar_subquery(),
        phase=sa.select(_CASES.c.phase).where(of_case).scalar_subquery(),
    ))
    leads = _lead_parties()
    lead = _PARTIES.alias("lead")
    for workflow_id in op.get_bind().execute(sa.select(_CASES.c.workflow_id).distinct()).scalars().all():
        sees_all = sa.exists().where(
            lead.c.case_id == _PARTIES.c.case_id, lead.c.party == leads.get(workflow_id, "cps"),
            lead.c.organisation == _PARTIES.c.organisation,
        ).correlate_except(lead)
        op.execute(
            sa.update(_PARTIES)
            .where(_PARTIES.c.case_id.in_(sa.select(_CASES.c.id).where(_CASES.c.workflow_id == workflow_id)))
            .values(overdue_from=sa.select(sa.func.min(_DEADLINES.c.due_at)).where(
                _DEADLINES.c.case_id == _PARTIES.c.case_id, _DEADLINES.c.status == "open",
                sa.or_(_DEADLINES.c.owner_org == _PARTIES.c.organisation, sees_all),
            ).scalar_subquery())
        )
    with op.batch_alter_table("case_parties") as batch:
        batch.alter_column("state", existing_type=sa.String(64), nullable=False)
        batch.alter_column("phase", existing_type=sa.String(64), nullable=False)
        # `consent:<organisation id>` needs 8 + 64 characters (it was 32, and PostgreSQL refused a long id).
        batch.alter_column("party", existing_type=sa.String(32), type_=sa.String(80), existing_nullable=False)
    for name, columns in _INDEXES.items():
        op.create_index(name, "case_parties", columns)
    op.drop_index("ix_deadlines_case_status", table_name="deadlines")
    op.create_index("ix_deadlines_case_status_due", "deadlines", ["case_id", "status", "due_at"])


def _lead_parties() -> dict[str, str]:
    """Each shipped workflow's lead party (`escalate_to`), by workflow id."""
    leads = {}
    for path in sorted(_WORKFLOWS.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(spec, dict) and "id" in spec and "escalate_to" in spec:
            leads[str(spec["id"])] = str(spec["escalate_to"])
    return leads


def downgrade() -> None:
    op.drop_index("ix_deadlines_case_status_due", table_name="deadlines")
    op.create_index("ix_deadlines_case_status", "deadlines", ["case_id", "status"])
    for name in _INDEXES:
        op.drop_index(name, table_name="case_parties")
    with op.batch_alter_table("case_parties") as batch:
        batch.alter_column("party", existing_type=sa.String(80), type_=sa.String(32), existing_nullable=False)
        batch.drop_column("overdue_from")
        batch.drop_column("phase")
        batch.drop_column("state")
