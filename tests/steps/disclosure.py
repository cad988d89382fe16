"""Steps about who sees what: tiers, fields, hidden cases, the hospital lookup, and plan documents."""

from __future__ import annotations

from typing import Any

from pytest_bdd import parsers, then, when

from tests.steps.world import World, role
from tests.steps.world import when as resolve


@then(parsers.parse('{who} sees the case at tiers "{tiers}"'))
def sees_tiers(world: World, who: str, tiers: str) -> None:
    """Then the hospital sees the case at tiers "status, plan" """
    response = world.api.get(f"/cases/{world.current()['id']}", role(who))
    assert response.status_code == 200, f"{who} cannot see the case ({response.status_code})"
    expected = [t.strip() for t in tiers.split(",")]
    assert response.json()["tiers"] == expected, f"{who} sees tiers {response.json()['tiers']}"


@then(parsers.re(r"(?P<who>.+) sees the case in (?P<what>state|phase) (?P<expected>[a-z_]+)$"))
def sees_state(world: World, who: str, what: str, expected: str) -> None:
    """Then the hospital sees the case in phase prenatal   (or: in state plan_agreed, where the reader may see it)"""
    response = world.api.get(f"/cases/{world.current()['id']}", role(who))
    assert response.status_code == 200, f"{who} cannot see the case ({response.status_code})"
    shown = response.json()[what]
    assert shown == expected, f"{who} sees the case in {what} {shown or '(withheld)'}"


@then(parsers.re(r"(?P<who>.+) does not see the case's state$"))
def hides_state(world: World, who: str) -> None:
    """Then the hospital does not see the case's state   (minimum necessary: the phase only)"""
    response = world.api.get(f"/cases/{world.current()['id']}", role(who))
    assert response.status_code == 200, f"{who} cannot see the case ({response.status_code})"
    assert response.json()["state"] is None, f"{who} sees the case in state {response.json()['state']}"


@then(parsers.parse("{who} cannot see the case"))
def cannot_see(world: World, who: str) -> None:
    """Then the peer mentor cannot see the case   (as if it did not exist)"""
    response = world.api.get(f"/cases/{world.current()['id']}", role(who))
    assert response.status_code == 404, f"{who} can see the case ({response.status_code})"


@then(parsers.re(r"(?P<who>.+) sees the field (?P<field>[a-z_]+)$"))
def sees_field(world: World, who: str, field: str) -> None:
    """Then the treatment provider sees the field substances"""
    view = world.api.get(f"/cases/{world.current()['id']}", role(who)).json()
    assert field in view.get("data", {}), f"{who} does not see {field}; withheld: {view.get('withheld')}"


@then(parsers.re(r"(?P<who>.+) does not see the field (?P<field>[a-z_]+)$"))
def hides_field(world: World, who: str, field: str) -> None:
    """Then the hospital does not see the field substances"""
    view = world.api.get(f"/cases/{world.current()['id']}", role(who)).json()
    assert field not in view.get("data", {}), f"{who} sees {field}"
    assert field in view.get("withheld", []), f"{field} is not listed as withheld for {who}"


@when(parsers.parse('{who} looks up "{last_name}" born {born}'))
def looks_up(world: World, who: str, last_name: str, born: str) -> None:
    """When the hospital looks up "Rivera" born 1996-04-12"""
    world.last = world.api.post("/lookup", role(who), {"last_name": last_name,
                                                        "date_of_birth": resolve(born, world).isoformat()})
    world.lookup = world.last.json().get("matches", []) if world.last.status_code == 200 else []


@then(parsers.parse("the lookup finds the case with a plan in place: {answer}"))
def lookup_finds(world: World, answer: str) -> None:
    """Then the lookup finds the case with a plan in place: yes"""
    match = next((m for m in world.lookup if m["id"] == world.current()["id"]), None)
    assert match is not None, f"the lookup found {[m['id'] for m in world.lookup] or 'nothing'}"
    assert match["plan_in_place"] == (answer == "yes"), f"plan in place: {match['plan_in_place']}"
    assert set(match) == {"id", "plan_in_place", "lead_contact"}, f"the lookup disclosed {sorted(match)}"


@then("the lookup finds nothing")
def lookup_nothing(world: World) -> None:
    """Then the lookup finds nothing"""
    assert world.lookup == [], f"the lookup found {len(world.lookup)} case(s)"


@then(parsers.parse('the {document} for {who} says "{text}"'))
def document_says(world: World, document: str, who: str, text: str) -> None:
    """Then the plan of safe care for the cps worker says "Services for the infant"   (or: the hospital summary)"""
    kinds = {"plan of safe care": "plan-of-safe-care", "hospital summary": "hospital-summary"}
    response = world.api.get(f"/cases/{world.current()['id']}/documents/{kinds[document]}", role(who))
    assert response.status_code == 200, f"{who} cannot have the {document}: {response.json().get('detail')}"
    assert text in response.text, f"the {document} does not say {text!r}"


@then(parsers.parse('the {document} for {who} does not say "{text}"'))
def document_does_not_say(world: World, document: str, who: str, text: str) -> None:
    """Then the hospital summary for the hospital does not say "buprenorphine" """
    kinds = {"plan of safe care": "plan-of-safe-care", "hospital summary": "hospital-summary"}
    response = world.api.get(f"/cases/{world.current()['id']}/documents/{kinds[document]}", role(who))
    assert response.status_code == 200, f"{who} cannot have the {document}: {response.json().get('detail')}"
    assert text not in response.text, f"the {document} says {text!r}"


@then(parsers.re(r"(?P<who>.+) does not see the field (?P<field>[a-z_]+) of (?P<action>[a-z_]+)$"))
def hides_event_field(world: World, who: str, field: str, action: str) -> None:
    """Then the hospital does not see the field notes of record_follow_up"""
    response = world.api.get(f"/cases/{world.current()['id']}/events", role(who))
    history = world.api.client.app.state.services.cases.history(world.current()["id"])  # type: ignore[attr-defined]
    assert any(e.action == action for e in history), f"{action} was not taken on this case"
    # Minimum necessary may hide the whole event from this reader: then the field is hidden too.
    taken = [e for e in response.json() if e["action"] == action] if response.status_code == 200 else []
    for event in taken:
        assert field not in event["data"], f"{who} sees {field} of {action}"
        assert field in event["withheld"], f"{field} of {action} is not listed as withheld for {who}"


@then(parsers.re(r"(?P<who>.+) sees the field (?P<field>[a-z_]+) of (?P<action>[a-z_]+)$"))
def sees_event_field(world: World, who: str, field: str, action: str) -> None:
    """Then the treatment provider sees the field moud of admit_to_treatment"""
    events = world.api.get(f"/cases/{world.current()['id']}/events", role(who)).json()
    assert any(field in e["data"] for e in events if e["action"] == action), f"{who} does not see {field} of {action}"


def _shown(value: Any) -> str:
    """A form value as a feature writes it: a list comma-separated, a record its values space-separated (`cps
    county-cps`), anything else as text."""
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, dict):
        return " ".join(_shown(v) for v in value.values() if v not in (None, ""))
    return str(value)


@then(parsers.re(r'(?P<who>.+) sees the field (?P<field>[a-z_]+) as "(?P<expected>[^"]*)"$'))
def sees_field_as(world: World, who: str, field: str, expected: str) -> None:
    """Then the treatment provider sees the field substances as "opioids"   (any case; a list comma-separated)"""
    view = world.api.get(f"/cases/{world.current()['id']}", role(who)).json()
    data = view.get("data", {})
    assert field in data, f"{who} does not see {field}; withheld: {view.get('withheld')}"
    assert _shown(data[field]).lower() == expected.strip().lower(), f"{who} sees {field} as {_shown(data[field])!r}"


@then(parsers.re(r'(?P<who>.+) sees the field (?P<field>[a-z_]+) of (?P<action>[a-z_]+) as "(?P<expected>[^"]*)"$'))
def sees_event_field_as(world: World, who: str, field: str, action: str, expected: str) -> None:
    """Then the hospital sees the field safety_concern of notify_cps as "no"   (the latest time it was taken)"""
    events = world.api.get(f"/cases/{world.current()['id']}/events", role(who)).json()
    taken = [e for e in events if e["action"] == action and field in e["data"]]
    assert taken, f"{who} does not see {field} of {action}"
    shown = _shown(taken[-1]["data"][field])
    assert shown.lower() == expected.strip().lower(), f"{who} sees {field} of {action} as {shown!r}"


@then(parsers.parse('the accounting of disclosures shows {who} reading "{what}"'))
def disclosure_accounted(world: World, who: str, what: str) -> None:
    """Then the accounting of disclosures shows the hospital reading "view"   (view, events, document, lookup)"""
    entries = world.api.get(f"/cases/{world.current()['id']}/disclosures", "cps").json()
    me = world.api.get("/me", role(who)).json()
    seen = [(e["organisation"], e["what"]) for e in entries]
    assert (me["organisation"], what) in seen, f"the accounting shows {seen}"
