"""PostgreSQL: an action's whole write in the one statement that moves the case.

Taking an action writes the case row, the event, perhaps a consent row, the deadlines it meets, cancels, re-owns
and opens, and the case's party rows (the case list's filters). Written one after the other these are six round
trips; on PostgreSQL they are one statement: the case's compare-and-set and the event insert (`caselog.write`),
with each other write a data-modifying CTE of it.

All parts of a statement see the database as it was when the statement began, so the party rows cannot read the
deadlines the same statement writes. Their overdue times are computed from `open_now` instead: the case's open
deadlines as they will be, made of the open rows the settle does not touch, the touched rows still open as the
settle's `RETURNING` gives them, and the rows inserted. Rows written whole (new or reassigned parties) are left out
of the refresh, so no row is written twice.

Only the usual event is written this way (`deadlines.Work.simple`, no revocation): the rare ones that must read or
run in order (a deadline met only if it opened early enough, a case closing, a corrected anchor, a deadline opening
again, a revoked consent) take the sequential path, which SQLite always takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import bindparam, insert, select, union_all

from engine import scope
from engine.access_log import logged_cte, logged_params
from engine.caselog import Also
from engine.deadlines import DEADLINES, OPEN, Work, settle_statement
from engine.store.tables import Consent
from engine.views import OPEN_COLUMNS

CONSENTS = Consent.__table__  # type: ignore[attr-defined]
_CONSENT_COLUMNS = [c.name for c in CONSENTS.c if c.name not in ("id", "revoked_on", "revoked_seq")]
_DEADLINE_COLUMNS = [c.name for c in DEADLINES.c if c.name not in ("id", "closed_at", "closed_seq")]


@cache
def _ctes(
    consent: bool, settle: tuple[int, int, int] | None, new_deadlines: int, parties: int,
    refresh: tuple[bool, bool, bool] | None, answer: bool,
) -> tuple[tuple[Any, ...], Any]:
    """The CTEs for one shape of write, built once: a consent row (`c_<column>`), the settle statement
    (`deadlines.settle_statement`), `new_deadlines` rows (`d<i>_<column>`), `parties` party rows upserted
    (`scope.upsert_statement`), the refresh of the others (`scope.refresh_statement` with its state, phase and
    overdue flags) and, with `answer`, the answer's access-log row (`l_<column>`). Also `open_now`, the case's open
    deadlines as the statement leaves them (None when nothing reads them)."""
    # Rows are inserted from a SELECT of parameters, not a multi-row VALUES, which SQLAlchemy compiles afresh at
    # every execution.
    ctes: list[Any] = []
    if consent:
        ctes.append(insert(CONSENTS).values(
            {c: bindparam(f"c_{c}", type_=CONSENTS.c[c].type) for c in _CONSENT_COLUMNS}
        ).cte("consented"))
    columns = [DEADLINES.c[c] for c in OPEN_COLUMNS]
    kept = [DEADLINES.c.case_id == bindparam("b_case"), DEADLINES.c.status == OPEN]
    now_open: list[Any] = []
    if settle is not None:
        settled = settle_statement(*settle).returning(DEADLINES.c.id, DEADLINES.c.status, *columns).cte("settled")
        ctes.append(settled)
        kept.append(DEADLINES.c.id.not_in(select(settled.c.id)))
        now_open.append(select(*(settled.c[c] for c in OPEN_COLUMNS)).where(settled.c.status == OPEN))
    if new_deadlines:
        rows = [select(*(bindparam(f"d{i}_{c}", type_=DEADLINES.c[c].type) for c in _DEADLINE_COLUMNS))
                for i in range(new_deadlines)]
        added = (
            insert(DEADLINES).from_select(_DEADLINE_COLUMNS, union_all(*rows) if len(rows) > 1 else rows[0])
            .returning(*columns).cte("added")
        )
        ctes.append(added)
        now_open.append(select(*(added.c[c] for c in OPEN_COLUMNS)))
    open_now = None
    if parties or refresh is not None or answer:
        open_now = union_all(select(*columns).where(*kept), *now_open).cte("open_now")
        if parties:
            ctes.append(scope.upsert_statement(parties, open_now).cte("upserted"))
        if refresh is not None:
            ctes.append(scope.refresh_statement(*refresh, source=open_now, kept=parties).cte("refreshed"))
    if answer:
        ctes.append(logged_cte())
    return tuple(ctes), open_now


def also(
    work: Work, *, consent: Mapping[str, Any] | None, parties: Mapping[str, str], lead: str | None, state: str,
    phase: str, refresh: tuple[bool, bool, bool] | None, log: Mapping[str, Any] | None = None,
) -> Also:
    """What the statement that moves the case writes besides: `consent` (a consent row's values, or None), the
    deadlines' `work` (`work.simple`), the `parties` (party → organisation) written whole, and the refresh of the
    other party rows (`refresh`: whether the state, the phase and the overdue time may have changed; None: no
    refresh). `lead` is the organisation leading the case, `state` and `phase` the case's after the event. With
    `log` (an access-log row: the answer's disclosure), it is recorded too and the statement answers with the
    case's open deadlines as it leaves them, most urgent first (for `views.case_view(..., open_rows=...)`)."""
    if not work.simple:  # what runs in order or reads first is not in this statement
        raise ValueError("only an event's simple deadline work is written in the statement that moves the case")
    params: dict[str, Any] = {"b_case": work.common["b_case"], "b_lead": lead, "b_state": state, "b_phase": phase}
    if consent is not None:
        params.update({f"c_{c}": consent[c] for c in _CONSENT_COLUMNS})
    if work.settles:
        params.update(work.settle_params())
    for i, row in enumerate(work.rows):
        params.update({f"d{i}_{c}": row[c] for c in _DEADLINE_COLUMNS})
    for i, (party, organisation) in enumerate(parties.items()):
        params.update({f"p_party_{i}": party, f"p_org_{i}": organisation, f"p_all_{i}": organisation == lead})
    if log is not None:
        params.update(logged_params(log))
    ctes, open_now = _ctes(consent is not None, work.settle_shape() if work.settles else None, len(work.rows),
                           len(parties), refresh, log is not None)
    return Also(ctes, params, open_now if log is not None else None, "due_at")
