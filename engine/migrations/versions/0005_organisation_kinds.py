"""organisation kinds

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Every organisation has a kind (cps, treatment, hospital, prenatal, peer, state, admin): a form field that names an
organisation accepts only its kinds, and a user's role must suit its organisation's kind.

Existing organisations are backfilled from what the database already says about them:

1. the role of the organisation's first user (earliest `created_at`): cps, treatment, hospital, prenatal and peer
   give the kind of the same name, analyst gives `state`, admin gives `admin`;
2. for an organisation without users, the party role it plays on cases (`case_parties.party`), in this order:
   cps, hospital, treatment, then opened_by (the identifying organisation), which gives `prenatal`;
3. otherwise `prenatal`, the kind of most identifying organisations, which an administrator can see in
   `GET /organisations` and correct before users are added to it.

PostgreSQL gets a plain NOT NULL column. SQLite can add a NOT NULL column only with a default, and cannot drop the
default afterwards without rebuilding the table, which the foreign key from `users` refuses inside the migration's
transaction; so on SQLite the column keeps the default `prenatal`. posc always writes the kind itself.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: A user's role → the kind of organisation it belongs to.
_ROLE_KIND = {
    "cps": "cps", "treatment": "treatment", "hospital": "hospital", "prenatal": "prenatal", "peer": "peer",
    "analyst": "state", "admin": "admin",
}
#: A party role on cases → the kind of organisation that plays it, most telling first.
_PARTY_KIND = {"cps": "cps", "hospital": "hospital", "treatment": "treatment", "opened_by": "prenatal"}
_FALLBACK = "prenatal"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.add_column(
            "organisations",
            sa.Column("kind", sa.String(length=16), nullable=False, server_default=sa.text(f"'{_FALLBACK}'")),
        )
    else:
        op.add_column("organisations", sa.Column("kind", sa.String(length=16), nullable=True))
    kinds = _backfill(bind)
    if kinds:
        bind.execute(sa.text("UPDATE organisations SET kind = :kind WHERE id = :id"),
                     [{"id": org, "kind": kind} for org, kind in sorted(kinds.items())])
    if bind.dialect.name != "sqlite":
        op.alter_column("organisations", "kind", existing_type=sa.String(length=16), nullable=False)


def _backfill(bind: sa.Connection) -> dict[str, str]:
    """Organisation id → its kind, as the docstring above decides."""
    organisations = list(bind.execute(sa.text("SELECT id FROM organisations")).scalars())
    first_role: dict[str, str] = {}
    for org, role in bind.execute(sa.text("SELECT organisation, role FROM users ORDER BY created_at, id")):
        if role in _ROLE_KIND:
            first_role.setdefault(org, role)
    parties: dict[str, set[str]] = {}
    for org, party in bind.execute(sa.text("SELECT organisation, party FROM case_parties")):
        parties.setdefault(org, set()).add(party)
    kinds: dict[str, str] = {}
    for org in organisations:
        if org in first_role:
            kinds[org] = _ROLE_KIND[first_role[org]]
            continue
        played = parties.get(org, set())
        kinds[org] = next((kind for party, kind in _PARTY_KIND.items() if party in played), _FALLBACK)
    return kinds


def downgrade() -> None:
    op.drop_column("organisations", "kind")
