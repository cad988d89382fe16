"""Cases: open them, say what can be done next, take actions, read and verify their history.

Each public method is one unit of work: one transaction that either commits everything it did (the event, the
case row, consents, deadlines) or, on any refusal or failure, nothing at all.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, RowMapping, bindparam, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from engine import caselog, deadlines, onewrite, scope
from engine.access import Access, decide, findable
from engine.access_log import access_row, record_in
from engine.actor import Actor
from engine.caselog import (
    CASES,
    LEAD_ANSWER_COLUMNS,
    CaseRecord,
    EventRecord,
    case_record,
    event_fields,
    event_record,
    record_from,
)
from engine.caselog import EVENTS as EVENTS  # the log's tables, for readers that import them from here
from engine.chain import verify_chain
from engine.clock import Clock
from engine.definitions.catalogue import Catalogue
from engine.definitions.compiled import CompiledAction, CompiledOpening, CompiledWorkflow
from engine.definitions.forms import CompiledForm
from engine.definitions.vocabulary import OPEN_EVENT, RECORD_CONSENT, REVOKE_CONSENT
from engine.errors import (
    AlreadyOpen,
    FieldError,
    Forbidden,
    GuardFailed,
    InvalidForm,
    NotAvailable,
    NotFound,
    PoscError,
    StaleVersion,
)
from engine.fold import CONSENTS as CONSENTS_FACT
from engine.fold import active_consents, case_values, replay
from engine.guards import ConsentView, GuardContext, as_date
from engine.organisations import kinds_of
from engine.readmodels import ActionOption, CasePage, CaseView, Outcome
from engine.store.database import Database
from engine.store.tables import CaseParty, Consent, Deadline, IdempotencyRecord, Organisation
from engine.views import case_page, case_view, logged_open_deadlines

CONSENTS = Consent.__table__  # type: ignore[attr-defined]
PARTIES = CaseParty.__table__  # type: ignore[attr-defined]
ORGANISATIONS = Organisation.__table__  # type: ignore[attr-defined]
DEADLINES = Deadline.__table__  # type: ignore[attr-defined]
IDEMPOTENCY = IdempotencyRecord.__table__  # type: ignore[attr-defined]
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32: no I, L, O, U

# Statements on the hot path, built once (building them per call costs more than running them on SQLite).
_INSERT_CONSENT = insert(CONSENTS)
_REVOKE_CONSENTS = (
    update(CONSENTS).where(CONSENTS.c.case_id == bindparam("b_case"), CONSENTS.c.revoked_on.is_(None))
    .values(revoked_on=bindparam("b_on"), revoked_seq=bindparam("b_seq"))
)
_IDEMPOTENT = select(IDEMPOTENCY).where(
    IDEMPOTENCY.c.actor_id == bindparam("b_actor"), IDEMPOTENCY.c.key == bindparam("b_key")
)
#: `case_parties` rows for organisations covered by a consent are named `consent:<organisation>`.
CONSENT_PARTY = "consent:"
_FORGET_CONSENTED = delete(PARTIES).where(
    PARTIES.c.case_id == bindparam("b_case"), PARTIES.c.party.like(bindparam("b_prefix"))
)



_CASE_IDS = (
    select(CASES.c.id).where(CASES.c.id > bindparam("b_after")).order_by(CASES.c.id).limit(bindparam("b_batch"))
)
#: Open cases of the same parent (lookup digest), for the one-open-case rule.
_SAME_PARENT = select(CASES).where(
    CASES.c.lookup_key == bindparam("b_key"), CASES.c.state.in_(bindparam("b_states", expanding=True))
)
_KIND = select(ORGANISATIONS.c.kind).where(ORGANISATIONS.c.id == bindparam("b_id"))
#: Why an action is refused when the caller may not see the state that refuses it.
NOT_AT_THIS_STAGE = "not available at this stage of the case"


#: What the answer to an action is in the access log.
ANSWERED_ACTION = "action"
#: The kind of disclosure an opening's answer is.
OPENED = "open"


class Shown(NamedTuple):
    """An answer's disclosure, recorded by the write that the answer reports: the access it was decided at, the
    case's open deadlines the write left, and when."""

    access: Access
    open_rows: Sequence[RowMapping]
    at: datetime


class Written(NamedTuple):
    """What a write left: the case, the lead contact read with it, and the answer's disclosure if the write made
    it (`Shown`)."""

    record: CaseRecord
    lead: Mapping[str, Any]
    shown: Shown | None = None


class UnknownAction(NotFound):
    """The workflow has no action of that name."""


class IdempotencyConflict(PoscError):
    """An `Idempotency-Key` reused for a different request."""


def new_reference() -> str:
    """A case reference such as `PC-4F7K-2M9X`: random (it reveals no volume or order), no personal data."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"PC-{chars[:4]}-{chars[4:]}"


def lookup_key(workflow: CompiledWorkflow, values: Mapping[str, Any]) -> str | None:
    """Digest of the workflow's lookup fields, normalised (case and surrounding spaces do not matter)."""
    if not workflow.spec.lookup or any(values.get(f) in (None, "") for f in workflow.spec.lookup):
        return None
    joined = "\x1f".join(str(values[f]).strip().casefold() for f in workflow.spec.lookup)
    return hashlib.sha256(joined.encode()).hexdigest()


class Cases:
    """The case engine over one database and one catalogue of definitions, on an injected clock."""

    def __init__(self, db: Database, catalogue: Catalogue, clock: Clock) -> None:
        self.db = db
        self.catalogue = catalogue
        self.clock = clock
        self._known_organisations: dict[str, str] = {}  # organisation id -> kind
        self._kinds: dict[str, str] = {}
        #: The party whose contact every answer shows (`escalate_to`: the lead CPS office), read with the case.
        self.lead_party = catalogue.latest()[0].spec.escalate_to

    # --- opening ---

    def open(
        self, actor: Actor, workflow_id: str, data: Any, *, idempotency_key: str | None = None,
        new_pregnancy: bool = False, variant: tuple[str, Any] | None = None,
    ) -> Outcome:
        """Opens a case with its opening form (the first event) and answers with it as the opener may see it. The
        answer is a disclosure like any read and is recorded in the access log in the same transaction. A refusal
        leaves nothing behind. A parent with an open case the actor may know of gets no second one unless
        `new_pregnancy` says so. `variant` is another way in, (name, data of its action): the case opens and that
        action is taken in the same step.

        With an idempotency key, a repeat of the same submission (a retry, a double click) opens nothing and
        answers with the case the first one opened, rendered afresh at the caller's access of this moment; the same
        key with different data is refused."""
        how = f"open:{workflow_id}{':new' if new_pregnancy else ''}"
        fingerprint = _fingerprint("", how, data if variant is None else [data, *variant], None)

        def write(conn: Connection) -> Written:
            return self._open_case(conn, actor, workflow_id, data, new_pregnancy, variant, OPENED)

        # The same submission racing this one may be committed first (PostgreSQL): a duplicate key, then a replay.
        return self._once(actor, idempotency_key, fingerprint, OPENED, write, IntegrityError)

    def _once(
        self, actor: Actor, key: str | None, fingerprint: str, what: str,
        write: Callable[[Connection], Written], lost: type[Exception],
        page_of: str | None = None,
    ) -> Outcome:
        """Runs `write` (which returns the case as it left it, and the lead contact it read with it) in one
        transaction and answers with that case as the caller may see it, built from what was written (not read
        back). With an idempotency key, a repeat answers with the first result and writes nothing, and so does a
        write that lost the race (`lost`) to the same request committed meanwhile.

        With `page_of` (a case id), a refusal carries the case's page (`PoscError.page`), read and recorded as a
        disclosure in the same transaction, the refused attempt rolled back to a savepoint."""
        refusal: PoscError | None = None
        try:
            with self.db.write() as conn:
                try:
                    with conn.begin_nested() if page_of is not None else nullcontext():
                        if key is not None:
                            _claim(conn, actor, key, self.clock.now())
                            prior = self._prior(conn, actor, key, fingerprint)
                            if prior is not None:
                                return Outcome(case=self._answer(conn, actor, prior, "replay"), replayed=True)
                        written = write(conn)
                        if key is not None:
                            self._remember(conn, actor, key, fingerprint, written.record.id, written.record.updated_at)
                except (InvalidForm, NotAvailable, StaleVersion, IdempotencyConflict) as refused:
                    if page_of is None:
                        raise
                    raced = key is not None and isinstance(refused, lost)
                    prior = self._prior(conn, actor, key, fingerprint) if raced and key is not None else None
                    if prior is not None:
                        return Outcome(case=self._answer(conn, actor, prior, "replay"), replayed=True)
                    refused.page = self._page(conn, actor, page_of)
                    refusal = refused
                else:
                    answer = self._answer(conn, actor, written.record, what, written.lead, written.shown)
                    return Outcome(case=answer, replayed=False)
        except lost:
            if key is None:
                raise
            with self.db.write() as conn:
                prior = self._prior(conn, actor, key, fingerprint)
                if prior is None:
                    raise
                return Outcome(case=self._answer(conn, actor, prior, "replay"), replayed=True)
        raise refusal

    def _page(self, conn: Connection, actor: Actor, case_id: str) -> CasePage:
        """The case's page as the caller may see it, recorded as a disclosure in this transaction."""
        row = caselog.load(conn, case_id, lead=self.lead_party)
        access = self.access(conn, actor, row)
        if not access:
            raise NotFound(f"no case {case_id!r}")
        now = self.clock.now()
        record_in(conn, [access_row(actor, case_id, "page", access.tiers, now)])
        return case_page(conn, access, row, now, self.options(conn, access, row, now))

    @staticmethod
    def _prior(conn: Connection, actor: Actor, key: str, fingerprint: str) -> str | None:
        """The case a request with this key acted on, if the caller sent it before."""
        prior = conn.execute(_IDEMPOTENT, {"b_actor": actor.id, "b_key": key}).mappings().first()
        if prior is None:
            return None
        if prior["fingerprint"] != fingerprint:
            raise IdempotencyConflict("this Idempotency-Key was already used for a different request; use a new key")
        return str(prior["case_id"])

    @staticmethod
    def _remember(conn: Connection, actor: Actor, key: str, fingerprint: str, case_id: str, at: datetime) -> None:
        """Stores what was done (which request, which case), never the answer: a repeat is answered afresh, at the
        caller's access when it repeats, so a revoked consent holds for retries too."""
        conn.execute(insert(IDEMPOTENCY), {
            "actor_id": actor.id, "key": key, "fingerprint": fingerprint, "case_id": case_id,
            "response": {}, "created_at": at,
        })

    def _answer(
        self, conn: Connection, actor: Actor, case: str | CaseRecord, what: str, lead: Mapping[str, Any] | None = None,
        shown: Shown | None = None,
    ) -> CaseView:
        """The case (its id, or the record a write just left, with the lead contact read before it) as the caller
        may see it now, recorded as a disclosure in this transaction (`shown`: recorded by the write already, which
        read the open deadlines with it). A replay to a caller who may no longer know the case is refused as if it
        did not exist."""
        if isinstance(case, str):
            row: Mapping[Any, Any] = caselog.load(conn, case, lead=self.lead_party)
        else:
            row = {**vars(case), **(lead or {})}
        case_id = row["id"]
        if shown is not None:
            return case_view(conn, shown.access, row, shown.at, open_rows=shown.open_rows)
        access = self.access(conn, actor, row)
        if not access and what == "replay":
            raise NotFound(f"no case {case_id!r}")
        now = self.clock.now()
        log = access_row(actor, case_id, what, access.tiers, now)
        if not access:  # nothing shown but the reference: nothing more to read
            record_in(conn, [log])
            return case_view(conn, access, row, now)
        return case_view(conn, access, row, now, open_rows=logged_open_deadlines(conn, case_id, log))

    def _open_case(
        self, conn: Connection, actor: Actor, workflow_id: str, data: Any, new_pregnancy: bool = False,
        variant: tuple[str, Any] | None = None, what: str = "open",
    ) -> Written:
        """Opens the case (and, with `variant`, takes its action); returns the case as it left it, the lead's
        contact where it was read, and the answer's disclosure (of kind `what`) where the write made it."""
        workflow = self.catalogue.workflow(workflow_id)
        way = self._way_in(workflow, variant)
        opening = way.opening if way is not None else workflow.open
        _check_role(actor, opening)
        clean = opening.form.validate(_with_set_values(workflow, way, data))
        now = self.clock.now()
        self._check_organisations(conn, opening.form, clean, actor, way.own_organisation if way else ())
        ctx = self._guard_context(conn, workflow, opening, "", clean, {}, None, now, actor=actor)
        _refuse_on_guards(opening, ctx, workflow.initial)
        # Where the opening step leaves the case: the opening's clocks open only if they run there.
        settles_in, then_data = workflow.initial, None
        if way is not None and variant is not None:
            settles_in, then_data = self._check_then(conn, workflow, way, actor, clean, variant[1], now)
        if not new_pregnancy:
            self._refuse_a_second_open_case(conn, workflow, actor, lookup_key(workflow, clean), now)
        case_id = new_reference()
        new = caselog.starting(
            workflow, case_id, action=OPEN_EVENT, form=opening.form.id, actor=actor, now=now, data=clean,
            lookup_key=lookup_key(workflow, clean),
        )
        folded = new.folded
        work = deadlines.plan(
            workflow, case_id=case_id, seq=1, event=OPEN_EVENT, from_state=None,
            to_state=settles_in, data=clean, values=case_values(clean, folded.facts),
            parties=folded.parties, previous_parties={}, now=now,
        )
        lead = folded.parties.get(workflow.spec.escalate_to)
        then = way is not None and then_data is not None
        record = record_from(case_id, workflow, clean, folded, now, now)
        shown: Shown | None = None
        answered: Mapping[str, Any] = {}
        if conn.dialect.name == "postgresql" and work.simple:
            # One statement (`engine.onewrite`): the case, its first event, its deadlines, its party rows and,
            # unless an action follows, the answer's access-log row, answering with the open deadlines and the
            # lead's contact.
            access = None if then else self.access(conn, actor, vars(record))
            log = access_row(actor, case_id, what, access.tiers, now) if access else None
            started = caselog.start(conn, new, onewrite.also(
                work, consent=None, parties=folded.parties, lead=lead, state=folded.state, phase=folded.phase,
                refresh=None, log=log,
            ))
            if access and started is not None:
                shown, answered = Shown(access, started[0], now), started[1]
        else:
            caselog.start(conn, new)
            deadlines.run(conn, work)
            scope.write_parties(
                conn, case_id, folded.parties, state=folded.state, phase=folded.phase, lead=lead
            )  # after the deadlines: the rows carry them
        if way is not None and then_data is not None:  # checked above, on the case as the opening left it
            row = caselog.load(conn, case_id, for_update=True, lead=self.lead_party)
            answered = {k: row[k] for k in LEAD_ANSWER_COLUMNS}
            record, shown = self._record(
                conn, workflow, row, actor, workflow.actions[way.then], then_data, settles_in, now,
                answer=(answered, what),
            )
        return Written(record, answered, shown)

    def check_may_open(self, actor: Actor, workflow_id: str, variant: str | None = None) -> None:
        """`Forbidden` unless the actor's role may open a case of the workflow this way (a page asks before it
        shows the form; opening asks again)."""
        workflow = self.catalogue.workflow(workflow_id)
        way = self._way_in(workflow, (variant, None)) if variant is not None else None
        _check_role(actor, way.opening if way is not None else workflow.open)

    @staticmethod
    def _way_in(workflow: CompiledWorkflow, variant: tuple[str, Any] | None) -> CompiledOpening | None:
        if variant is None:
            return None
        way = workflow.variants.get(variant[0])
        if way is None:
            known = ", ".join(sorted(workflow.variants)) or "none"
            raise InvalidForm(OPEN_EVENT, [FieldError(
                variant[0], f"workflow {workflow.id} cannot be opened with {variant[0]!r} (other ways in: {known})"
            )])
        return way

    def _check_then(
        self, conn: Connection, workflow: CompiledWorkflow, way: CompiledOpening, actor: Actor,
        opening: Mapping[str, Any], data: Any, now: datetime,
    ) -> tuple[str, dict[str, Any]]:
        """Checks the action a variant takes as the case opens, on the case as the opening leaves it, before
        anything is written; returns the state it leads to and its clean data. Its form errors are named under
        the variant (`birth.born_at`)."""
        action = workflow.actions[way.then]
        _check_role(actor, action)
        try:
            clean = action.form.validate(data)
            self._check_organisations(conn, action.form, clean, actor, workflow.spec.actions[way.then].own_organisation)
        except InvalidForm as invalid:
            raise InvalidForm(invalid.form, [
                FieldError(f"{way.name}.{e.field}" if e.field else way.name, e.message) for e in invalid.errors
            ]) from None
        ctx = self._guard_context(conn, workflow, action, workflow.initial, clean, opening, None, now, actor=actor)
        _refuse_on_guards(action, ctx, workflow.initial)
        return workflow.fire(way.then, workflow.initial, clean, ctx.case), clean

    def _refuse_a_second_open_case(
        self, conn: Connection, workflow: CompiledWorkflow, actor: Actor, key: str | None, now: datetime
    ) -> None:
        """One open case per pregnancy: a parent (same lookup fields) with an open case the caller may know of, by
        its tiers or as the delivery lookup would find it, is not opened twice. A case the caller may not know
        exists (a Part 2 program's without consent, or any case for a role the lookup does not answer) is never named,
        and does not stop the opening."""
        if key is None:
            return
        open_states = [s for s in workflow.states if not workflow.is_terminal(s)]
        for row in conn.execute(_SAME_PARENT, {"b_key": key, "b_states": open_states}).mappings().all():
            consents = _memo(partial(active_consents, row["facts"], workflow.today(now)))
            access = self.access(conn, actor, row, consents)
            if access or (actor.role in workflow.spec.lookup_roles and findable(
                access, row["state"], row["parties"], consents(), partial(self.kind_of, conn)
            )):
                raise AlreadyOpen(
                    f"case {row['id']} is already open for this parent",
                    row["id"],
                    [f"a case is already open for this parent ({row['id']}); if this is a new pregnancy, say so"],
                )

    # --- reading ---

    def get(self, case_id: str) -> CaseRecord:
        with self.db.read() as conn:
            return case_record(caselog.load(conn, case_id))

    def history(self, case_id: str) -> list[EventRecord]:
        with self.db.read() as conn:
            caselog.load(conn, case_id)
            return [event_record(r) for r in caselog.events(conn, case_id)]

    def actions(self, actor: Actor, case_id: str) -> list[ActionOption]:
        """The actions of the current state the caller's role may take, with `allowed` now and the reasons when
        not. Guards that depend on the form's data are left to the moment the action is taken."""
        with self.db.read() as conn:
            row = caselog.load(conn, case_id)
            access = self.access(conn, actor, row)
            if not access:
                raise NotFound(f"no case {case_id!r}")
            return self.options(conn, access, row, self.clock.now())

    def options(self, conn: Connection, access: Access, row: RowMapping, now: datetime) -> list[ActionOption]:
        """The actions the reader's role may take on the case (see `actions`). Where the reader may not see the
        case's state, the options are those of the whole phase, and those the state does not allow say only that
        they are not available at this stage: the list never gives the hidden state away."""
        workflow, actor, state = access.workflow, access.actor, row["state"]
        consents = _memo(lambda: active_consents(row["facts"], workflow.today(now)))
        ctx = self._guard_context(conn, workflow, None, state, None, row["data"], row, now, consents, actor)
        shown_state = access.state(state)
        phase_states = {s for s in workflow.states if workflow.phase(s) == row["phase"]}
        options = []
        for action in workflow.actions.values():
            if actor.role not in action.roles:
                continue
            if state in action.sources:
                reasons = [
                    reason for compiled in action.guards if not compiled.guard.uses_form
                    and compiled.applies(state, None) for reason in compiled.reasons(ctx)
                ]
            elif shown_state is None and action.sources & phase_states:
                reasons = [NOT_AT_THIS_STAGE]
            else:
                continue
            targets = [t for t in action.targets_from(state) if access.sees_state(t)]
            options.append(ActionOption(
                action=action.name, title=action.title, form=action.form.id, targets=targets,
                target=targets[0] if len(targets) == 1 else None, allowed=not reasons, reasons=reasons,
            ))
        return options

    @staticmethod
    def role_refusal(actor: Actor, action: CompiledAction) -> ActionOption | None:
        """The option as refused by role alone (the action list leaves out other roles' actions; a page asked for
        one directly says why instead)."""
        if actor.role in action.roles:
            return None
        return ActionOption(
            action=action.name, title=action.title, form=action.form.id, targets=[], target=None, allowed=False,
            reasons=[_role_reason(actor, action)],
        )

    def verify(self, case_id: str) -> list[str]:
        """Problems found by checking the event chain and replaying the events against the case row."""
        with self.db.read() as conn:
            row = caselog.load(conn, case_id)
            events = [event_fields(r) for r in caselog.events(conn, case_id)]
        problems = verify_chain(events)
        folded = replay(self._workflow(row), events)
        for key in ("state", "phase", "version", "facts", "parties", "last_hash"):
            replayed = getattr(folded, key)
            if replayed != row[key]:
                problems.append(f"case {key} {row[key]!r} differs from the replay of its events ({replayed!r})")
        return problems

    def case_ids(self, batch: int = 1000) -> Iterator[str]:
        """Every case's reference, in order, read a batch at a time (for `posc verify`)."""
        after = ""
        while True:
            with self.db.read() as conn:
                found = conn.execute(_CASE_IDS, {"b_after": after, "b_batch": batch}).scalars().all()
            yield from found
            if len(found) < batch:
                return
            after = found[-1]

    # --- acting ---

    def act(
        self, actor: Actor, case_id: str, action: str, data: Any, *, expected_version: int | None = None,
        idempotency_key: str | None = None, page_if_refused: bool = False,
    ) -> Outcome:
        """Validates, guards and takes one action, appending exactly one event (any refusal changes nothing), and
        answers with the case as the caller may see it now. The answer is a disclosure and is recorded in the access
        log in the action's own transaction. `expected_version` makes it conditional (`StaleVersion`).

        With an idempotency key, a repeat of the same request changes nothing and is answered afresh at the
        caller's access of this moment (a caller who lost access gets 404); the same key with a different request
        is refused. With `page_if_refused` (a web form), a refusal carries the case's page (`PoscError.page`), read
        in the same transaction."""
        fingerprint = _fingerprint(case_id, action, data, expected_version)

        def write(conn: Connection) -> Written:
            return self._take(conn, actor, case_id, action, data, expected_version, ANSWERED_ACTION)

        # A double click can lose the race to its own first click, committed while this one waited for the case
        # (PostgreSQL): a stale version, then the first click's result.
        return self._once(
            actor, idempotency_key, fingerprint, ANSWERED_ACTION, write, StaleVersion,
            case_id if page_if_refused else None,
        )

    def _take(
        self, conn: Connection, actor: Actor, case_id: str, action: str, data: Any, expected_version: int | None,
        what: str,
    ) -> Written:
        """Takes the action on the case, locked; returns the case as it left it, and the lead contact read with it
        (for the answer, a disclosure of kind `what`)."""
        row = caselog.load(conn, case_id, for_update=True, lead=self.lead_party)
        workflow = self._workflow(row)
        now = self.clock.now()
        access = self.access(conn, actor, row)
        if not access:
            raise NotFound(f"no case {case_id!r}")
        if expected_version is not None and row["version"] != expected_version:
            raise StaleVersion(
                f"case {case_id} is at version {row['version']}, not {expected_version}: it changed since you read it"
            )
        compiled = workflow.actions.get(action)
        if compiled is None:
            raise UnknownAction(f"workflow {workflow.id} has no action {action!r}")
        _check_role(actor, compiled)
        state = row["state"]
        if state not in compiled.sources:
            if not access.sees_state(state):
                raise NotAvailable(f"{action} is not available", [NOT_AT_THIS_STAGE])
            allowed_from = ", ".join(sorted(compiled.sources))
            raise NotAvailable(
                f"{action} is not available in state {state}",
                [f"the case is in state {state}; {action} can be taken from {allowed_from}"],
            )
        clean = compiled.form.validate(data)
        self._check_organisations(conn, compiled.form, clean, actor, workflow.spec.actions[action].own_organisation)
        consents = _memo(lambda: active_consents(row["facts"], workflow.today(now)))
        ctx = self._guard_context(conn, workflow, compiled, state, clean, row["data"], row, now, consents, actor)
        _refuse_on_guards(compiled, ctx, state)
        to_state = workflow.fire(action, state, clean, ctx.case)
        lead = {k: row[k] for k in LEAD_ANSWER_COLUMNS}
        record, shown = self._record(conn, workflow, row, actor, compiled, clean, to_state, now, answer=(lead, what))
        return Written(record, lead, shown)

    def _record(
        self, conn: Connection, workflow: CompiledWorkflow, row: Mapping[Any, Any], actor: Actor,
        compiled: CompiledAction, clean: Mapping[str, Any], to_state: str, now: datetime,
        answer: tuple[Mapping[str, Any], str] | None = None,
    ) -> tuple[CaseRecord, Shown | None]:
        """Writes an action already checked (role, state, form, guards, target) on the case `row`, read for update:
        the event, its effects, the parties and the deadlines. On PostgreSQL the usual action is one statement
        (`engine.onewrite`); the rare ones, and every action on SQLite, write one thing after another.

        With `answer` (the lead contact read with the case, and the kind of disclosure the answer is), the
        PostgreSQL statement also records the answer's disclosure to `actor` and reads the open deadlines it shows
        (`Shown`), where the caller may still see the case."""
        case_id, state = row["id"], row["state"]
        renames = bool(set(compiled.record) & set(workflow.spec.lookup))  # a corrected name: the lookup follows
        appending = caselog.prepare(
            workflow, row, action=compiled.name, form=compiled.form.id, to_state=to_state, actor=actor,
            now=now, data=clean, rekey=partial(lookup_key, workflow) if renames else None,
        )
        seq, before, folded = appending.seq, appending.before, appending.after
        values = case_values(row["data"], folded.facts)
        lead = folded.parties.get(workflow.spec.escalate_to)
        work = deadlines.plan(
            workflow, case_id=case_id, seq=seq, event=compiled.name, from_state=state, to_state=to_state,
            data=clean, values=values, parties=folded.parties, previous_parties=before.parties, now=now,
            previous_values=case_values(row["data"], row["facts"]) if compiled.record else None,
        )
        consent = _consent_row(case_id, seq, clean) if RECORD_CONSENT in compiled.effects else None
        # Parties added or reassigned, and the organisations a new consent covers, are written whole.
        whole = {**scope.changed_parties(before.parties, folded.parties),
                 **(_consent_parties(row["facts"], clean) if consent is not None else {})}
        state_moved, phase_moved = folded.state != before.state, folded.phase != before.phase
        if conn.dialect.name == "postgresql" and work.simple and REVOKE_CONSENT not in compiled.effects:
            # One statement (`engine.onewrite`); the party rows' overdue times are refreshed whenever the deadlines
            # or the parties may have changed (only rows that differ are written).
            may_move = work.settles or bool(work.rows) or folded.parties != before.parties
            refresh = (state_moved, phase_moved, may_move) if state_moved or phase_moved or may_move else None
            record = record_from(case_id, workflow, row["data"], folded, row["opened_at"], now)
            access = self.access(conn, actor, {**vars(record), **answer[0]}) if answer is not None else None
            log = access_row(actor, case_id, answer[1], access.tiers, now) if answer is not None and access else None
            written = caselog.write(conn, appending, onewrite.also(
                work, consent=consent, parties=whole, lead=lead, state=folded.state, phase=folded.phase,
                refresh=refresh, log=log,
            ))
            shown = Shown(access, written.answer, now) if access and written.answer is not None else None
            return record, shown
        caselog.write(conn, appending)
        if consent is not None:
            conn.execute(_INSERT_CONSENT, consent)
        if REVOKE_CONSENT in compiled.effects:
            # Revocation takes effect at once (the next request), whatever date the parent's letter carries.
            conn.execute(_REVOKE_CONSENTS, {"b_case": case_id, "b_on": as_date(clean["revoked_on"]), "b_seq": seq})
            conn.execute(_FORGET_CONSENTED, {"b_case": case_id, "b_prefix": f"{CONSENT_PARTY}%"})
        if whole:
            scope.write_parties(conn, case_id, whole, state=folded.state, phase=folded.phase, lead=lead)
        moved = deadlines.run(conn, work)
        # New party rows were written whole; the others follow a new state or phase, a change of open work or of
        # who owns it, and a new lead.
        scope.refresh(
            conn, case_id, state=folded.state, phase=folded.phase, lead=lead, state_moved=state_moved,
            phase_moved=phase_moved, deadlines_moved=moved or folded.parties != before.parties,
        )
        return record_from(case_id, workflow, row["data"], folded, row["opened_at"], now), None

    def access(
        self, conn: Connection, actor: Actor, row: Mapping[Any, Any],
        consents: Callable[[], list[ConsentView]] | None = None,
    ) -> Access:
        """The one access decision (`engine.access.decide`) for this actor on this case, now."""
        workflow = self._workflow(row)
        if consents is None:
            today = workflow.today(self.clock.now())
            consents = _memo(lambda: active_consents(row["facts"], today))
        return decide(workflow, actor, row["parties"], consents, lambda org: self.kind_of(conn, org))

    def kind_of(self, conn: Connection, organisation: str) -> str | None:
        """An organisation's kind. Kinds never change, so each is read once."""
        kind = self._kinds.get(organisation)
        if kind is None:
            kind = conn.execute(_KIND, {"b_id": organisation}).scalar()
            if kind is not None:
                self._kinds[organisation] = kind
        return kind

    # --- pieces ---

    def _check_organisations(
        self, conn: Connection, form: CompiledForm, clean: Mapping[str, Any], actor: Actor,
        own_organisation: Sequence[str] = (),
    ) -> None:
        """Every organisation the data names must exist and be of a kind its field accepts; and where the actor's
        own organisation is of a kind an `own_organisation` field accepts, that field must name it (a treatment
        program records admissions only for itself). Organisations are never deleted and their kinds never change,
        so each one seen is remembered with its kind and only new names cost a query."""
        named = form.organisations_with_kinds(dict(clean))
        unseen = {org for _, org, _ in named} - self._known_organisations.keys()
        if own_organisation and actor.organisation not in self._known_organisations:
            unseen.add(actor.organisation)
        if unseen:
            self._known_organisations.update(kinds_of(conn, unseen))
        errors = []
        for path, org, kinds in named:
            kind = self._known_organisations.get(org)
            if kind is None:
                errors.append(FieldError(path, f"unknown organisation {org!r}"))
            elif kind not in kinds:
                message = f"{org} is {_a(kind)} organisation; this field takes {_a(_either(kinds))} organisation"
                errors.append(FieldError(path, message))
        wrong = {error.field for error in errors}
        own_kind = self._known_organisations.get(actor.organisation)
        errors.extend(_not_own_organisation(
            form, clean, actor, own_kind, [f for f in own_organisation if f not in wrong]
        ))
        if errors:
            raise InvalidForm(form.id, errors)

    def _workflow(self, row: Mapping[Any, Any]) -> CompiledWorkflow:
        return self.catalogue.workflow(row["workflow_id"], row["workflow_version"])

    def _guard_context(
        self, conn: Connection, workflow: CompiledWorkflow, action: CompiledAction | None, state: str,
        data: Mapping[str, Any] | None, opening: Mapping[str, Any], row: RowMapping | None, now: datetime,
        consents: Callable[[], list[ConsentView]] | None = None, actor: Actor | None = None,
    ) -> GuardContext:
        today = workflow.today(now)
        case_id = row["id"] if row is not None else None
        if consents is None:
            consents = _memo(lambda: active_consents(row["facts"], today) if row is not None else [])
        form = action.form if action is not None else workflow.open.form
        return GuardContext(
            state=state, data=data or {}, case=case_values(opening, row["facts"] if row is not None else {}),
            form=form.spec, case_labels=workflow.case_labels, now=now, today=today, timezone=workflow.timezone,
            consents=consents,
            deadline_status=lambda name: _deadline_status(conn, case_id, name) if case_id else None,
            deadline_titles={n: d.title for n, d in workflow.deadlines.items()},
            actor_organisation=actor.organisation if actor is not None else "",
            parties=row["parties"] if row is not None else {},
        )


# --- module-level pieces (no state of their own) ---------------------------------------------------------------

T = TypeVar("T")


def _memo(load: Callable[[], T]) -> Callable[[], T]:
    """Loads once, on first use (consents are read only when a rule needs them)."""
    cached: list[T] = []

    def get() -> T:
        if not cached:
            cached.append(load())
        return cached[0]

    return get


def _fingerprint(case_id: str, action: str, data: Any, expected_version: int | None) -> str:
    body = json.dumps([case_id, action, data, expected_version], sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))


#: How a message names an organisation of each case role.
_ORGANISATION_NOUN = {
    "cps": "CPS office", "treatment": "treatment program", "hospital": "hospital", "prenatal": "prenatal clinic",
    "peer": "peer organisation",
}


def _not_own_organisation(
    form: CompiledForm, clean: Mapping[str, Any], actor: Actor, own_kind: str | None, fields: Sequence[str]
) -> list[FieldError]:
    """The `own_organisation` fields that name another organisation than the actor's, where the actor's own
    organisation (of kind `own_kind`) is of a kind the field accepts. An actor of another kind, where a workflow
    lets one take the action, names the organisation it records for."""
    noun = _ORGANISATION_NOUN.get(own_kind or "", f"{own_kind} organisation")
    errors = []
    for field_id in fields:
        spec = form.spec.field(field_id)
        if spec is None or own_kind not in (spec.kinds or ()) or clean.get(field_id) in (None, actor.organisation):
            continue
        errors.append(FieldError(field_id, f"{_a(noun)} records {_a(form.spec.title.lower())} only for itself "
                                           f"(your organisation is {actor.organisation})"))
    return errors


def _either(kinds: Sequence[str]) -> str:
    return kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} or {kinds[-1]}"


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _with_set_values(workflow: CompiledWorkflow, way: CompiledOpening | None, data: Any) -> Any:
    """The opening data with a variant's set values (a different value given for one is refused). A plain opening
    may not carry every value that marks a variant: such a case opens that way or not at all."""
    if not isinstance(data, Mapping):
        return data  # the form says what is wrong with it
    if way is not None:
        errors = [
            FieldError(key, f"must be {value!r} when you {way.title.lower()}")
            for key, value in way.set.items() if data.get(key) not in (None, "", value)
        ]
        if errors:
            raise InvalidForm(workflow.open.form.id, errors)
        return {**data, **way.set}
    for other in workflow.variants.values():
        if other.marks(data):
            key, value = next(iter(other.set.items()))
            raise InvalidForm(workflow.open.form.id, [FieldError(
                key, f"{value!r} is kept for cases opened with the {other.name} ({other.title.lower()})"
            )])
    return data


def _check_role(actor: Actor, action: CompiledAction) -> None:
    if actor.role not in action.roles:
        raise Forbidden(_role_reason(actor, action))


def _role_reason(actor: Actor, action: CompiledAction) -> str:
    return f"the {actor.role} role may not {action.title[0].lower()}{action.title[1:]} " \
        f"(roles allowed: {', '.join(sorted(action.roles))})"


def _refuse_on_guards(action: CompiledAction, ctx: GuardContext, state: str) -> None:
    reasons: list[str] = []
    for compiled in action.guards:
        if compiled.applies(state, ctx.data):
            reasons.extend(compiled.reasons(ctx))
    if reasons:
        raise GuardFailed(f"{action.name} refused: {'; '.join(reasons)}", reasons)


def _consent_row(case_id: str, seq: int, clean: Mapping[str, Any]) -> dict[str, Any]:
    """The consent row a recorded consent writes."""
    return {
        "case_id": case_id, "event_seq": seq, "signed_on": as_date(clean["signed_on"]),
        "expires_on": as_date(clean["expires_on"]), "organisations": list(clean.get("organisations", [])),
        "categories": list(clean.get("categories", [])),
    }


def _consent_parties(facts_before: Mapping[str, Any], clean: Mapping[str, Any]) -> dict[str, str]:
    """Consented organisations can find the case in their lists: a party row each, from the first consent naming
    them until a revocation. The party rows a recorded consent adds (the organisations of the case's consents fact
    have theirs already)."""
    consents = facts_before.get(CONSENTS_FACT) or ()
    known = {f"{CONSENT_PARTY}{org}": org for entry in consents for org in entry["organisations"]}
    covered = {f"{CONSENT_PARTY}{org}": org for org in clean.get("organisations", [])}
    return scope.changed_parties(known, covered)


#: How long an `Idempotency-Key` is remembered: a repeat within it is answered with the first result; after it the
#: key may be used again for a new request.
IDEMPOTENCY_TTL = timedelta(hours=24)
_FORGET_EXPIRED_KEY = delete(IDEMPOTENCY).where(
    IDEMPOTENCY.c.actor_id == bindparam("b_actor"), IDEMPOTENCY.c.key == bindparam("b_key"),
    IDEMPOTENCY.c.created_at < bindparam("b_before"),
)


def _claim(conn: Connection, actor: Actor, key: str, now: datetime) -> None:
    """Takes the caller's idempotency key for this transaction, before its record is read: the same request sent
    again meanwhile (another server process, another connection) waits here until this one commits, then finds its
    record and replays it, instead of acting a second time. SQLite's one writer does this already; PostgreSQL takes
    an advisory lock on the key until the commit. A record past `IDEMPOTENCY_TTL` is forgotten, freeing the key."""
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_KEY, {"b_key": f"{actor.id}\x1f{key}"})
    conn.execute(_FORGET_EXPIRED_KEY, {"b_actor": actor.id, "b_key": key, "b_before": now - IDEMPOTENCY_TTL})


_LOCK_KEY = text("SELECT pg_advisory_xact_lock(hashtextextended(:b_key, 0))")


def _deadline_status(conn: Connection, case_id: str, name: str) -> str | None:
    return conn.execute(
        select(DEADLINES.c.status).where(DEADLINES.c.case_id == case_id, DEADLINES.c.name == name)
        .order_by(DEADLINES.c.id.desc()).limit(1)
    ).scalar()
