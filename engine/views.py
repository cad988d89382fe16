"""What a caller is shown of a case, built from the one access decision (`engine.access`), shared by reads and by
the answers to actions."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, func, select

from engine.access import PLAN, Access
from engine.access_log import logged_cte, logged_params, record_in
from engine.caselog import EVENTS, LEAD_CONTACT, LEAD_NAME, LEAD_ORG
from engine.deadlines import ESCALATION_PREFIX
from engine.definitions.compiled import CompiledWorkflow
from engine.fold import ENTERED_LATE
from engine.guards import as_date
from engine.readmodels import (
    ActionOption,
    CasePage,
    CaseRecordRead,
    CaseView,
    Contact,
    DeadlineRecord,
    DeadlineView,
    EventView,
    LateEntryView,
    PlanVersion,
    WindowView,
)
from engine.store.tables import Deadline, Organisation

DEADLINES = Deadline.__table__  # type: ignore[attr-defined]
ORGANISATIONS = Organisation.__table__  # type: ignore[attr-defined]
#: What a view shows of each open deadline.
OPEN_COLUMNS = ("name", "opened_at", "target_at", "due_at", "owner_org")
_OPEN_DEADLINES = (
    select(*(DEADLINES.c[c] for c in OPEN_COLUMNS))
    .where(DEADLINES.c.case_id == bindparam("b_case"), DEADLINES.c.status == "open")
    .order_by(DEADLINES.c.due_at)
)
#: PostgreSQL: an access-log row recorded and the case's open deadlines read in one statement (one round trip).
_LOGGED_OPEN_DEADLINES = _OPEN_DEADLINES.add_cte(logged_cte())


def logged_open_deadlines(conn: Connection, case_id: str, log: Mapping[str, Any]) -> Sequence[RowMapping]:
    """Records the access-log row `log` (`access_row`) in the open transaction and reads the case's open
    deadlines, most urgent first, for `case_view(..., open_rows=...)`: one statement on PostgreSQL (the insert is a
    data-modifying CTE of the read), two on SQLite."""
    if conn.dialect.name == "postgresql":
        params = {"b_case": case_id, **logged_params(log)}
        return conn.execute(_LOGGED_OPEN_DEADLINES, params).mappings().all()
    record_in(conn, [dict(log)])
    return conn.execute(_OPEN_DEADLINES, {"b_case": case_id}).mappings().all()


def packed_open_deadlines(case_id: Any, dialect: str) -> Any:
    """The open deadlines of the case `case_id` (a column of the enclosing query) as one JSON array of arrays, so a
    read of the case can carry them in the same statement; `open_deadline_rows` unpacks it."""
    columns = [DEADLINES.c[c] for c in OPEN_COLUMNS]
    pack = (func.json_agg(func.json_build_array(*columns)) if dialect == "postgresql"
            else func.json_group_array(func.json_array(*columns)))
    return select(pack).where(DEADLINES.c.case_id == case_id, DEADLINES.c.status == "open").scalar_subquery()


def open_deadline_rows(packed: Any) -> list[dict[str, Any]]:
    """`packed_open_deadlines`' value (JSON text on SQLite, decoded already on PostgreSQL) as deadline rows, for
    `case_view(..., history=...)`. Times come back as JSON gives them (SQLite: UTC with no offset; PostgreSQL: with
    an offset) and leave aware, in UTC, as the column type gives them."""
    found = json.loads(packed) if isinstance(packed, str) else packed or []
    rows = []
    for values in found:
        row: dict[str, Any] = dict(zip(OPEN_COLUMNS, values, strict=True))
        for time in ("opened_at", "target_at", "due_at"):
            moment = datetime.fromisoformat(row[time])
            row[time] = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        rows.append({**row, "status": "open"})
    return rows
_ALL_DEADLINES = (
    select(DEADLINES).where(DEADLINES.c.case_id == bindparam("b_case")).order_by(DEADLINES.c.opened_at, DEADLINES.c.id)
)
_EVENTS = select(EVENTS).where(EVENTS.c.case_id == bindparam("b_case")).order_by(EVENTS.c.seq)
_ORGANISATION = select(ORGANISATIONS).where(ORGANISATIONS.c.id == bindparam("b_id"))


def lead_contact(conn: Connection, case: Mapping[Any, Any], lead: str | None) -> Contact | None:
    """The lead organisation's contact: from the row when the read joined it, otherwise read."""
    if lead is not None and LEAD_ORG in case and case[LEAD_ORG] == lead:
        return Contact(organisation=lead, name=case[LEAD_NAME] or lead, contact=case[LEAD_CONTACT])
    return organisation_contact(conn, lead)


def organisation_contact(conn: Connection, organisation: str | None) -> Contact | None:
    if organisation is None:
        return None
    row = conn.execute(_ORGANISATION, {"b_id": organisation}).mappings().first()
    if row is None:
        return Contact(organisation=organisation, name=organisation, contact=None)
    return Contact(organisation=row["id"], name=row["name"], contact=row["contact"])


def deadline_view(workflow: CompiledWorkflow, row: Mapping[Any, Any], now: datetime) -> DeadlineView:
    return DeadlineView(**deadline_fields(workflow, row, now))


def deadline_fields(workflow: CompiledWorkflow, row: Mapping[Any, Any], now: datetime) -> dict[str, Any]:
    """A deadline row as a reader is shown it (the fields of `DeadlineView`)."""
    name = row["name"]
    base = name.removeprefix(ESCALATION_PREFIX)
    deadline = workflow.deadlines.get(base)
    title = deadline.title if deadline else base
    return {
        "deadline": name, "title": f"Escalation: {title} missed" if name != base else title,
        "opens_at": row["opened_at"], "target_at": row["target_at"], "due_at": row["due_at"],
        "open_now": row["opened_at"] <= now, "past_target": row["target_at"] < now, "overdue": row["due_at"] < now,
        "owner": row["owner_org"],
    }


def deadline_history(access: Access, rows: Sequence[Mapping[Any, Any]], now: datetime) -> list[DeadlineRecord]:
    """Every deadline the case has had (`rows`, from `_ALL_DEADLINES`) that the reader may see, in the order they
    opened: open, met (on time or late), missed, cancelled."""
    found = []
    for row in rows:
        if not access.sees_deadline(row["owner_org"]):
            continue
        closed = row["closed_at"]
        found.append(DeadlineRecord(
            **deadline_fields(access.workflow, row, now), status=row["status"], closed_at=closed,
            late=row["status"] == "met" and closed is not None and closed > row["due_at"],
        ))
    return found


def case_view(
    conn: Connection, access: Access, case: Mapping[Any, Any], now: datetime,
    history: Sequence[Mapping[Any, Any]] | None = None, open_rows: Iterable[Mapping[Any, Any]] | None = None,
) -> CaseView:
    """The case as the reader may see it: the coordination view (reference, phase, due date, plan in place, lead
    contact, the reader's own deadlines), the state where the reader may see it, opening data field by field. The
    open deadlines are read here unless given: every deadline the case has had (`history`, a page's) or its open
    ones (`open_rows`, as `logged_open_deadlines` reads them). With no access at all (a caller whose own action
    just ended it, such as revoking consent) only the reference and version."""
    workflow = access.workflow
    if not access:
        return CaseView(
            id=case["id"], workflow=workflow.id, workflow_version=workflow.version, version=case["version"],
            state=None, phase="", terminal=False, plan_in_place=False, plan_version=0, lead_contact=None, tiers=[],
            data={}, withheld=[], deadlines=[], windows=[], entered_late=[], opened_at=case["opened_at"],
            updated_at=case["updated_at"],
        )
    if history is not None:  # every deadline the case has had, already read (a page): its open ones, most urgent first
        open_rows = sorted((r for r in history if r["status"] == "open"), key=lambda r: r["due_at"])
    elif open_rows is None:
        open_rows = conn.execute(_OPEN_DEADLINES, {"b_case": case["id"]}).mappings()
    deadlines = [deadline_view(workflow, r, now) for r in open_rows if access.sees_deadline(r["owner_org"])]
    lead = case["parties"].get(workflow.spec.escalate_to)
    identification = current_identification(workflow, case["data"], case["facts"])
    shown = access.fields(workflow.open.form, identification)
    plan_version = int(case["facts"].get("plan_version") or 0)
    return CaseView(
        id=case["id"], workflow=workflow.id, workflow_version=workflow.version, version=case["version"],
        state=access.state(case["state"]), phase=case["phase"], terminal=workflow.is_terminal(case["state"]),
        plan_in_place=plan_version >= 1, plan_version=plan_version, lead_contact=lead_contact(conn, case, lead),
        tiers=access.ordered_tiers(), data=shown, withheld=access.withheld(workflow.open.form, identification),
        deadlines=deadlines, windows=windows(workflow, shown), entered_late=entered_late(access, case["facts"]),
        opened_at=case["opened_at"], updated_at=case["updated_at"],
    )


def current_identification(
    workflow: CompiledWorkflow, opening: Mapping[str, Any], facts: Mapping[str, Any]
) -> dict[str, Any]:
    """The opening form's fields as they stand now: as entered, with any correction (`amend_identification`)."""
    fields = {f.id for f in workflow.open.form.spec.fields}
    return {**opening, **{k: v for k, v in facts.items() if k in fields}}


def entered_late(access: Access, facts: Mapping[str, Any]) -> list[LateEntryView]:
    """The events the reader may see that were entered days after they happened (identification, birth,
    discharge): their clocks run from when they happened, so such a case can be overdue the moment it is entered."""
    workflow = access.workflow
    found = []
    for event, days in (facts.get(ENTERED_LATE) or {}).items():
        if not access.sees_event(event):
            continue
        action = workflow.actions.get(event)
        title = action.title if action else workflow.open.title
        found.append(LateEntryView(event=event, title=title, field=workflow.happened_at.get(event), days=days))
    return found


def windows(workflow: CompiledWorkflow, values: Mapping[str, Any]) -> list[WindowView]:
    """The date windows the workflow's guards enforce (the planning window), computed for this case."""
    found: list[WindowView] = []
    for action in workflow.actions.values():
        for compiled in action.guards:
            if compiled.ref.guard != "date_in_window":
                continue
            params: Any = compiled.params
            if not params.shown:
                continue
            anchor = as_date(values.get(params.case_field), workflow.timezone)
            if anchor is None or any(w.window == params.window for w in found):
                continue  # a window two actions enforce (scheduling and recording the meeting) is shown once
            try:
                start, end = anchor - timedelta(days=params.days_before), anchor + timedelta(days=params.days_after)
            except OverflowError:  # a date stored before dates were bounded: no window, never a 500
                continue
            found.append(
                WindowView.model_validate({"window": params.window, "action": action.name, "from": start, "to": end})
            )
    return found


def event_views(access: Access, events: Sequence[RowMapping]) -> list[EventView]:
    """The events the reader may see, each with the fields and states the reader may see."""
    workflow = access.workflow
    shown = []
    for event in events:
        if not access.sees_event(event["action"]):
            continue
        action = workflow.actions.get(event["action"])
        form = action.form if action else (workflow.open.form if event["form"] == workflow.open.form.id else None)
        # System events (a missed deadline) carry only which deadline and when it was due.
        data = access.fields(form, event["data"]) if form else dict(event["data"])
        shown.append(EventView(
            seq=event["seq"], action=event["action"], form=event["form"],
            from_state=access.state(event["from_state"]), to_state=access.state(event["to_state"]),
            actor=event["actor_id"], actor_role=event["actor_role"], organisation=event["organisation"],
            occurred_at=event["occurred_at"], data=data, withheld=access.withheld(form, event["data"]) if form else [],
        ))
    return shown


def case_page(
    conn: Connection, access: Access, row: Mapping[Any, Any], now: datetime, actions: list[ActionOption]
) -> CasePage:
    """What a case's page shows: the case, its history, every deadline it has had, the plan's versions (at the plan
    tier), and the actions of its state for this reader (`actions`, from `Cases.options`)."""
    events = event_views(access, conn.execute(_EVENTS, {"b_case": row["id"]}).mappings().all())
    history = conn.execute(_ALL_DEADLINES, {"b_case": row["id"]}).mappings().all()
    return CasePage(
        case=case_view(conn, access, row, now, history), events=events,
        deadlines=deadline_history(access, history, now), plan_versions=plan_versions(access, events),
        actions=actions,
    )


def plan_versions(access: Access, events: Sequence[EventView]) -> list[PlanVersion]:
    """The plan's versions, one per plan event, numbered from 1; only for a reader at the plan tier."""
    plan_actions = access.workflow.plan_actions
    return [
        PlanVersion(version=number, at=e.occurred_at, action=e.action)
        for number, e in enumerate((e for e in events if e.action in plan_actions), start=1)
    ] if PLAN in access.tiers else []


def case_record(conn: Connection, access: Access, row: Mapping[Any, Any], now: datetime) -> CaseRecordRead:
    """The case and its history as this reader may see them (the FHIR interface's source)."""
    events = event_views(access, conn.execute(_EVENTS, {"b_case": row["id"]}).mappings().all())
    plans = [e for e in events if e.action in access.workflow.plan_actions] if PLAN in access.tiers else []
    return CaseRecordRead(case=case_view(conn, access, row, now), events=events, plans=plans)
