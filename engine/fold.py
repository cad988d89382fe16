"""A case is the fold of its events. The same function advances the case row when an action is taken and
replays a case from its history, so the row can always be checked against the log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from engine.chain import GENESIS
from engine.definitions.compiled import CompiledWorkflow
from engine.definitions.vocabulary import OPEN_EVENT, RECORD_CONSENT, REVOKE_CONSENT
from engine.guards import ConsentView

OPENED_BY = "opened_by"


@dataclass
class Folded:
    """What the case row caches: the result of applying every event in order."""

    state: str = ""
    phase: str = ""
    version: int = 0
    facts: dict[str, Any] = field(default_factory=dict)
    parties: dict[str, str] = field(default_factory=dict)
    last_hash: str = GENESIS


def case_values(data: Mapping[str, Any], facts: Mapping[str, Any]) -> dict[str, Any]:
    """Everything guards and deadlines may read about a case: opening data, then derived facts."""
    return {**data, **facts}


#: The fact holding how many days after the event each late-entered event was entered (`{"open_case": 61}`).
ENTERED_LATE = "entered_late"
#: The fact holding the case's unrevoked consents, one entry per shape (the organisations and categories it covers)
#: with the earliest signing and the latest expiry of the consents of that shape. Renewing a consent therefore
#: never lengthens it, and the access decision reads it with the case row instead of every consent ever recorded.
CONSENTS = "consents"


def active_consents(facts: Mapping[str, Any], today: date) -> list[ConsentView]:
    """The case's consents in force on `today` (signed, not expired, not revoked)."""
    found = []
    for entry in facts.get(CONSENTS) or ():
        try:
            signed, expires = date.fromisoformat(entry["signed_on"]), date.fromisoformat(entry["expires_on"])
        except (KeyError, TypeError, ValueError):  # never a 500 on a malformed stored value: not in force
            continue
        if signed <= today < expires:
            found.append(ConsentView(
                frozenset(entry["organisations"]), frozenset(entry["categories"]), signed, expires,
            ))
    return found


def _consents_after(facts: Mapping[str, Any], effects: Iterable[str], data: Mapping[str, Any]) -> list[Any] | None:
    """The consents fact after an event with these effects, or None if the event does not change it."""
    if REVOKE_CONSENT in effects:
        return []  # revocation ends every consent of the case at once
    if RECORD_CONSENT not in effects:
        return None
    shape = {
        "organisations": sorted(data.get("organisations") or []), "categories": sorted(data.get("categories") or []),
    }
    signed, expires = _day(data.get("signed_on")), _day(data.get("expires_on"))
    entries = [dict(e) for e in facts.get(CONSENTS) or ()]
    for entry in entries:
        if entry["organisations"] == shape["organisations"] and entry["categories"] == shape["categories"]:
            entry["signed_on"] = min(entry["signed_on"], signed)
            entry["expires_on"] = max(entry["expires_on"], expires)
            return entries
    return [*entries, {**shape, "signed_on": signed, "expires_on": expires}]


def _day(value: Any) -> str:
    """A form date as stored in facts: `YYYY-MM-DD`."""
    return (value.isoformat() if isinstance(value, date) else str(value))[:10]


def next_facts(
    workflow: CompiledWorkflow, facts: Mapping[str, Any], action: str, organisation: str,
    data: Mapping[str, Any], occurred_at: datetime | None = None,
) -> dict[str, Any]:
    if action == OPEN_EVENT:
        new: dict[str, Any] = {"opened_by_org": organisation, "plan_version": 0}
        new.update({fact: data[f] for fact, f in workflow.open.record.items() if f in data})
        return _entered_late(workflow, new, action, data, occurred_at)
    compiled = workflow.actions.get(action)
    if compiled is None:  # a system event (a missed deadline): no facts change
        return dict(facts)
    new = dict(facts)
    new.update({fact: data[f] for fact, f in compiled.record.items() if f in data})
    if compiled.records_plan:
        new["plan_version"] = int(new.get("plan_version") or 0) + 1
    consents = _consents_after(facts, compiled.effects, data)
    if consents is not None:
        new[CONSENTS] = consents
    return _entered_late(workflow, new, action, data, occurred_at)


def _entered_late(
    workflow: CompiledWorkflow, facts: dict[str, Any], action: str, data: Mapping[str, Any],
    occurred_at: datetime | None,
) -> dict[str, Any]:
    """Keeps how many calendar days after it happened an event that starts a clock was entered."""
    field_id = workflow.happened_at.get(action)
    if field_id is None or occurred_at is None:
        return facts
    happened = workflow.moment(data.get(field_id))
    if happened is None:
        return facts
    try:
        days = (workflow.today(occurred_at) - workflow.today(happened)).days
    except OverflowError:  # a time stored before times were bounded
        return facts
    if days > 0:
        facts[ENTERED_LATE] = {**facts.get(ENTERED_LATE, {}), action: days}
    return facts


def parties_of(workflow: CompiledWorkflow, values: Mapping[str, Any]) -> dict[str, str]:
    parties = {OPENED_BY: str(values["opened_by_org"])} if values.get("opened_by_org") else {}
    for role, key in workflow.spec.parties.items():
        if values.get(key):
            parties[role] = str(values[key])
    return parties


def apply(workflow: CompiledWorkflow, folded: Folded, opening: Mapping[str, Any], event: Mapping[str, Any]) -> Folded:
    """`folded` advanced by one event; `opening` is the case's opening form data."""
    facts = next_facts(
        workflow, folded.facts, event["action"], event["organisation"], event["data"], _aware(event["occurred_at"])
    )
    state = event["to_state"]
    return Folded(
        state=state, phase=workflow.phase(state), version=event["seq"], facts=facts,
        parties=parties_of(workflow, case_values(opening, facts)), last_hash=event["hash"],
    )


def replay(workflow: CompiledWorkflow, events: Iterable[Mapping[str, Any]]) -> Folded:
    folded = Folded()
    opening: Mapping[str, Any] = {}
    for event in events:
        if event["action"] == OPEN_EVENT:
            opening = event["data"]
        folded = apply(workflow, folded, opening, event)
    return folded


def _aware(value: Any) -> datetime | None:
    """An event's time, as stored (aware) or as SQLite gives it back (naive UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
