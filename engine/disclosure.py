"""Who sees what (PATHWAY.md): the disclosure tiers of a case for one caller, and data filtered to them.

Tiers come from the case's parties (the workflow's `disclosure` table) and from active consents (the status tier
plus the categories a consent names). No tier at all means the caller may not know the case exists. Analysts and
administrators never see case data. Filtering is by each form field's declared tier, so a form definition decides
what a field discloses, not the code that shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.actor import Actor
from engine.definitions.compiled import CompiledWorkflow
from engine.definitions.forms import CompiledForm
from engine.guards import ConsentView

STATUS, PLAN, TREATMENT = "status", "plan", "treatment"
TIER_ORDER = (STATUS, PLAN, TREATMENT)


def tiers_from_parties(workflow: CompiledWorkflow, actor: Actor, parties: Mapping[str, str]) -> set[str]:
    if actor.role not in workflow.spec.roles:
        return set()
    tiers: set[str] = set()
    for party, organisation in parties.items():
        if organisation == actor.organisation:
            tiers.update(workflow.spec.disclosure.get(party, [STATUS]))
    return tiers


def tiers_from_consents(actor: Actor, consents: Iterable[ConsentView]) -> set[str]:
    tiers: set[str] = set()
    for consent in consents:
        if actor.organisation in consent.organisations:
            tiers.add(STATUS)
            tiers.update(consent.categories)
    return tiers


def ordered(tiers: Iterable[str]) -> list[str]:
    held = set(tiers)
    return [t for t in TIER_ORDER if t in held]


def visible_fields(form: CompiledForm, data: Mapping[str, Any], tiers: Iterable[str]) -> dict[str, Any]:
    """The submission with only the fields whose tier the caller holds."""
    held = set(tiers)
    shown = {}
    for spec in form.spec.fields:
        if spec.id in data and form.spec.tier_of(spec) in held:
            shown[spec.id] = data[spec.id]
    return shown


def withheld_fields(form: CompiledForm, data: Mapping[str, Any], tiers: Iterable[str]) -> list[str]:
    held = set(tiers)
    return [s.id for s in form.spec.fields if s.id in data and form.spec.tier_of(s) not in held]


def identifying_fields(form: CompiledForm) -> list[str]:
    return [s.id for s in form.spec.fields if s.identifying]
