"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Cases, their parties, their append-only event log, consents, deadlines and organisations. Events are protected
by the database itself: triggers refuse any UPDATE or DELETE on them (SQLite and PostgreSQL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from engine.store.types import UTCDateTime

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cases',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('workflow_id', sa.String(length=64), nullable=False),
    sa.Column('workflow_version', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('phase', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('parties', sa.JSON(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('lookup_key', sa.String(length=64), nullable=True),
    sa.Column('opened_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_lookup', ['lookup_key'], unique=False)
        batch_op.create_index('ix_cases_state', ['state'], unique=False)

    op.create_table('organisations',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('case_parties',
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('party', sa.String(length=32), nullable=False),
    sa.Column('organisation', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('case_id', 'party')
    )
    with op.batch_alter_table('case_parties', schema=None) as batch_op:
        batch_op.create_index('ix_case_parties_organisation', ['organisation', 'case_id'], unique=False)

    op.create_table('consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('event_seq', sa.Integer(), nullable=False),
    sa.Column('signed_on', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('organisations', sa.JSON(), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('revoked_on', sa.Date(), nullable=True),
    sa.Column('revoked_seq', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_case_id'), ['case_id'], unique=False)

    op.create_table('deadlines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('opened_at', UTCDateTime(), nullable=False),
    sa.Column('target_at', UTCDateTime(), nullable=False),
    sa.Column('due_at', UTCDateTime(), nullable=False),
    sa.Column('owner_role', sa.String(length=32), nullable=False),
    sa.Column('owner_org', sa.String(length=64), nullable=True),
    sa.Column('opened_seq', sa.Integer(), nullable=False),
    sa.Column('closed_at', UTCDateTime(), nullable=True),
    sa.Column('closed_seq', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('deadlines', schema=None) as batch_op:
        batch_op.create_index('ix_deadlines_case_status', ['case_id', 'status'], unique=False)
        batch_op.create_index('ix_deadlines_owner_status_due', ['owner_org', 'status', 'due_at'], unique=False)
        batch_op.create_index('ix_deadlines_status_due', ['status', 'due_at'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('form', sa.String(length=64), nullable=True),
    sa.Column('from_state', sa.String(length=64), nullable=True),
    sa.Column('to_state', sa.String(length=64), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=False),
    sa.Column('actor_role', sa.String(length=32), nullable=False),
    sa.Column('organisation', sa.String(length=64), nullable=False),
    sa.Column('occurred_at', UTCDateTime(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'seq', name='uq_events_case_seq')
    )
    _protect_events()


_MESSAGE = "events are append-only: they are never updated or deleted"


def _protect_events() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_no_{verb.lower()} BEFORE {verb} ON events "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )
    elif op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION posc_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION posc_events_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        op.execute("DROP FUNCTION IF EXISTS posc_events_append_only()")
    op.drop_table('events')
    with op.batch_alter_table('deadlines', schema=None) as batch_op:
        batch_op.drop_index('ix_deadlines_status_due')
        batch_op.drop_index('ix_deadlines_owner_status_due')
        batch_op.drop_index('ix_deadlines_case_status')

    op.drop_table('deadlines')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_case_id'))

    op.drop_table('consents')
    with op.batch_alter_table('case_parties', schema=None) as batch_op:
        batch_op.drop_index('ix_case_parties_organisation')

    op.drop_table('case_parties')
    op.drop_table('organisations')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_state')
        batch_op.drop_index('ix_cases_lookup')

    op.drop_table('cases')
