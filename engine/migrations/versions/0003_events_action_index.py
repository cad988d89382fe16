"""events by action and time

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Outcome reports find births and openings in a period by action and time; without this index they scan the log.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_action_occurred", "events", ["action", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_events_action_occurred", table_name="events")
