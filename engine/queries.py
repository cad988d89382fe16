"""Reading cases, as a given caller: every read checks the caller may know the case, shows it at their disclosure
tiers, and is recorded in the access log in the same transaction (the accounting of disclosures)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, select, tuple_

from engine import caselog
from engine.access import STATUS, Access, findable
from engine.access_log import AccessLogWriter, access_row
from engine.actor import Actor
from engine.caselog import CASES, EVENTS
from engine.cases import PARTIES, Cases, lookup_key
from engine.definitions.catalogue import Catalogue
from engine.definitions.compiled import CompiledWorkflow
from engine.documents import render
from engine.errors import FieldError, Forbidden, InvalidForm, NotAuthenticated, NotFound
from engine.fold import active_consents
from engine.guards import ConsentView
from engine.readmodels import (
    CaseList,
    CasePage,
    CaseRecordRead,
    CaseSummary,
    CaseView,
    DisclosureView,
    EventView,
    LookupAnswer,
    LookupMatch,
    WorkItem,
    Worklist,
)
from engine.reports import check_may_read_figures, outcome_report
from engine.reports.courses import Progress
from engine.store.database import Database
from engine.store.tables import AccessLog, Deadline
from engine.users import USERS, UserRecord, key_holder, key_parts
from engine.views import (
    case_page,
    case_record,
    case_view,
    deadline_fields,
    event_views,
    open_deadline_rows,
    organisation_contact,
    packed_open_deadlines,
)

ACCESS_LOG = AccessLog.__table__  # type: ignore[attr-defined]
DEADLINES = Deadline.__table__  # type: ignore[attr-defined]
_EVENTS = select(EVENTS).where(EVENTS.c.case_id == bindparam("b_case")).order_by(EVENTS.c.seq)
MAX_PAGE = 200
#: The prefix of the key holder's columns in `_key_and_case`.
_USER = "user_"


def _key_and_case(dialect: str) -> Any:
    """The most frequent read in one statement: the holder of an API key (by the key's id), the case with its lead
    organisation's contact (the party `b_lead`), and the case's open deadlines packed as a JSON array. One
    statement reads one consistent snapshot, so it runs with no transaction around it (`Database.statement`). No
    key: no row. No such case: the case's columns are null."""
    holder = (USERS.c[c].label(f"{_USER}{c}") for c in ("id", "name", "role", "organisation", "key_hash", "revoked_at"))
    return (
        select(*holder, CASES, *caselog.LEAD_COLUMNS,
               packed_open_deadlines(CASES.c.id, dialect).label("open_deadlines"))
        .select_from(caselog.with_lead(USERS.outerjoin(CASES, CASES.c.id == bindparam("b_id"))))
        .where(USERS.c.key_id == bindparam("b_key_id"))
    )


#: `_key_and_case` per dialect: [SQLite, PostgreSQL].
_KEY_AND_CASE = (_key_and_case("sqlite"), _key_and_case("postgresql"))


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, shape: tuple[type, ...]) -> list[Any] | None:
    """The values of a cursor this API gave out (`shape`: the type of each), or `InvalidForm` naming the cursor."""
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != len(shape) or not all(
        _fits(value, kind) for value, kind in zip(values, shape, strict=True)
    ):
        raise InvalidForm("query", [FieldError("cursor", "is not a cursor this list gave out")])
    return values


def _fits(value: Any, kind: type) -> bool:
    if kind is int:
        return type(value) is int and 0 <= value < 2**63
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isprintable()


def check_filter(name: str, value: str | None, known: frozenset[str]) -> None:
    """A list filter must name something the pathway has (a misspelt state would otherwise match nothing)."""
    if value and value not in known:
        shown = value if len(value) <= 40 and value.isprintable() else "that value"
        raise InvalidForm("query", [FieldError(name, f"{shown!r} is not a {name} of any pathway; one of "
                                                      f"{', '.join(sorted(known))}")])


class CaseQueries:
    """The read side of the case engine, for one caller at a time."""

    def __init__(self, db: Database, catalogue: Catalogue, cases: Cases) -> None:
        self.db = db
        self.catalogue = catalogue
        self.cases = cases
        self.access_log = AccessLogWriter(db)

    # --- one case ---

    def view(self, actor: Actor, case_id: str) -> CaseView:
        with self.db.read() as conn:
            row, access = self._open(conn, actor, case_id)
            view = case_view(conn, access, row, self.cases.clock.now())
        self._log(actor, case_id, "view", access)
        return view

    def view_with_key(self, api_key: str, case_id: str) -> tuple[UserRecord, CaseView]:
        """`view` for the holder of an API key, the most frequent read: the key, the case, its lead's contact and
        its open deadlines in one statement (`_key_and_case`), then the same access decision and view as `view`.
        `NotAuthenticated` for a malformed, unknown or revoked key, before anything about the case."""
        parts = key_parts(api_key)
        if parts is None:
            raise NotAuthenticated("the API key is unknown or revoked")
        key_id, secret = parts
        with self.db.statement() as conn:
            params = {"b_key_id": key_id, "b_id": case_id, "b_lead": self.cases.lead_party}
            row = conn.execute(_KEY_AND_CASE[conn.dialect.name == "postgresql"], params).mappings().first()
            user = key_holder(row, secret, _USER)
            if user is None or row is None:
                raise NotAuthenticated("the API key is unknown or revoked")
            if row["id"] is None:
                raise NotFound(f"no case {case_id!r}")
            access = self.cases.access(conn, user.actor, row)
            if not access:
                raise NotFound(f"no case {case_id!r}")
            view = case_view(conn, access, row, self.cases.clock.now(), open_deadline_rows(row["open_deadlines"]))
        self._log(user.actor, case_id, "view", access)
        return user, view

    def page(self, actor: Actor, case_id: str) -> CasePage:
        """What a case's web page shows, read in one transaction and recorded as one disclosure: the case, its
        history, every deadline it has had, the plan's versions, and the actions of its state for this caller."""
        with self.db.read() as conn:
            row, access = self._open(conn, actor, case_id)
            now = self.cases.clock.now()
            page = case_page(conn, access, row, now, self.cases.options(conn, access, row, now))
        self._log(actor, case_id, "page", access)
        return page

    def record(self, actor: Actor, case_id: str, what: str = "fhir") -> CaseRecordRead:
        """The case and its history as the caller may see them, read in one transaction and recorded as one
        disclosure (`what`: the FHIR interface records `fhir`)."""
        with self.db.read() as conn:
            row, access = self._open(conn, actor, case_id)
            read = case_record(conn, access, row, self.cases.clock.now())
        self._log(actor, case_id, what, access)
        return read

    def workflow_of(self, actor: Actor, case_id: str) -> CompiledWorkflow:
        """The workflow version a case runs on, for a caller who may know the case (404 otherwise). It discloses
        nothing of the case, so it is not an audited read."""
        with self.db.read() as conn:
            _, access = self._open(conn, actor, case_id)
        return access.workflow

    def events(self, actor: Actor, case_id: str) -> list[EventView]:
        with self.db.read() as conn:
            _, access = self._open(conn, actor, case_id)
            shown = event_views(access, conn.execute(_EVENTS, {"b_case": case_id}).mappings().all())
        self._log(actor, case_id, "events", access)
        return shown

    def document(self, actor: Actor, case_id: str, kind: str, version: int | None = None) -> str:
        """A case document as HTML at the caller's tiers; recorded as a disclosure only once it is given."""
        with self.db.read() as conn:
            row, access = self._open(conn, actor, case_id)
            workflow = access.workflow
            plan_actions = sorted(workflow.plan_actions)
            events = conn.execute(
                select(EVENTS).where(EVENTS.c.case_id == case_id, EVENTS.c.action.in_([*plan_actions, "record_birth"]))
                .order_by(EVENTS.c.seq)
            ).mappings().all()
            named = set(row["parties"].values()) | {e["organisation"] for e in events}
            directory = {org: organisation_contact(conn, org) for org in named}
        plans = [e for e in events if e["action"] in plan_actions]
        births = [e for e in events if e["action"] == "record_birth"]
        html = render(kind, access, row, plans, births[-1] if births else None, version, directory)
        self._log(actor, case_id, "document", access)
        return html

    def disclosures(self, actor: Actor, case_id: str) -> list[DisclosureView]:
        """The accounting of disclosures: who read which tier of the case, when. Lead organisation only."""
        with self.db.read() as conn:
            _, access = self._open(conn, actor, case_id)
            if not access.lead:
                raise Forbidden("only the lead organisation of a case may list its disclosures")
        self._log(actor, case_id, "disclosures", access)
        with self.db.read() as conn:
            rows = conn.execute(
                select(ACCESS_LOG).where(ACCESS_LOG.c.case_id == case_id).order_by(ACCESS_LOG.c.at, ACCESS_LOG.c.id)
            ).mappings()
            return [
                DisclosureView(
                    actor=r["actor_id"], actor_role=r["actor_role"], organisation=r["organisation"], what=r["what"],
                    tiers=r["tiers"].split(",") if r["tiers"] else [], at=r["at"],
                )
                for r in rows
            ]

    # --- many cases ---

    def list_cases(
        self, actor: Actor, *, state: str | None = None, phase: str | None = None, overdue: bool = False,
        limit: int = 50, cursor: str | None = None, updated_since: datetime | None = None,
    ) -> CaseList:
        """The cases the caller's organisation may see, in reference order, without identifying data. A filter on the
        state matches only where the caller may see the state; `overdue`, where the caller may see the overdue work
        (its own deadlines, or all of them for the lead)."""
        self._case_role(actor)
        now = self.cases.clock.now()
        check_filter("state", state, self.catalogue.states)
        check_filter("phase", phase, self.catalogue.phases)
        after = decode_cursor(cursor, (str,))
        size = max(1, min(limit, MAX_PAGE))
        # The page's case ids come from the organisation's party rows alone, each filter a range of one of their
        # indexes (`CaseParty`); then the page's cases by their keys. A case with several party rows for the
        # organisation is one case.
        mine = select(PARTIES.c.case_id).where(PARTIES.c.organisation == actor.organisation)
        if state:
            mine = mine.where(PARTIES.c.state == state)
        if phase:
            mine = mine.where(PARTIES.c.phase == phase)
        if overdue:
            mine = mine.where(PARTIES.c.overdue_from < now)
        if updated_since is not None:  # partners' systems polling for what changed (walks the organisation's cases)
            mine = mine.join(CASES, CASES.c.id == PARTIES.c.case_id).where(CASES.c.updated_at >= updated_since)

        def fetch(conn: Connection, position: Any) -> Sequence[RowMapping]:
            ids = mine.where(PARTIES.c.case_id > position) if position is not None else mine
            page_ids = ids.group_by(PARTIES.c.case_id).order_by(PARTIES.c.case_id).limit(size + 1).subquery()
            query = select(CASES).join(page_ids, CASES.c.id == page_ids.c.case_id).order_by(CASES.c.id)
            return conn.execute(query).mappings().all()

        with self.db.read() as conn:
            shown, more = self._shown(
                conn, actor, fetch, after[0] if after else None, lambda row: row["id"], size,
                lambda row, access: not state or access.sees_state(row["state"]),
            )
        items = [
            CaseSummary(
                id=row["id"], workflow=row["workflow_id"], state=access.state(row["state"]), phase=row["phase"],
                plan_in_place=int(row["facts"].get("plan_version") or 0) >= 1, tiers=access.ordered_tiers(),
                updated_at=row["updated_at"],
            )
            for row, access in shown
        ]
        self.access_log.record([access_row(actor, row["id"], "list", access.tiers, now) for row, access in shown])
        return CaseList(items=items, next_cursor=encode_cursor([shown[-1][0]["id"]]) if more else None)

    def worklist(
        self, actor: Actor, *, limit: int = 50, cursor: str | None = None, state: str | None = None,
        role: str | None = None,
    ) -> Worklist:
        """Open deadlines owned by the caller's organisation, most urgent first."""
        self._case_role(actor)
        now = self.cases.clock.now()
        check_filter("state", state, self.catalogue.states)
        check_filter("role", role, self.catalogue.case_roles)
        after = decode_cursor(cursor, (str, int))
        query = (
            select(DEADLINES, CASES.c.state, CASES.c.workflow_id, CASES.c.workflow_version, CASES.c.parties,
                   CASES.c.facts)
            .join(CASES, CASES.c.id == DEADLINES.c.case_id)
            .where(DEADLINES.c.owner_org == actor.organisation, DEADLINES.c.status == "open",
                   DEADLINES.c.opened_at <= now)
        )
        if state:
            query = query.where(CASES.c.state == state)
        if role:
            query = query.where(DEADLINES.c.owner_role == role)
        size = max(1, min(limit, MAX_PAGE))

        def fetch(conn: Connection, position: Any) -> Sequence[RowMapping]:
            rows = query.where(tuple_(DEADLINES.c.due_at, DEADLINES.c.id) > tuple_(*position)) if position else query
            found = conn.execute(rows.order_by(DEADLINES.c.due_at, DEADLINES.c.id).limit(size + 1)).mappings().all()
            return [{**r, "id": r["case_id"], "deadline_id": r["id"]} for r in found]  # type: ignore[misc]

        with self.db.read() as conn:
            shown, more = self._shown(
                conn, actor, fetch, (_parse_time(after[0]), after[1]) if after else None,
                lambda row: (row["due_at"], row["deadline_id"]), size,
                lambda row, access: not state or access.sees_state(row["state"]),
            )
        items = [
            WorkItem(case=row["case_id"], state=access.state(row["state"]),
                     **deadline_fields(access.workflow, row, now))
            for row, access in shown
        ]
        self.access_log.record([access_row(actor, row["case_id"], "worklist", access.tiers, now)
                                for row, access in shown])
        last = shown[-1][0] if more else None
        return Worklist(items=items,
                        next_cursor=encode_cursor([last["due_at"].isoformat(), last["deadline_id"]]) if last else None)

    def _shown(
        self, conn: Connection, actor: Actor, fetch: Callable[[Connection, Any], Sequence[Mapping[Any, Any]]],
        start: Any, position_of: Callable[[Mapping[Any, Any]], Any], size: int,
        keep: Callable[[Mapping[Any, Any], Access], bool],
    ) -> tuple[list[tuple[Mapping[Any, Any], Access]], bool]:
        """The rows of a list the caller may be shown, in the list's order, and whether there are more: fetched
        `size + 1` at a time past the last row examined, until `size + 1` are shown or none are left. So a page never
        ends early and a cursor only ever points at a row the caller was shown: a row they may not see (a case they
        have no access to now, a state they may not know) never shapes the page, which would tell them it matched."""
        shown: list[tuple[Mapping[Any, Any], Access]] = []
        position = start
        while True:
            rows = fetch(conn, position)
            for row, access in self._decide_many(conn, actor, rows):
                if access and keep(row, access):
                    shown.append((row, access))
                    if len(shown) > size:
                        return shown[:size], True
            if len(rows) <= size:
                return shown, False
            position = position_of(rows[-1])

    def lookup(
        self, actor: Actor, last_name: str, date_of_birth: date, *, with_access: bool = False
    ) -> list[LookupMatch]:
        """Exact match on the lookup fields, for delivery: reference, plan in place, lead contact; nothing else.
        `with_access` answers `LookupAnswer`s, with the caller's own tiers on each match (empty: the case itself
        stays closed to them)."""
        self.check_may_look_up(actor)
        answers: list[LookupMatch] = []
        logged: list[tuple[str, Access]] = []
        now = self.cases.clock.now()
        with self.db.read() as conn:
            for workflow in self.catalogue.latest():
                key = lookup_key(workflow, {
                    workflow.spec.lookup[0]: last_name, workflow.spec.lookup[-1]: date_of_birth.isoformat()
                }) if len(workflow.spec.lookup) == 2 else None
                if key is None:
                    continue
                for row in conn.execute(select(CASES).where(CASES.c.lookup_key == key)).mappings():
                    case_workflow = self._workflow(row)
                    consents = active_consents(row["facts"], case_workflow.today(now))
                    access = self.cases.access(conn, actor, row, _given(consents))
                    if not findable(access, row["state"], row["parties"], consents, self._kind_of(conn)):
                        continue
                    match = {
                        "id": row["id"], "plan_in_place": int(row["facts"].get("plan_version") or 0) >= 1,
                        "lead_contact": organisation_contact(conn, row["parties"].get(case_workflow.spec.escalate_to)),
                    }
                    answers.append(
                        LookupAnswer(**match, tiers=access.ordered_tiers()) if with_access else LookupMatch(**match)
                    )
                    logged.append((row["id"], access))
        # Every lookup is recorded, matched or not (without what was searched for: that would be personal data).
        self.access_log.record(
            [access_row(actor, case_id, "lookup", {STATUS}, now) for case_id, _ in logged]
            or [access_row(actor, None, "lookup", set(), now)]
        )
        return answers

    def check_may_look_up(self, actor: Actor) -> None:
        """`Forbidden` unless the actor's role is one the delivery lookup answers (the workflow's `lookup_roles`)."""
        if actor.role not in self.catalogue.lookup_roles:
            raise Forbidden(f"the {actor.role} role may not look parents up")

    def capta_report(
        self, actor: Actor, start: date, end: date, progress: Progress | None = None,
    ) -> dict[str, Any]:
        """The de-identified outcome figures for a whole month, quarter or year; for the workflow's figure roles
        (analysts, CPS, administrators). Each report run is in the access log, with no case."""
        check_may_read_figures(self.catalogue, actor)
        now = self.cases.clock.now()
        report = outcome_report(self.db, self.catalogue, start, end, now, progress)
        self.access_log.record([access_row(actor, None, "report", set(), now)])
        return report

    # --- pieces ---

    def _open(self, conn: Connection, actor: Actor, case_id: str) -> tuple[RowMapping, Access]:
        row = caselog.load(conn, case_id, lead=self.cases.lead_party)
        access = self.cases.access(conn, actor, row)
        if not access:
            raise NotFound(f"no case {case_id!r}")
        return row, access

    def _decide_many(
        self, conn: Connection, actor: Actor, rows: Sequence[Mapping[Any, Any]]
    ) -> list[tuple[Mapping[Any, Any], Access]]:
        """The access decision for each of many cases (their consents are in their rows)."""
        return [(row, self.cases.access(conn, actor, row)) for row in rows]

    def _kind_of(self, conn: Connection) -> Callable[[str], str | None]:
        return lambda org: self.cases.kind_of(conn, org)

    def _log(self, actor: Actor, case_id: str, what: str, access: Access) -> None:
        """Records the read; returns only once it is committed (a read that is not recorded fails)."""
        self.access_log.record([access_row(actor, case_id, what, access.tiers, self.cases.clock.now())])

    def _workflow(self, row: Mapping[Any, Any]) -> CompiledWorkflow:
        return self.catalogue.workflow(row["workflow_id"], row["workflow_version"])

    def _case_role(self, actor: Actor) -> None:
        if actor.role not in self.catalogue.case_roles:
            raise Forbidden(f"the {actor.role} role sees no case data")


def _given(consents: list[ConsentView]) -> Callable[[], list[ConsentView]]:
    return lambda: consents


def _parse_time(value: str) -> Any:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or not 1900 <= moment.year <= 2199:
        raise InvalidForm("query", [FieldError("cursor", "is not a cursor this list gave out")])
    return moment

