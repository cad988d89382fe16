"""consents in the case row

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

The access decision and the consent guards read a case's consents on every action and every read. They used to read
every consent the case ever had from `consents`; the case row now keeps them as a fact (`facts["consents"]`), one
entry per shape (the organisations and categories covered) with the earliest signing and the latest expiry of the
unrevoked consents of that shape, folded from the events like every other fact.

This backfills the fact for every case with a consent, exactly as the fold computes it, so `posc verify` (the replay
of each case's events) still agrees with the row: the consents not revoked (revocation ends every consent of the case,
so those are the ones recorded after the last revocation), in the order they were recorded, merged by shape. A case
whose consents were all revoked gets an empty list. `consents` itself stays: it is the record of each consent and its
revocation.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_CONSENTS = sa.table(
    "consents", sa.column("case_id", sa.String), sa.column("event_seq", sa.Integer),
    sa.column("signed_on", sa.Date), sa.column("expires_on", sa.Date), sa.column("organisations", sa.JSON),
    sa.column("categories", sa.JSON), sa.column("revoked_on", sa.Date),
)
_CASES = sa.table("cases", sa.column("id", sa.String), sa.column("facts", sa.JSON))
_FACT = "consents"


def upgrade() -> None:
    bind = op.get_bind()
    shapes: dict[str, list[dict[str, Any]]] = {}
    rows = bind.execute(
        sa.select(_CONSENTS).order_by(_CONSENTS.c.case_id, _CONSENTS.c.event_seq)
    ).mappings()
    for row in rows:
        entries = shapes.setdefault(row["case_id"], [])
        if row["revoked_on"] is not None:
            continue
        merge(entries, row["organisations"], row["categories"], row["signed_on"].isoformat(),
              row["expires_on"].isoformat())
    for case_id, entries in sorted(shapes.items()):
        facts = bind.execute(sa.select(_CASES.c.facts).where(_CASES.c.id == case_id)).scalar()
        if facts is None:
            continue
        bind.execute(sa.update(_CASES).where(_CASES.c.id == case_id).values(facts={**facts, _FACT: entries}))


def merge(entries: list[dict[str, Any]], organisations: list[str], categories: list[str], signed: str,
          expires: str) -> None:
    """One consent into the shapes, as `engine.fold` does (kept here: a migration must not change with the code)."""
    shape = {"organisations": sorted(organisations or []), "categories": sorted(categories or [])}
    for entry in entries:
        if entry["organisations"] == shape["organisations"] and entry["categories"] == shape["categories"]:
            entry["signed_on"] = min(entry["signed_on"], signed)
            entry["expires_on"] = max(entry["expires_on"], expires)
            return
    entries.append({**shape, "signed_on": signed, "expires_on": expires})


def downgrade() -> None:
    bind = op.get_bind()
    for case_id, facts in bind.execute(sa.select(_CASES.c.id, _CASES.c.facts)).all():
        if facts and _FACT in facts:
            bind.execute(sa.update(_CASES).where(_CASES.c.id == case_id).values(
                facts={k: v for k, v in facts.items() if k != _FACT}
            ))
