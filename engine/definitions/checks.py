"""Checks that a workflow hangs together, each problem reported at its own line.

The `transitions` library checks nothing up front (an unknown state fails only when an action fires), so every
name a definition uses is checked here, together with the pathway's invariants: every state reachable, a way out
of every non-terminal state, a target for every source of every action, a way to meet every deadline.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from engine.actor import ROLES as USER_ROLES
from engine.definitions.forms import CompiledForm, FieldSpec
from engine.definitions.source import Location, Source
from engine.definitions.vocabulary import EFFECTS, OPEN_EVENT
from engine.definitions.vocabulary import MISSED_EVENT as SYSTEM_EVENT
from engine.definitions.workflow import SAME, Duration, WorkflowSpec
from engine.guards import GUARDS

CASE_ROLES_GROUP = "*case"
OPEN_GROUP = "*open"
TIERS = ("status", "plan", "treatment")
PARTY_PREFIX = "party:"
#: Organisation kinds that take part in cases (the others are `state` for analysts and `admin`).
PARTY_KINDS = ("cps", "treatment", "hospital", "prenatal", "peer")
#: Case values the engine keeps itself, beside the opening form's fields and `record`ed facts.
BUILTIN_CASE_KEYS = {"plan_version": "plan version", "opened_by_org": "identifying organisation"}


def expand_states(spec: WorkflowSpec, names: Iterable[str]) -> tuple[list[str], list[str]]:
    """Expands `*phase` and `*open` groups; returns (states, unknown names)."""
    states: list[str] = []
    unknown: list[str] = []
    for name in names:
        if name == OPEN_GROUP:
            found = [s for s, st in spec.states.items() if not st.terminal]
        elif name.startswith("*"):
            found = [s for s, st in spec.states.items() if st.phase == name[1:]]
            if not found:
                unknown.append(name)
        elif name in spec.states:
            found = [name]
        else:
            unknown.append(name)
            found = []
        states.extend(s for s in found if s not in states)
    return states, unknown


def case_keys(spec: WorkflowSpec, forms: dict[str, CompiledForm]) -> dict[str, str]:
    """Every value a case holds (key → human label): opening form fields, recorded facts, built-ins."""
    keys = dict(BUILTIN_CASE_KEYS)
    opening = forms.get(spec.open.form)
    if opening:
        keys.update({f.id: f.label for f in opening.spec.fields})
    sources = [(spec.open.form, spec.open.record)] + [(a.form, a.record) for a in spec.actions.values()]
    for form_id, record in sources:
        form = forms.get(form_id)
        for fact, field_id in record.items():
            found = form.spec.field(field_id) if form else None
            keys.setdefault(fact, found.label if found else fact.replace("_", " "))
    return keys


class WorkflowChecker:
    def __init__(self, spec: WorkflowSpec, source: Source, forms: dict[str, CompiledForm]) -> None:
        self.spec = spec
        self.source = source
        self.forms = forms
        self.problems: list[str] = []
        self.case_keys = case_keys(spec, forms)

    def run(self) -> list[str]:
        self.check_phases_and_states()
        self.check_parties()
        self.check_disclosure_rules()
        self.check_open()
        for name in self.spec.actions:
            self.check_action(name)
        self.check_reachability()
        for name in self.spec.deadlines:
            self.check_deadline(name)
        return self.problems

    def add(self, location: Location, message: str) -> None:
        self.problems.append(self.source.problem(location, message))

    # --- one check per invariant ---

    def check_phases_and_states(self) -> None:
        spec = self.spec
        for name, state in spec.states.items():
            if state.phase not in spec.phases:
                self.add(("states", name, "phase"), f"state {name}: unknown phase {state.phase!r}")
        for index, phase in enumerate(spec.phases):
            if not any(s.phase == phase for s in spec.states.values()):
                self.add(("phases", index), f"phase {phase} has no states")
        if spec.initial not in spec.states:
            self.add(("initial",), f"initial state {spec.initial!r} is not a state of this workflow")
        elif spec.states[spec.initial].terminal:
            self.add(("initial",), f"initial state {spec.initial} is terminal")
        if not any(s.terminal for s in spec.states.values()):
            self.add(("states",), "no state is terminal: no case could ever be closed")

    def check_parties(self) -> None:
        if self.spec.escalate_to not in self.spec.parties:
            self.add(("escalate_to",), f"escalate_to: {self.spec.escalate_to!r} is not one of the parties")
        opening = self.forms.get(self.spec.open.form)
        for index, key in enumerate(self.spec.lookup):
            if opening is not None and opening.spec.field(key) is None:
                self.add(("lookup", index), f"lookup: form {opening.id} has no field {key!r}")
        for index, role in enumerate(self.spec.lookup_roles):
            if role not in self.spec.roles:
                self.add(("lookup_roles", index), f"lookup_roles: {role!r} is not a case role")
        for index, role in enumerate(self.spec.figure_roles):
            if role not in USER_ROLES:
                self.add(("figure_roles", index), f"figure_roles: unknown role {role!r} ({', '.join(USER_ROLES)})")
        for party, tiers in self.spec.disclosure.items():
            if party != "opened_by" and party not in self.spec.parties:
                self.add(("disclosure", party), f"disclosure: {party!r} is not one of the parties (or opened_by)")
            if "status" not in tiers:
                self.add(("disclosure", party), f"disclosure: {party} must see the status tier at least")
        for role, key in self.spec.parties.items():
            if role not in self.spec.roles:
                self.add(("parties", role), f"parties: unknown role {role!r}")
            if key not in self.case_keys:
                self.add(("parties", role), f"parties: {role}: the case holds no value {key!r}")

    def check_disclosure_rules(self) -> None:
        """Minimum necessary and role ceilings name real states, events, parties, tiers, forms and fields."""
        spec = self.spec
        events = {OPEN_EVENT, SYSTEM_EVENT, *spec.actions}
        for kind in spec.consent_first:
            if kind not in PARTY_KINDS:
                self.add(("consent_first",), f"consent_first: {kind!r} is not an organisation kind that takes part "
                         f"in cases ({', '.join(PARTY_KINDS)})")
        rules = spec.minimum_necessary
        for group, names, known in (("states", rules.states, spec.states), ("events", rules.events, events)):
            for name, audience in names.items():
                at: Location = ("minimum_necessary", group, name)
                if name not in known:
                    self.add(at, f"minimum_necessary: {group}: {name!r} is not one of the workflow's {group}")
                if not audience:
                    self.add(at, f"minimum_necessary: {group}: {name} is shown to nobody; name a tier or a party")
                for who in audience:
                    if who.startswith(PARTY_PREFIX):
                        if who.removeprefix(PARTY_PREFIX) not in spec.parties:
                            self.add(at, f"minimum_necessary: {who!r} is not one of the parties")
                    elif who not in TIERS:
                        self.add(at, f"minimum_necessary: {who!r} is neither a tier ({', '.join(TIERS)}) "
                                 f"nor a party (party:<role>)")
        for role, ceiling in spec.ceilings.items():
            at = ("ceilings", role)
            if role not in spec.roles and ceiling.case_data:
                self.add(at, f"ceilings: {role!r} is not a case role (only case_data: false applies to other roles)")
            for index, state in enumerate(ceiling.states):
                if state not in spec.states:
                    self.add((*at, "states", index), f"ceilings: {role}: unknown state {state!r}")
            for index, event in enumerate(ceiling.events):
                if event not in events:
                    self.add((*at, "events", index), f"ceilings: {role}: unknown event {event!r}")
            for index, pair in enumerate(ceiling.fields):
                form_id, _, field_id = pair.partition(".")
                form = self.forms.get(form_id)
                if form is None or form.spec.field(field_id) is None:
                    self.add((*at, "fields", index),
                             f"ceilings: {role}: {pair!r} is not a form field (write form.field)")

    def check_open(self) -> None:
        opening = self.spec.open
        self.check_roles(("open", "roles"), opening.roles)
        form = self.check_form(("open", "form"), opening.form)
        self.check_guards(("open",), opening.guards, form, [])
        self.check_record(("open",), opening.record, form)
        for name, variant in opening.variants.items():
            at: Location = ("open", "variants", name)
            self.check_roles((*at, "roles"), variant.roles)
            self.check_guards(at, variant.guards, form, [])
            self.check_when((*at, "set"), variant.set, form, f"open variant {name}")
            self.check_own_organisation(at, f"open variant {name}", variant.own_organisation, form)
            then = self.spec.actions.get(variant.then)
            if then is None:
                self.add((*at, "then"), f"open variant {name}: unknown action {variant.then!r}")
            elif not any(self.spec.initial in expand_states(self.spec, b.from_)[0] for b in then.branches()):
                self.add((*at, "then"), f"open variant {name}: {variant.then} cannot be taken from the initial "
                         f"state {self.spec.initial}")
            elif CASE_ROLES_GROUP not in then.roles and set(variant.roles) - set(then.roles):
                missing = ", ".join(sorted(set(variant.roles) - set(then.roles)))
                self.add((*at, "roles"), f"open variant {name}: {missing} may not take {variant.then}")

    def check_action(self, name: str) -> None:
        action = self.spec.actions[name]
        at: Location = ("actions", name)
        if (action.transitions is None) == (action.from_ is None and action.to is None):
            self.add(at, f"action {name}: give either `from` and `to`, or `transitions`")
            return
        if action.transitions is None and (action.from_ is None or action.to is None):
            self.add(at, f"action {name}: needs both `from` and `to`")
            return
        if not action.roles:
            self.add((*at, "roles"), f"action {name}: no roles may take it")
        self.check_roles((*at, "roles"), action.roles)
        form = self.check_form((*at, "form"), action.form)
        covered: dict[str, int] = {}
        all_sources: list[str] = []
        for index, branch in enumerate(action.branches()):
            where: Location = (*at, "transitions", index) if action.transitions is not None else at
            sources, unknown = expand_states(self.spec, branch.from_)
            for bad in unknown:
                self.add((*where, "from"), f"action {name}: unknown state {bad!r} in from")
            if branch.to != SAME and branch.to not in self.spec.states:
                self.add((*where, "to"), f"action {name}: unknown target state {branch.to!r}")
            self.check_when((*where, "when"), branch.when, form, name)
            for key in branch.case_when:
                if key not in self.case_keys:
                    self.add((*where, "case_when", key), f"action {name}: the case holds no value {key!r}")
            for state in sources:
                if state in self.spec.states and self.spec.states[state].terminal:
                    self.add((*where, "from"), f"action {name}: {state} is terminal; no action may leave it")
                if not branch.when and not branch.case_when:
                    covered.setdefault(state, index)
                if state not in all_sources:
                    all_sources.append(state)
        for state in all_sources:
            if state not in covered:
                self.add(at, f"action {name}: from {state} no target applies when no `when` condition holds")
        self.check_guards(at, action.guards, form, all_sources)
        self.check_record(at, action.record, form)
        for index, effect in enumerate(action.effects):
            if effect not in EFFECTS:
                known = ", ".join(sorted(EFFECTS))
                self.add((*at, "effects", index), f"action {name}: unknown effect {effect!r} (known: {known})")
        self.check_own_organisation(at, name, action.own_organisation, form)

    def check_reachability(self) -> None:
        spec = self.spec
        edges: dict[str, set[str]] = {s: set() for s in spec.states}
        for action in spec.actions.values():
            for branch in action.branches():
                sources, _ = expand_states(spec, branch.from_)
                for state in sources:
                    target = state if branch.to == SAME else branch.to
                    if target in spec.states and target != state:
                        edges[state].add(target)
        if spec.initial in spec.states:
            seen, todo = {spec.initial}, [spec.initial]
            while todo:
                for nxt in edges[todo.pop()]:
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
            for state in spec.states:
                if state not in seen:
                    self.add(("states", state), f"state {state}: no path reaches it from {spec.initial}")
        for state, st in spec.states.items():
            if not st.terminal and not edges[state]:
                self.add(("states", state), f"state {state} is not terminal but no action leaves it")

    def check_deadline(self, name: str) -> None:
        spec = self.spec
        deadline = spec.deadlines[name]
        at: Location = ("deadlines", name)
        opens = deadline.opens
        if (opens.event is None) == (opens.date is None):
            self.add((*at, "opens"), f"deadline {name}: opens needs exactly one of `event` or `date`")
        if opens.event is not None and opens.event != OPEN_EVENT:
            if opens.event not in spec.actions:
                self.add((*at, "opens", "event"), f"deadline {name}: unknown action {opens.event!r}")
            else:
                form = self.forms.get(spec.actions[opens.event].form)
                self.check_when((*at, "opens", "when"), opens.when, form, opens.event)
        if opens.date is not None and opens.date not in self.case_keys:
            self.add((*at, "opens", "date"), f"deadline {name}: the case holds no date {opens.date!r}")
        if opens.at is not None:
            if opens.event is None:
                self.add((*at, "opens", "at"), f"deadline {name}: `at` goes with `event` (a date opens with `date`)")
            elif self.opening_type(opens.event, opens.at) not in ("date", "datetime"):
                self.add(
                    (*at, "opens", "at"),
                    f"deadline {name}: neither the {opens.event} form nor the case holds a date or time {opens.at!r}",
                )
        for bad in expand_states(spec, opens.to)[1]:
            self.add((*at, "opens", "to"), f"deadline {name}: unknown state {bad!r}")
        spans = {}
        for key in ("target", "due"):
            try:
                spans[key] = Duration.parse(getattr(deadline, key))
            except ValueError as exc:
                self.add((*at, key), f"deadline {name}: {key}: {exc}")
        try:
            Duration.parse(opens.offset)
        except ValueError as exc:
            self.add((*at, "opens", "offset"), f"deadline {name}: offset: {exc}")
        if len(spans) == 2 and spans["due"].approx_hours() < spans["target"].approx_hours():
            self.add((*at, "due"), f"deadline {name}: due ({deadline.due}) is before target ({deadline.target})")
        if deadline.owner not in spec.roles:
            self.add((*at, "owner"), f"deadline {name}: unknown owner role {deadline.owner!r}")
        applies, unknown = expand_states(spec, deadline.applies_in)
        for bad in unknown:
            self.add((*at, "applies_in"), f"deadline {name}: unknown state {bad!r} in applies_in")
        meetable: set[str] = set()
        for index, met in enumerate(deadline.met_by):
            where: Location = (*at, "met_by", index)
            action = spec.actions.get(met.action)
            if action is None:
                self.add((*where, "action"), f"deadline {name}: unknown action {met.action!r} in met_by")
                continue
            self.check_when((*where, "when"), met.when, self.forms.get(action.form), met.action)
            if met.not_before is not None:
                try:
                    Duration.parse(met.not_before)
                except ValueError as exc:
                    self.add((*where, "not_before"), f"deadline {name}: not_before: {exc}")
            if met.at is not None:
                form = self.forms.get(action.form)
                found = form.spec.field(met.at) if form else None
                if found is None or found.type not in ("date", "datetime"):
                    self.add((*where, "at"), f"deadline {name}: form {action.form} has no date or time {met.at!r}")
            meetable |= {s for b in action.branches() for s in expand_states(spec, b.from_)[0]}
        # A deadline runs in every state it applies in, so from each of them the case must be able to reach, through
        # states it still applies in, a state where it can be met.
        stranded = self.stranded(set(applies), meetable)
        if applies and not meetable & set(applies):
            self.add(
                (*at, "met_by"),
                f"deadline {name}: nothing can meet it (no met_by action can be taken in a state it applies in)",
            )
        elif stranded:
            self.add(
                (*at, "applies_in"),
                f"deadline {name}: it keeps running in {', '.join(stranded)}, where nothing can meet it",
            )

    # --- shared pieces ---

    def stranded(self, applies: set[str], meetable: set[str]) -> list[str]:
        """The states of `applies` from which no path through `applies` reaches a state of `meetable`."""
        edges: dict[str, set[str]] = {s: set() for s in applies}
        for action in self.spec.actions.values():
            for branch in action.branches():
                for source in expand_states(self.spec, branch.from_)[0]:
                    if source in applies and branch.to in applies:
                        edges[source].add(branch.to)
        can = applies & meetable
        grew = True
        while grew:
            more = {s for s in applies - can if edges[s] & can}
            can |= more
            grew = bool(more)
        return [s for s in self.spec.states if s in applies - can and not self.spec.states[s].terminal]

    def opening_type(self, event: str, key: str) -> str | None:
        """The type of the value a deadline's clock starts at: a field of the event's form, else a case value."""
        action = self.spec.actions.get(event)
        form = self.forms.get(self.spec.open.form if event == OPEN_EVENT else action.form if action else "")
        found = form.spec.field(key) if form else None
        return found.type if found is not None else self.case_key_type(key)

    def case_key_type(self, key: str) -> str | None:
        """The field type of a value the case holds (an opening field or a fact recorded from a form)."""
        spec = self.spec
        sources = [(spec.open.form, {k: k for k in self.case_keys}), (spec.open.form, spec.open.record)]
        sources += [(a.form, a.record) for a in spec.actions.values()]
        for form_id, record in sources:
            form = self.forms.get(form_id)
            found = form.spec.field(record[key]) if form and key in record else None
            if found is not None:
                return found.type
        return None

    def check_roles(self, at: Location, roles: list[str]) -> None:
        for index, role in enumerate(roles):
            if role != CASE_ROLES_GROUP and role not in self.spec.roles:
                self.add((*at, index), f"unknown role {role!r} (roles: {', '.join(self.spec.roles)})")

    def check_form(self, at: Location, form_id: str) -> CompiledForm | None:
        form = self.forms.get(form_id)
        if form is None:
            self.add(at, f"unknown form {form_id!r}")
        return form

    def check_when(self, at: Location, when: dict[str, Any], form: CompiledForm | None, action: str) -> None:
        if form is None:
            return
        for key, wanted in when.items():
            field = form.spec.field(key)
            if field is None:
                self.add((*at, key), f"{action}: form {form.id} has no field {key!r}")
                continue
            allowed = _allowed_values(field)
            for value in [wanted] if isinstance(wanted, str) else wanted:
                if allowed is not None and value not in allowed:
                    self.add((*at, key), f"{action}: {value!r} is not a value of {form.id}.{key}")

    def check_guards(self, at: Location, guards: list[Any], form: CompiledForm | None, states: list[str]) -> None:
        for index, ref in enumerate(guards):
            where: Location = (*at, "guards", index)
            guard = GUARDS.get(ref.guard)
            if guard is None:
                self.add((*where, "guard"), f"unknown guard {ref.guard!r} (known: {', '.join(sorted(GUARDS))})")
                continue
            try:
                params = guard.params.model_validate(ref.params)
            except ValidationError as exc:
                for error in exc.errors(include_url=False):
                    key = error["loc"][0] if error["loc"] else "guard"
                    message = "is not a parameter of this guard" if error["type"] == "extra_forbidden" else (
                        "is required" if error["type"] == "missing" else error["msg"]
                    )
                    self.add((*where, key), f"guard {ref.guard}: parameter {key}: {message}")
                continue
            for key in guard.form_fields:
                value = getattr(params, key, None)
                if value is not None and form is not None and form.spec.field(value) is None:
                    self.add((*where, key), f"guard {ref.guard}: form {form.id} has no field {value!r}")
            for key in guard.case_fields:
                value = getattr(params, key, None)
                for item in value if isinstance(value, list) else [value]:
                    if item is not None and item not in self.case_keys:
                        self.add((*where, key), f"guard {ref.guard}: the case holds no value {item!r}")
            if ref.guard == "deadline_met" and getattr(params, "deadline", None) not in self.spec.deadlines:
                self.add((*where, "deadline"), f"guard deadline_met: unknown deadline {params.deadline!r}")
            for bad in expand_states(self.spec, ref.in_states)[1]:
                self.add((*where, "in_states"), f"guard {ref.guard}: unknown state {bad!r}")
            self.check_when((*where, "when"), ref.when, form, ref.guard)

    def check_own_organisation(self, at: Location, name: str, fields: list[str], form: CompiledForm | None) -> None:
        """`own_organisation` names single organisation fields of the action's form (top-level ones: the engine
        compares each with the actor's organisation)."""
        if form is None:
            return
        for index, field_id in enumerate(fields):
            field = form.spec.field(field_id)
            if field is None:
                self.add((*at, "own_organisation", index), f"action {name}: own_organisation: form {form.id} has no "
                         f"field {field_id!r}")
            elif field.type != "organisation" or field.many:
                self.add((*at, "own_organisation", index), f"action {name}: own_organisation: {form.id}.{field_id} "
                         "is not an organisation field naming one organisation")

    def check_record(self, at: Location, record: dict[str, str], form: CompiledForm | None) -> None:
        for fact, field_id in record.items():
            if form is not None and form.spec.field(field_id) is None:
                self.add((*at, "record", fact), f"record {fact}: form {form.id} has no field {field_id!r}")


def _allowed_values(field: FieldSpec) -> set[str] | None:
    if field.type == "yes_no":
        return {"yes", "no"}
    if field.type in ("choice", "multi_choice"):
        return set(field.choices or [])
    return None
