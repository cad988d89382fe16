"""rate windows

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

The lookup limit (30 lookups a minute per user) was counted in each server process, so with three processes a user
had three times the limit. Calls are now counted in the database, per user and fixed window, shared by every process.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_windows",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", "user_id", "window"),
    )


def downgrade() -> None:
    op.drop_table("rate_windows")
