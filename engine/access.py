"""The one access decision: for an actor, a case and a moment, what the actor may see of the case.

Every read and every answer that carries case data asks `decide` and shows only what the returned `Access` allows:
the tiers (from the case's parties and the active consents), the specific state, each event, each field, each
deadline. The rules are data in the workflow (`disclosure`, `consent_first`, `minimum_necessary`, `ceilings`);
nothing else in posc computes tiers. `docs/who-sees-what.md` says the same in words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.actor import Actor
from engine.definitions.checks import PARTY_PREFIX
from engine.definitions.compiled import CompiledWorkflow
from engine.definitions.forms import CompiledForm
from engine.definitions.workflow import CeilingSpec
from engine.guards import ConsentView

STATUS, PLAN, TREATMENT = "status", "plan", "treatment"
TIER_ORDER = (STATUS, PLAN, TREATMENT)
ALL_TIERS = frozenset(TIER_ORDER)
OPENED_BY = "opened_by"
_NO_CEILING = CeilingSpec()


@dataclass(frozen=True)
class Access:
    """What one actor may see of one case. Falsy when the actor may not know the case exists."""

    workflow: CompiledWorkflow
    actor: Actor
    tiers: frozenset[str]
    #: The case's party roles the actor's organisation plays, where that gives it access (`cps`, `hospital`, ...).
    parties: frozenset[str]
    ceiling: CeilingSpec = field(default=_NO_CEILING)

    def __bool__(self) -> bool:
        return bool(self.tiers)

    @property
    def lead(self) -> bool:
        """The actor's organisation leads the case (receives escalations, sees every deadline)."""
        return self.workflow.spec.escalate_to in self.parties

    def ordered_tiers(self) -> list[str]:
        return [t for t in TIER_ORDER if t in self.tiers]

    def _reaches(self, audience: Iterable[str]) -> bool:
        for who in audience:
            if who.startswith(PARTY_PREFIX):
                if who.removeprefix(PARTY_PREFIX) in self.parties:
                    return True
            elif who in self.tiers:
                return True
        return False

    def sees_state(self, state: str | None) -> bool:
        if not self or not state or state in self.ceiling.states:
            return False
        return self._reaches(self.workflow.spec.minimum_necessary.states.get(state, (STATUS,)))

    def state(self, state: str | None) -> str | None:
        """The state if the actor may see it, else None (the phase is all they learn)."""
        return state if self.sees_state(state) else None

    def sees_event(self, action: str) -> bool:
        if not self or action in self.ceiling.events:
            return False
        return self._reaches(self.workflow.spec.minimum_necessary.events.get(action, (STATUS,)))

    def _field_shown(self, form: CompiledForm, spec: Any) -> bool:
        return form.spec.tier_of(spec) in self.tiers and f"{form.id}.{spec.id}" not in self.ceiling.fields

    def fields(self, form: CompiledForm, data: Mapping[str, Any]) -> dict[str, Any]:
        """The submission with only the fields the actor may see."""
        return {s.id: data[s.id] for s in form.spec.fields if s.id in data and self._field_shown(form, s)}

    def withheld(self, form: CompiledForm, data: Mapping[str, Any]) -> list[str]:
        """The ids of the fields of a submission the actor may not see (named, so a reader knows something is
        there)."""
        return [s.id for s in form.spec.fields if s.id in data and not self._field_shown(form, s)]

    def sees_deadline(self, owner_org: str) -> bool:
        """Each organisation sees the deadlines it owns; the lead sees all of the case's."""
        return bool(self) and (self.lead or owner_org == self.actor.organisation)

    def sees_closed_cases(self) -> bool:
        return self.ceiling.closed_cases


def decide(
    workflow: CompiledWorkflow, actor: Actor, parties: Mapping[str, str],
    consents: Callable[[], list[ConsentView]], kind_of: Callable[[str], str | None],
) -> Access:
    """The access decision. `consents` (the case's active consents today) and `kind_of` (an organisation's kind)
    are called only when the rules need them."""
    spec = workflow.spec
    ceiling = spec.ceilings.get(actor.role, _NO_CEILING)
    if actor.role not in spec.roles or not ceiling.case_data:
        return Access(workflow, actor, frozenset(), frozenset(), ceiling)
    mine = [party for party, org in parties.items() if org == actor.organisation]
    opener = parties.get(OPENED_BY)
    consent_first = bool(spec.consent_first) and opener is not None and opener != actor.organisation \
        and kind_of(opener) in spec.consent_first
    tiers: set[str] = set()
    named = False
    if mine and not consent_first:
        for party in mine:
            tiers.update(spec.disclosure.get(party, [STATUS]))
    if tiers != ALL_TIERS:
        for consent in consents():
            if actor.organisation in consent.organisations:
                named = True
                tiers.add(STATUS)
                tiers.update(consent.categories)
    if consent_first and named:
        for party in mine:
            tiers.update(spec.disclosure.get(party, [STATUS]))
    held = frozenset(p for p in mine if p != OPENED_BY and (not consent_first or named))
    return Access(workflow, actor, frozenset(tiers), held, ceiling)


def ordered(tiers: Iterable[str]) -> list[str]:
    held = set(tiers)
    return [t for t in TIER_ORDER if t in held]


def findable(
    access: Access, state: str, parties: Mapping[str, str], consents: Iterable[ConsentView],
    kind_of: Callable[[str], str | None],
) -> bool:
    """Whether the delivery lookup finds a case for this actor. The lookup answers any hospital or CPS user with
    only the reference, whether a plan is in place and the lead CPS contact, so it may find cases the actor holds no
    tier on (a parent may give birth anywhere); but never a Part 2 program's case for an organisation no active
    consent names, and never CPS history (a closed case) for a role whose ceiling forbids it."""
    workflow = access.workflow
    if not access.ceiling.case_data:
        return False
    if not access.sees_closed_cases() and workflow.is_terminal(state):
        return False
    opener = parties.get(OPENED_BY)
    if opener is not None and opener != access.actor.organisation and kind_of(opener) in workflow.spec.consent_first:
        return any(access.actor.organisation in consent.organisations for consent in consents)
    return True
