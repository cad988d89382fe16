"""A checked workflow compiled for running: one shared `transitions` machine plus the compiled actions, guards and
deadlines. Built once per (workflow id, version) at start-up; taking an action never builds anything."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from transitions import Machine
from transitions.core import MachineError

from engine.definitions.checks import CASE_ROLES_GROUP, case_keys, expand_states
from engine.definitions.forms import CompiledForm
from engine.definitions.vocabulary import NEW_PLAN_VERSION, OPEN_EVENT
from engine.definitions.workflow import SAME, Duration, GuardRef, WorkflowSpec
from engine.errors import NotAvailable
from engine.guards import GUARDS, Guard, GuardContext, Params


def matches(when: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    """True when every field named in `when` has the given value (or one of the given values) in `data`."""
    for key, wanted in when.items():
        value = data.get(key)
        if isinstance(wanted, list) and value not in wanted:
            return False
        if isinstance(wanted, str) and value != wanted:
            return False
    return True


@dataclass(frozen=True)
class CompiledGuard:
    guard: Guard[Any]
    params: Params
    ref: GuardRef

    def applies(self, state: str, data: Mapping[str, Any] | None) -> bool:
        if self.ref.in_states and state not in self.ref.in_states:
            return False
        if self.ref.when:
            return data is not None and matches(self.ref.when, data)
        return True

    def reasons(self, ctx: GuardContext) -> list[str]:
        found = self.guard.check(ctx, self.params)
        return [self.ref.reason] if found and self.ref.reason else found


@dataclass(frozen=True)
class Branch:
    sources: frozenset[str]
    target: str | None  # None: the state does not change
    when: Mapping[str, Any]
    case_when: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CompiledAction:
    name: str
    title: str
    roles: frozenset[str]
    form: CompiledForm
    guards: tuple[CompiledGuard, ...]
    branches: tuple[Branch, ...]
    record: Mapping[str, str]
    effects: tuple[str, ...]

    @property
    def records_plan(self) -> bool:
        """Whether the action records a (new version of the) Plan of Safe Care."""
        return NEW_PLAN_VERSION in self.effects

    @property
    def sources(self) -> frozenset[str]:
        return frozenset().union(*(b.sources for b in self.branches))

    def targets_from(self, state: str) -> list[str]:
        """The states this action can lead to from `state`, in the order their conditions are tried."""
        targets: list[str] = []
        for branch in self.branches:
            if state in branch.sources:
                target = branch.target or state
                if target not in targets:
                    targets.append(target)
                if not branch.when:
                    break
        return targets


@dataclass(frozen=True)
class CompiledOpening:
    """Another way in (`open.variants`): the opening (its roles and guards, the opening form) with values it sets,
    then one action taken in the same step."""

    name: str
    title: str
    description: str
    opening: CompiledAction
    then: str
    set: Mapping[str, str]
    own_organisation: tuple[str, ...]

    def marks(self, data: Mapping[str, Any]) -> bool:
        """True when opening-form data carry this variant's values (a case it opened)."""
        return all(data.get(key) == value for key, value in self.set.items())


@dataclass(frozen=True)
class MetBy:
    action: str
    when: Mapping[str, Any]
    not_before: Duration | None
    at: str | None = None  # the form field holding when the work was done


@dataclass(frozen=True)
class CompiledDeadline:
    name: str
    title: str
    source: str
    opens_on: str | None  # an action name, or OPEN_EVENT
    opens_to: frozenset[str]
    opens_when: Mapping[str, Any]
    opens_date: str | None  # a case date the deadline opens relative to
    opens_at: str | None  # the case value (a date or time) the clock starts at, for a deadline opened by an event
    offset: Duration
    target: Duration
    due: Duration
    met_by: tuple[MetBy, ...]
    applies_in: frozenset[str]
    owner: str


@dataclass
class CompiledWorkflow:
    id: str
    version: int
    title: str
    path: Path
    spec: WorkflowSpec
    timezone: ZoneInfo
    states: Mapping[str, Any]
    open: CompiledAction
    actions: Mapping[str, CompiledAction]
    deadlines: Mapping[str, CompiledDeadline]
    case_labels: Mapping[str, str]
    machine: Machine = field(repr=False)
    #: The other ways in, by name (`birth`).
    variants: Mapping[str, CompiledOpening] = field(default_factory=dict)

    @cached_property
    def plan_actions(self) -> frozenset[str]:
        """The actions that record a (new version of the) Plan of Safe Care."""
        return frozenset(a.name for a in self.actions.values() if a.records_plan)

    def opened_with(self, data: Mapping[str, Any]) -> str | None:
        """The variant that opened a case, known from its opening data; None for a plain opening."""
        return next((name for name, v in self.variants.items() if v.marks(data)), None)

    @property
    def initial(self) -> str:
        return self.spec.initial

    @cached_property
    def happened_at(self) -> Mapping[str, str]:
        """For each event that starts a clock at the time something really happened (`at`), the field holding that
        time: how late such an event was entered is kept on the case."""
        found: dict[str, str] = {}
        for deadline in self.deadlines.values():
            if deadline.opens_on is not None and deadline.opens_at is not None:
                found.setdefault(deadline.opens_on, deadline.opens_at)
        return found

    def phase(self, state: str) -> str:
        return str(self.states[state].phase)

    def is_terminal(self, state: str) -> bool:
        return bool(self.states[state].terminal)

    def today(self, now: datetime) -> date:
        """The calendar date in the jurisdiction's time zone."""
        return now.astimezone(self.timezone).date()

    def start_of_day(self, day: date) -> datetime:
        """Midnight of `day` in the jurisdiction's time zone (aware)."""
        return datetime(day.year, day.month, day.day, tzinfo=self.timezone)

    def moment(self, value: Any) -> datetime | None:
        """A stored date or date-time as an aware moment: a date is the start of that day in the jurisdiction.
        None when there is no value, or it cannot be read as one."""
        if isinstance(value, datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=self.timezone)
        if isinstance(value, date):
            return self.start_of_day(value)
        if not isinstance(value, str):
            return None
        try:
            if "T" in value:
                return self.moment(datetime.fromisoformat(value))
            return self.start_of_day(date.fromisoformat(value))
        except (ValueError, OverflowError):
            return None

    def fire(
        self, action: str, state: str, data: Mapping[str, Any], case: Mapping[str, Any] | None = None
    ) -> str:
        """The state `action` leads to from `state` with this data (and what the case holds), decided by the
        shared machine."""
        model = _Firing(state)
        event = self.machine.events.get(action)
        try:
            moved = event is not None and event.trigger(model, data=data, case=case or {})
        except MachineError:
            moved = False
        if not moved:
            raise NotAvailable(f"{action} has no target from {state} for this data")
        return model.state


class _Firing:
    """The smallest model the shared machine can move: just a state name, never bound to the machine."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def compile_workflow(spec: WorkflowSpec, path: Path, forms: Mapping[str, CompiledForm]) -> CompiledWorkflow:
    """Compiles a workflow that passed `WorkflowChecker` (names are trusted here)."""
    case_roles = frozenset(spec.roles)

    def roles(names: list[str]) -> frozenset[str]:
        return case_roles if CASE_ROLES_GROUP in names else frozenset(names)

    def guards(refs: list[GuardRef]) -> tuple[CompiledGuard, ...]:
        return tuple(
            CompiledGuard(GUARDS[r.guard], GUARDS[r.guard].params.model_validate(r.params), r) for r in refs
        )

    actions: dict[str, CompiledAction] = {}
    for name, action in spec.actions.items():
        branches: list[Branch] = []
        covered: set[str] = set()
        for branch in action.branches():
            # A group (`*prenatal`) leaves out states an earlier unconditional branch already takes.
            sources = {
                s for s in expand_states(spec, branch.from_)[0] if s not in covered or s in branch.from_
            }
            branches.append(Branch(
                frozenset(sources), None if branch.to == SAME else branch.to, branch.when, branch.case_when
            ))
            if not branch.when:
                covered |= sources
        actions[name] = CompiledAction(
            name, action.title, roles(action.roles), forms[action.form], guards(action.guards),
            tuple(branches), dict(action.record), tuple(action.effects),
        )
    opening = CompiledAction(
        OPEN_EVENT, spec.open.title, roles(spec.open.roles), forms[spec.open.form], guards(spec.open.guards),
        (Branch(frozenset(), spec.initial, {}),), dict(spec.open.record), (),
    )
    variants = {
        name: CompiledOpening(
            name, v.title, v.description,
            CompiledAction(
                OPEN_EVENT, v.title, roles(v.roles), forms[spec.open.form], guards(v.guards),
                (Branch(frozenset(), spec.initial, {}),), dict(spec.open.record), (),
            ),
            v.then, dict(v.set), tuple(v.own_organisation),
        )
        for name, v in spec.open.variants.items()
    }
    deadlines = {
        name: CompiledDeadline(
            name=name, title=d.title, source=d.source, opens_on=d.opens.event,
            opens_to=frozenset(expand_states(spec, d.opens.to)[0]), opens_when=d.opens.when,
            opens_date=d.opens.date, opens_at=d.opens.at, offset=Duration.parse(d.opens.offset),
            target=Duration.parse(d.target),
            due=Duration.parse(d.due),
            met_by=tuple(
                MetBy(m.action, m.when, Duration.parse(m.not_before) if m.not_before else None, m.at)
                for m in d.met_by
            ),
            applies_in=frozenset(expand_states(spec, d.applies_in)[0]), owner=d.owner,
        )
        for name, d in spec.deadlines.items()
    }
    return CompiledWorkflow(
        id=spec.id, version=spec.version, title=spec.title, path=path, spec=spec,
        timezone=ZoneInfo(spec.timezone), states=spec.states, open=opening, actions=actions,
        deadlines=deadlines, case_labels=case_keys(spec, dict(forms)), machine=_build_machine(spec, actions),
        variants=variants,
    )


def _build_machine(spec: WorkflowSpec, actions: Mapping[str, CompiledAction]) -> Machine:
    machine = Machine(
        model=None, states=list(spec.states), initial=spec.initial, auto_transitions=False, send_event=True,
        ignore_invalid_triggers=False,
    )
    for name, action in actions.items():
        for branch in action.branches:
            conditions = [_condition(branch.when, branch.case_when)] if branch.when or branch.case_when else []
            sources: Any = sorted(branch.sources)
            machine.add_transition(name, sources, branch.target, conditions=conditions)  # target None: internal
    return machine


def _condition(when: Mapping[str, Any], case_when: Mapping[str, Any]) -> Any:
    def holds(event: Any) -> bool:
        return matches(when, event.kwargs.get("data") or {}) and matches(case_when, event.kwargs.get("case") or {})

    return holds
