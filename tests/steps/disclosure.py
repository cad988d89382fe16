"""Steps about who sees what: tiers, fields, hidden cases, the hospital lookup, and plan documents."""

from __future__ import annotations

from typing import Any

from pytest_bdd import parsers, then, when

from tests.steps.world import World
from tests.steps.world import when as resolve


@then(parsers.parse('{who} sees the case at tiers "{tiers}"'))
def sees_tiers(world: World, who: str, tiers: str) -> None:
    """Then the hospital sees the case at tiers "status, plan" """
    response = world.api.get(f"/cases/{world.current()['id']}", world.role(who))
    assert response.status_code == 200, f"{who} cannot see the case ({response.status_code})"
    expected = [t.strip() for t in tiers.split(",")]
    assert response.json()["tiers"] == expected, f"{who} sees tiers {response.json()['tiers']}"


@then(parsers.re(r"(?P<who>.+) sees the case in (?P<what>state|phase) (?P<expected>[a-z_]+)$"))
@then(parsers.re(r'(?P<who>.+) sees the (?P<what>state|phase) "?(?P<expected>[a-z_]+)"?$'))
def sees_state(world: World, who: str, what: str, expected: str) -> None:
    """Then the hospital sees the case in phase prenatal   (or: in state plan_agreed, where the reader may see it)

    Then the hospital sees the phase "prenatal"   (the phase or state in quotes or not)"""
    response = world.api.get(f"/cases/{world.current()['id']}", world.role(who))
    assert response.status_code == 200, f"{who} cannot see the case ({response.status_code})"
    shown = response.json()[what]
    assert shown == expected, f"{who} sees the case in {what} {shown or '(withheld)'}"


@then(parsers.re(r"(?P<who>.+) does not see the case's state$"))
@then(parsers.re(r"(?P<who>.+) does not see the state of the case$"))
@then(parsers.re(r'(?P<who>.+) sees the phase "?(?P<phase>[a-z_]+)"? but not the state(?: [a-z_]+)?$'))
def hides_state(world: World, who: str, phase: str | None = None) -> None:
    """Then the hospital does not see the case's state   (minimum necessary: the phase only)

    Then the hospital does not see the state of the case
    Then the hospital sees the phase "prenatal" but not the state"""
    response = world.api.get(f"/cases/{world.current()['id']}", world.role(who))
    assert response.status_code == 200, f"{who} cannot see the case ({response.status_code})"
    assert response.json()["state"] is None, f"{who} sees the case in state {response.json()['state']}"
    if phase is not None:
        assert response.json()["phase"] == phase, f"{who} sees the case in phase {response.json()['phase']}"


@then(parsers.parse("{who} cannot see the case"))
def cannot_see(world: World, who: str) -> None:
    """Then the peer mentor cannot see the case   (as if it did not exist)"""
    response = world.api.get(f"/cases/{world.current()['id']}", world.role(who))
    assert response.status_code == 404, f"{who} can see the case ({response.status_code})"


@then(parsers.re(r"(?P<who>.+) (?:sees|can see) the field (?P<field>[a-z_]+)$"))
def sees_field(world: World, who: str, field: str) -> None:
    """Then the treatment provider sees the field substances"""
    view = world.api.get(f"/cases/{world.current()['id']}", world.role(who)).json()
    assert field in view.get("data", {}), f"{who} does not see {field}; withheld: {view.get('withheld')}"


@then(parsers.re(r"(?P<who>.+) (?:does not see|cannot see|can't see) the field (?P<field>[a-z_]+)$"))
def hides_field(world: World, who: str, field: str) -> None:
    """Then the hospital does not see the field substances"""
    view = world.api.get(f"/cases/{world.current()['id']}", world.role(who)).json()
    assert field not in view.get("data", {}), f"{who} sees {field}"
    assert field in view.get("withheld", []), f"{field} is not listed as withheld for {who}"


@when(parsers.parse('{who} looks up "{last_name}" born {born}'))
def looks_up(world: World, who: str, last_name: str, born: str) -> None:
    """When the hospital looks up "Rivera" born 1996-04-12"""
    world.last = world.api.post("/lookup", world.role(who), {"last_name": last_name,
                                                        "date_of_birth": resolve(born, world).isoformat()})
    world.lookup = world.last.json().get("matches", []) if world.last.status_code == 200 else []


@when(parsers.re(r"(?P<who>.+) looks up the parent(?: at delivery)?$"))
def looks_up_the_parent(world: World, who: str) -> None:
    """When the hospital looks up the parent   (by the case's last name and date of birth, as written at opening)"""
    data = world.current()["data"]
    if "last_name" not in data or "date_of_birth" not in data:  # the step library's reader may not see them
        data = world.api.client.app.state.services.cases.get(world.current()["id"]).data  # type: ignore[attr-defined]
    _look_up(world, who, data["last_name"], data["date_of_birth"])


@when(parsers.re(r"(?P<who>.+) looks up the parent with:$"))
def looks_up_with(world: World, who: str, datatable: list[list[str]]) -> None:
    """When the hospital looks up the parent with: | field | value | / | last_name | Rivera |   (and date_of_birth)"""
    given = {row[0].strip(): row[1].strip() for row in datatable[1:] if len(row) >= 2}
    unknown = set(given) - {"last_name", "date_of_birth"}
    if unknown or len(given) < 2:
        raise AssertionError("a lookup takes two fields: last_name and date_of_birth" + (
            f"; not {', '.join(sorted(unknown))}" if unknown else ""))
    _look_up(world, who, given["last_name"], resolve(given["date_of_birth"], world).isoformat())


def _look_up(world: World, who: str, last_name: str, born: str) -> None:
    world.last = world.api.post("/lookup", world.role(who), {"last_name": last_name, "date_of_birth": born})
    world.lookup = world.last.json().get("matches", []) if world.last.status_code == 200 else []


@then(parsers.re(r"the lookup finds the case$"))
def lookup_finds_case(world: World) -> None:
    """Then the lookup finds the case   (whether or not a plan is in place)"""
    assert any(m["id"] == world.current()["id"] for m in world.lookup), (
        f"the lookup found {[m['id'] for m in world.lookup] or 'nothing'}")


@then(parsers.re(r"the lookup(?: result)? shows that (?P<answer>a|no) plan is in place$"))
def lookup_plan(world: World, answer: str) -> None:
    """Then the lookup shows that a plan is in place   (or: that no plan is in place)"""
    lookup_finds(world, "yes" if answer == "a" else "no")


@then(parsers.re(r"the lookup(?: result)? shows nothing but .+$"))
@then(parsers.re(r"the lookup(?: result)? discloses nothing (?:more|else)$"))
def lookup_minimal(world: World) -> None:
    """Then the lookup discloses nothing more   (the reference, whether a plan is in place and whom to call)

    Then the lookup result shows nothing but the reference, whether a plan is in place and the lead contact"""
    assert world.lookup, "the lookup found nothing"
    for match in world.lookup:
        assert set(match) == {"id", "plan_in_place", "lead_contact"}, f"the lookup disclosed {sorted(match)}"


@then(parsers.parse("the lookup finds the case with a plan in place: {answer}"))
def lookup_finds(world: World, answer: str) -> None:
    """Then the lookup finds the case with a plan in place: yes"""
    match = next((m for m in world.lookup if m["id"] == world.current()["id"]), None)
    assert match is not None, f"the lookup found {[m['id'] for m in world.lookup] or 'nothing'}"
    assert match["plan_in_place"] == (answer == "yes"), f"plan in place: {match['plan_in_place']}"
    assert set(match) == {"id", "plan_in_place", "lead_contact"}, f"the lookup disclosed {sorted(match)}"


@then(parsers.re(r"the lookup finds (?:nothing|no case|no cases)$"))
def lookup_nothing(world: World) -> None:
    """Then the lookup finds nothing

    Then the lookup finds no case"""
    assert world.lookup == [], f"the lookup found {len(world.lookup)} case(s)"


@then(parsers.parse('the {document} for {who} says "{text}"'))
def document_says(world: World, document: str, who: str, text: str) -> None:
    """Then the plan of safe care for the cps worker says "Services for the infant"   (or: the hospital summary)"""
    kinds = {"plan of safe care": "plan-of-safe-care", "hospital summary": "hospital-summary"}
    response = world.api.get(f"/cases/{world.current()['id']}/documents/{kinds[document]}", world.role(who))
    assert response.status_code == 200, f"{who} cannot have the {document}: {response.json().get('detail')}"
    assert text in response.text, f"the {document} does not say {text!r}"


@then(parsers.parse('the {document} for {who} does not say "{text}"'))
def document_does_not_say(world: World, document: str, who: str, text: str) -> None:
    """Then the hospital summary for the hospital does not say "buprenorphine" """
    kinds = {"plan of safe care": "plan-of-safe-care", "hospital summary": "hospital-summary"}
    response = world.api.get(f"/cases/{world.current()['id']}/documents/{kinds[document]}", world.role(who))
    assert response.status_code == 200, f"{who} cannot have the {document}: {response.json().get('detail')}"
    assert text not in response.text, f"the {document} says {text!r}"


@then(parsers.re(r"(?P<who>.+) (?:does not see|cannot see|can't see) the field (?P<field>[a-z_]+) of "
                 r"(?P<action>[a-z_]+)$"))
def hides_event_field(world: World, who: str, field: str, action: str) -> None:
    """Then the hospital does not see the field notes of record_follow_up"""
    response = world.api.get(f"/cases/{world.current()['id']}/events", world.role(who))
    history = world.api.client.app.state.services.cases.history(world.current()["id"])  # type: ignore[attr-defined]
    assert any(e.action == action for e in history), f"{action} was not taken on this case"
    # Minimum necessary may hide the whole event from this reader: then the field is hidden too.
    taken = [e for e in response.json() if e["action"] == action] if response.status_code == 200 else []
    for event in taken:
        assert field not in event["data"], f"{who} sees {field} of {action}"
        assert field in event["withheld"], f"{field} of {action} is not listed as withheld for {who}"


@then(parsers.re(r"(?P<who>.+) (?:sees|can see) the field (?P<field>[a-z_]+) of (?P<action>[a-z_]+)$"))
def sees_event_field(world: World, who: str, field: str, action: str) -> None:
    """Then the treatment provider sees the field moud of admit_to_treatment"""
    events = world.api.get(f"/cases/{world.current()['id']}/events", world.role(who)).json()
    assert any(field in e["data"] for e in events if e["action"] == action), f"{who} does not see {field} of {action}"


def _shown(value: Any) -> str:
    """A form value as a feature writes it: a list comma-separated, a record its values space-separated (`cps
    county-cps`), anything else as text."""
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, dict):
        return " ".join(_shown(v) for v in value.values() if v not in (None, ""))
    return str(value)


@then(parsers.re(r'(?P<who>.+) (?:sees|can see) the field (?P<field>[a-z_]+) as "(?P<expected>[^"]*)"$'))
def sees_field_as(world: World, who: str, field: str, expected: str) -> None:
    """Then the treatment provider sees the field substances as "opioids"   (any case; a list comma-separated)"""
    view = world.api.get(f"/cases/{world.current()['id']}", world.role(who)).json()
    data = view.get("data", {})
    assert field in data, f"{who} does not see {field}; withheld: {view.get('withheld')}"
    assert _shown(data[field]).lower() == expected.strip().lower(), f"{who} sees {field} as {_shown(data[field])!r}"


@then(parsers.re(r'(?P<who>.+) (?:sees|can see) the field (?P<field>[a-z_]+) of (?P<action>[a-z_]+) as '
                 r'"(?P<expected>[^"]*)"$'))
def sees_event_field_as(world: World, who: str, field: str, action: str, expected: str) -> None:
    """Then the hospital sees the field safety_concern of notify_cps as "no"   (the latest time it was taken)"""
    events = world.api.get(f"/cases/{world.current()['id']}/events", world.role(who)).json()
    taken = [e for e in events if e["action"] == action and field in e["data"]]
    assert taken, f"{who} does not see {field} of {action}"
    shown = _shown(taken[-1]["data"][field])
    assert shown.lower() == expected.strip().lower(), f"{who} sees {field} of {action} as {shown!r}"


def _accounting(world: World) -> list[dict[str, Any]]:
    """The case's accounting of disclosures, as its lead organisation reads it."""
    response = world.api.get(f"/cases/{world.current()['id']}/disclosures", world.lead())
    assert response.status_code == 200, f"the lead cannot read the accounting: {response.json().get('detail')}"
    return list(response.json())


def _organisation(world: World, who: str) -> str:
    return str(world.api.get("/me", world.role(who)).json()["organisation"])


def _entries(entries: list[dict[str, Any]]) -> list[str]:
    return [f"{e['organisation']} {e['what']} ({', '.join(e['tiers']) or 'no tier'})" for e in entries]


@then(parsers.re(r'the accounting of disclosures shows (?P<who>.+) reading "(?P<what>[^"]+)"$'))
@then(parsers.re(r"the accounting of disclosures shows that (?P<who>.+) (?P<what>looked up|viewed|read) the "
                 r"(?P<thing>case|history|plan)(?: today)?$"))
def disclosure_accounted(world: World, who: str, what: str, thing: str | None = None) -> None:
    """Then the accounting of disclosures shows the hospital reading "view"   (view, events, document, lookup)

    Then the accounting of disclosures shows that the hospital looked up the case   (viewed the case, read the
    history, read the plan)"""
    if thing is not None:
        what = {"looked up": "lookup", "history": "events", "plan": "document"}.get(
            what if what == "looked up" else thing, "view")
    entries, organisation = _accounting(world), _organisation(world, who)
    assert any(e["organisation"] == organisation and e["what"] == what.lower() for e in entries), (
        f"the accounting shows {_entries(entries)}")


@then(parsers.re(r"(?P<who>.+) sees that (?P<answer>a|no) plan is in place$"))
def sees_plan_in_place(world: World, who: str, answer: str) -> None:
    """Then the hospital sees that a plan is in place   (or: that no plan is in place)"""
    response = world.api.get(f"/cases/{world.current()['id']}", world.role(who))
    assert response.status_code == 200, f"{who} cannot see the case ({response.status_code})"
    assert response.json()["plan_in_place"] == (answer == "a"), f"plan in place: {response.json()['plan_in_place']}"


@then(parsers.re(r"(?P<who>.+) (?P<negated>does not find|finds) the case in (?:the|its|their|her|his) case list$"))
def case_listed(world: World, who: str, negated: str) -> None:
    """Then the hospital finds the case in its case list   (or: does not find the case in the case list)"""
    response = world.api.get("/cases?limit=200", world.role(who))
    assert response.status_code == 200, f"{who} cannot list cases ({response.status_code})"
    listed = [c["id"] for c in response.json()["items"]]
    if negated == "finds":
        assert world.current()["id"] in listed, f"{who}'s case list does not have the case"
    else:
        assert world.current()["id"] not in listed, f"{who}'s case list has the case"


@then(parsers.re(r'the accounting of disclosures shows (?P<who>.+) reading "(?P<what>[^"]+)" at tiers '
                 r'"(?P<tiers>[^"]*)"$'))
def disclosure_accounted_at(world: World, who: str, what: str, tiers: str) -> None:
    """Then the accounting of disclosures shows the hospital reading "view" at tiers "status, plan" """
    entries, organisation = _accounting(world), _organisation(world, who)
    wanted = [t.strip().lower() for t in tiers.split(",") if t.strip()]
    assert any(e["organisation"] == organisation and e["what"] == what.lower() and e["tiers"] == wanted
               for e in entries), f"the accounting shows {_entries(entries)}"


@then(parsers.re(r"the accounting of disclosures shows:$"))
def disclosures_table(world: World, datatable: list[list[str]]) -> None:
    """Then the accounting of disclosures shows: | who | what | tiers | / | the hospital | view | status, plan |

    Each row is a read the accounting holds (in any order; more may be there). Columns: who (a person) or
    organisation (its id), what (view, events, document, lookup...), and optionally tiers (an empty cell: any)."""
    entries = _accounting(world)
    header = [h.strip().lower() for h in datatable[0]]
    if "what" not in header or not {"who", "organisation"} & set(header):
        raise AssertionError("the table's columns are who (or organisation) | what, and optionally tiers")
    for row in datatable[1:]:
        cells = {h: c.strip() for h, c in zip(header, row, strict=False)}
        organisation = cells.get("organisation") or _organisation(world, cells["who"])
        tiers = cells.get("tiers", "")
        wanted = [t.strip().lower() for t in tiers.split(",") if t.strip()] if tiers else None  # empty: any tiers
        assert any(e["organisation"] == organisation and e["what"] == cells["what"].lower()
                   and (wanted is None or e["tiers"] == wanted) for e in entries), (
            f"no entry {' | '.join(row)}; the accounting shows {_entries(entries)}")


@then(parsers.re(r'the accounting of disclosures does not show (?P<who>.+?)(?: reading "(?P<what>[^"]+)")?$'))
def disclosure_not_accounted(world: World, who: str, what: str | None) -> None:
    """Then the accounting of disclosures does not show the peer mentor   (or: ... reading "document")"""
    entries, organisation = _accounting(world), _organisation(world, who)
    found = [e for e in entries if e["organisation"] == organisation and (what is None or e["what"] == what.lower())]
    assert not found, f"the accounting shows {_entries(found)}"


@when(parsers.re(r"(?P<who>.+) (?:views|opens|reads) (?P<what>the case|the case's history|the plan of safe care)$"))
def reads(world: World, who: str, what: str) -> None:
    """When the hospital views the case   (or: opens the case, reads the case's history, reads the plan of safe care)

    What they read is in `world.last` for the next line (`Then the action is refused as not allowed`), and in the
    accounting of disclosures."""
    path = {"the case": "", "the case's history": "/events", "the plan of safe care": "/documents/plan-of-safe-care"}
    world.last = world.api.get(f"/cases/{world.current()['id']}{path[what]}", world.role(who))


@then(parsers.re(r"the accounting of disclosures holds no personal details$"))
def accounting_without_identity(world: World) -> None:
    """Then the accounting of disclosures holds no personal details   (no name, date of birth or other data of the
    case: who read which tier, when)"""
    data = world.api.client.app.state.services.cases.get(world.current()["id"]).data  # type: ignore[attr-defined]
    text = str(_accounting(world)).lower()
    found = [f"{k} {v!r}" for k, v in data.items() if isinstance(v, str) and len(v) > 3 and v.lower() in text
             and k in ("first_name", "last_name", "date_of_birth", "phone", "address", "notes")]
    assert not found, f"the accounting shows {', '.join(found)}"


@then(parsers.re(r"(?P<who>.+) (?P<can>can|cannot) read the (?:de-identified )?(?:CAPTA |outcome )?figures$"))
def reads_figures(world: World, who: str, can: str) -> None:
    """Then the analyst can read the outcome figures   (or: cannot read the CAPTA figures; this year's, by month)"""
    year = world.today().year
    response = world.api.get(f"/reports/capta?from={year}-01-01&to={year}-12-31", world.role(who))
    if can == "can":
        assert response.status_code == 200, f"{who} cannot read the figures ({response.status_code})"
    else:
        assert response.status_code in (403, 404), f"{who} can read the figures ({response.status_code})"


@then(parsers.re(r"(?P<who>.+) cannot (?:see|list|read) the accounting of disclosures$"))
def accounting_hidden(world: World, who: str) -> None:
    """Then the hospital cannot see the accounting of disclosures   (only the case's lead organisation may)"""
    response = world.api.get(f"/cases/{world.current()['id']}/disclosures", world.role(who))
    assert response.status_code in (403, 404), f"{who} can see the accounting ({response.status_code})"


@then(parsers.re(r'the lookup gives the lead contact as "(?P<text>[^"]*)"$'))
@then(parsers.re(r'(?i)the lookup(?: result)? (?:gives|shows) the lead (?:cps )?contact (?:as|of) (?P<text>[^"]+)$'))
def lookup_contact(world: World, text: str) -> None:
    """Then the lookup gives the lead contact as "County Child Protective Services"   (its name, id or phone line)

    Then the lookup result shows the lead CPS contact of county-cps"""
    match = next((m for m in world.lookup if m["id"] == world.current()["id"]), None)
    assert match is not None, f"the lookup found {[m['id'] for m in world.lookup] or 'nothing'}"
    contact = match["lead_contact"] or {}
    said = " / ".join(str(v) for v in contact.values() if v)
    assert text.strip().lower() in said.lower(), f"the lookup gives the lead contact as {said or 'nobody'!r}"


@then(parsers.re(r"the lookup finds (?P<count>\d+) cases?$"))
def lookup_count(world: World, count: str) -> None:
    """Then the lookup finds 2 cases   (a parent with an earlier case: each is a match)"""
    assert len(world.lookup) == int(count), f"the lookup found {len(world.lookup)} case(s)"


@then("the lookup is refused")
def lookup_refused(world: World) -> None:
    """Then the lookup is refused   (only hospital and CPS staff may look a parent up)"""
    assert world.last is not None and world.last.status_code in (403, 422), (
        f"the lookup was answered ({world.last.status_code})")
