"""Steps about cases moving along the pathway: opening, acting, states, available actions and refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pytest_bdd import given, parsers, then, when

from tests.factories import ACTION_ROLE, action_data, identification
from tests.pathway import ROUTES
from tests.steps.world import REACHED, TAKEN, World, value


def _record_fields(world: World, form: str, field: str) -> list[str]:
    """The fields of each record of a list of records, in the form's order (`invitees`: role, organisation)."""
    prop = world.api.get(f"/forms/{form}", "cps").json()["properties"][field]
    items = prop.get("items") or next((o.get("items") for o in prop.get("anyOf", []) if o.get("items")), {})
    if "$ref" in items:
        items = world.api.get(f"/forms/{form}", "cps").json()["$defs"][items["$ref"].rsplit("/", 1)[1]]
    return list(items.get("properties", {}))


def _records(world: World, form: str, field: str, cell: str) -> list[dict[str, str]]:
    """A list of records written in one cell, as features show them: `cps county-cps, parent` is two records, each
    its values in the form's order of fields."""
    names = _record_fields(world, form, field)
    return [dict(zip(names, item.split(), strict=False)) for item in cell.split(",") if item.strip()]


def _form_fields(world: World, form: str) -> dict[str, str]:
    """Each field's kind, for reading table cells: lists of organisations count as lists."""
    schema = world.api.get(f"/forms/{form}", "cps").json()
    kinds = {}
    for name, prop in schema["properties"].items():
        kind = prop.get("x-type", "text")
        listed = prop.get("type") == "array" or any(o.get("type") == "array" for o in prop.get("anyOf", []))
        kinds[name] = "many" if kind == "organisation" and listed else kind
    return kinds


def _table(world: World, datatable: list[list[str]] | None, form: str) -> dict[str, Any]:
    if not datatable:
        return {}
    types = _form_fields(world, form)
    header, *rows = datatable
    assert [h.strip().lower() for h in header] == ["field", "value"], "a data table has two columns: field | value"
    changes: dict[str, Any] = {}
    for name, cell in ((r[0].strip(), r[1]) for r in rows):
        if name not in types:
            raise AssertionError(f"form {form} has no field {name!r}; its fields: {', '.join(types)}")
        given = (_records(world, form, name, cell) if types[name] == "records" and cell.strip().lower() != "none"
                 else value(cell, world, types[name]))
        if name in changes and isinstance(changes[name], list) and isinstance(given, list):
            changes[name] = [*changes[name], *given]  # a list field given row by row
        else:
            changes[name] = given
    return changes


def _act(world: World, who: str, action: str, changes: dict[str, Any]) -> None:
    case = world.current()
    _known_form(world, action)  # an unknown action is a mistake in the feature, said plainly
    data = {**action_data(action, world.api.clock.now(), world.due_date()), **changes}
    world.history_before = len(_history(world))
    world.last = world.api.post(f"/cases/{case['id']}/actions/{action}", world.role(who), {"data": data})
    if world.last.status_code == 200:
        TAKEN.add(action)
        world.refresh()
        REACHED.add(_recorded_state(world))


def _recorded_state(world: World) -> str:
    """The case's state as recorded, whoever may see it (minimum necessary hides it from some parties, even the
    lead): what the coverage report counts as reached."""
    return str(world.api.client.app.state.services.cases.get(world.current()["id"]).state)  # type: ignore[attr-defined]


def _history(world: World) -> list[dict[str, Any]]:
    history = world.api.client.app.state.services.cases.history(world.current()["id"])  # type: ignore[attr-defined]
    return [{"action": e.action, "organisation": e.organisation} for e in history]  # as recorded, whoever may read it


def _known_form(world: World, action: str) -> str:
    definition = world.api.get("/workflows/charm-posc", "cps").json()
    found = next((a["form"] for a in definition["actions"] if a["name"] == action), None)
    if found is None:
        names = ", ".join(a["name"] for a in definition["actions"])
        raise AssertionError(f"the workflow has no action {action!r}; its actions: {names}")
    return str(found)


@given(parsers.re(r"a case opened by (?P<who>[^:]+)$"))
def case_opened(world: World, who: str) -> None:
    """Given a case opened by the prenatal clinic"""
    body = {"workflow": "charm-posc", "data": identification(world.today())}
    response = world.api.post("/cases", world.role(who), body)
    assert response.status_code == 201, f"the case could not be opened: {response.json().get('detail')}"
    world.case = response.json()
    REACHED.add("identified")


@given(parsers.re(r"a case opened by (?P<who>.+) with:$"))
def case_opened_with(world: World, who: str, datatable: list[list[str]]) -> None:
    """Given a case opened by the prenatal clinic with: | field | value | / | due_date | in 20 days |"""
    data = {**identification(world.today()), **_table(world, datatable, "identification")}
    world.last = world.api.post("/cases", world.role(who), {"workflow": "charm-posc", "data": data})
    if world.last.status_code == 201:
        world.case = world.last.json()
        REACHED.add("identified")
    else:  # a step on "the case" after this says the opening was refused, not "the case" of an earlier line
        world.case = None


@when(parsers.re(r"(?P<who>.+) opens a case for the same parent(?P<new>, for a new pregnancy)?$"))
def opens_for_the_same_parent(world: World, who: str, new: str | None) -> None:
    """When the prenatal clinic opens a case for the same parent   (or: ..., for a new pregnancy)"""
    body = {"workflow": "charm-posc", "data": identification(world.today()), "new_pregnancy": bool(new)}
    world.last = world.api.post("/cases", world.role(who), body)
    if world.last.status_code == 201:
        world.case = world.last.json()


def _at_delivery_body(world: World, changes: dict[str, Any], birth: dict[str, Any], new: bool) -> dict[str, Any]:
    today = world.today()
    data = identification(today, due_date=(today + timedelta(days=5)).isoformat(), gestational_weeks=39)
    del data["identified_by"]  # the opening at delivery sets it
    birth_data = {**action_data("record_birth", world.api.clock.now(), today), **birth}
    return {"workflow": "charm-posc", "data": {**data, **changes}, "birth": birth_data, "new_pregnancy": new}


@when(parsers.re(r"(?P<who>.+) opens a case at delivery(?P<new>, for a new pregnancy)?$"))
def opens_at_delivery(world: World, who: str, new: str | None) -> None:
    """When the hospital opens a case at delivery   (identification at birth: the birth an hour ago, due in 5 days)"""
    world.last = world.api.post("/cases", world.role(who), _at_delivery_body(world, {}, {}, bool(new)))
    if world.last.status_code == 201:
        world.case = world.last.json()
        REACHED.add(_recorded_state(world))


@when(parsers.re(r"(?P<who>.+) opens a case at delivery with:$"))
def opens_at_delivery_with(world: World, who: str, datatable: list[list[str]]) -> None:
    """When the hospital opens a case at delivery with: | field | value | / | born_at | 3 days ago at 22:00 |
    (a field of the birth form goes to the birth, any other to the identification)"""
    birth_fields = _form_fields(world, "birth_event")
    header, *rows = datatable
    births = [header, *[r for r in rows if r[0].strip() in birth_fields]]
    others = [header, *[r for r in rows if r[0].strip() not in birth_fields]]
    body = _at_delivery_body(
        world, _table(world, others, "identification"), _table(world, births, "birth_event"), False
    )
    world.last = world.api.post("/cases", world.role(who), body)
    if world.last.status_code == 201:
        world.case = world.last.json()
        REACHED.add(_recorded_state(world))


@given(parsers.re(r"a case in state (?P<state>[a-z_]+)$"))
def a_case_in_state(world: World, state: str) -> None:
    """Given a case in state follow_up   (the scenario's case, or one the prenatal clinic opens; the usual route)"""
    if world.case is None:
        case_opened(world, "the prenatal clinic")
    case_reached(world, state)


@given(parsers.parse("the case has reached {state}"))
@given(parsers.re(r"the case is in state (?P<state>[a-z_]+)$"))
def case_reached(world: World, state: str) -> None:
    """Given the case has reached plan_agreed   (takes the usual route there, an hour between actions)

    Given the case is in state plan_agreed   (from where the case is on that route: nothing if it is there already)

    The usual route takes each action with its form's usual data: the consent on it names every standard
    organisation for status, plan and treatment."""
    if state not in ROUTES:
        raise AssertionError(f"no usual route to {state!r}; states: {', '.join(ROUTES)}")
    route = ROUTES[state]
    actions = {a["name"]: a for a in world.api.get("/workflows/charm-posc", "cps").json()["actions"]}
    passes, where = ["identified"], "identified"  # the state the route is in after each of its actions
    for action in route:
        branches = [b for b in actions[action]["transitions"] if where in b["from"]]
        branch = next((b for b in branches if not b["when"]), branches[0] if branches else None)
        where = branch["to"] if branch is not None and branch["to"] != "same" else where
        passes.append(where)
    now = _recorded_state(world)
    start = min((i for i, s in enumerate(passes) if s == now), default=0)  # a same-state step (a consent) again
    for action in route[start:]:
        world.api.clock.advance(timedelta(hours=1))
        _act(world, ACTION_ROLE[action], action, {})
        assert world.last.status_code == 200, f"{action} on the way to {state}: {world.last.json().get('detail')}"


def happened(world: World, who: str, action: str) -> None:
    """What a scenario starts from (a Given) must have happened: a refusal stops the scenario there, saying why."""
    answer = world.last
    if answer.status_code != 200:
        body = answer.json() if "json" in answer.headers.get("content-type", "") else {}
        said = [body.get("detail", ""), *body.get("reasons", []), *(f"{e['field']}: {e['message']}"
                                                                     for e in body.get("errors", []))]
        raise AssertionError(f"{action} by {who} was refused ({answer.status_code}): {'; '.join(s for s in said if s)}")


@when(parsers.re(r"(?P<who>.+) takes (?P<action>[a-z_]+)$"))
def takes(world: World, who: str, action: str) -> None:
    """When the treatment provider takes admit_to_treatment   (with the form's usual data)"""
    _act(world, who, action, {})


@given(parsers.re(r"(?P<who>.+) has taken (?P<action>[a-z_]+)$"))
def has_taken(world: World, who: str, action: str) -> None:
    """Given the treatment provider has taken admit_to_treatment   (a refusal stops the scenario, saying why)"""
    _act(world, who, action, {})
    happened(world, who, action)


@when(parsers.re(r"(?P<who>.+) takes (?P<action>[a-z_]+) with:$"))
def takes_with(world: World, who: str, action: str, datatable: list[list[str]]) -> None:
    """When the cps worker takes schedule_planning_meeting with: | meeting_date | 10 days before the due date |"""
    _act(world, who, action, _table(world, datatable, _known_form(world, action)))


@given(parsers.re(r"(?P<who>.+) has taken (?P<action>[a-z_]+) with:$"))
def has_taken_with(world: World, who: str, action: str, datatable: list[list[str]]) -> None:
    """Given the cps worker has taken schedule_planning_meeting with: | meeting_date | 10 days before the due date |"""
    _act(world, who, action, _table(world, datatable, _known_form(world, action)))
    happened(world, who, action)


@given(parsers.re(r"(?P<who>.+) has taken (?P<action>[a-z_]+) with (?P<field>[a-z_]+):$"))
def has_taken_with_list(world: World, who: str, action: str, field: str, datatable: list[list[str]]) -> None:
    """Given the cps worker has taken schedule_planning_meeting with invitees: | role | organisation | / | parent | |"""
    takes_with_list(world, who, action, field, datatable)
    happened(world, who, action)


@when(parsers.re(r"(?P<who>.+) takes (?P<action>[a-z_]+) with (?P<field>[a-z_]+):$"))
def takes_with_list(world: World, who: str, action: str, field: str, datatable: list[list[str]]) -> None:
    """When the cps worker takes schedule_planning_meeting with invitees: | role | organisation | / | cps | county-cps |

    A list of records, one row each, under a header of their fields; an empty cell leaves that field out."""
    form = _known_form(world, action)
    kinds = _form_fields(world, form)
    if kinds.get(field) != "records":
        listed = [name for name, kind in kinds.items() if kind == "records"]
        raise AssertionError(f"{field!r} is not a list of records of form {form}; its lists: {', '.join(listed)}")
    header, *rows = datatable
    names = [h.strip() for h in header]
    records = [{n: c.strip() for n, c in zip(names, row, strict=False) if c.strip()} for row in rows]
    _act(world, who, action, {field: records})


@then(parsers.re(r"the case is (?:still )?(?P<negated>not )?in state (?P<state>[a-z_]+)$"))
@then(parsers.re(r"the case (?:stays|remains|is still) in (?:state )?(?P<state>[a-z_]+)(?P<negated>)$"))
def case_in_state(world: World, state: str, negated: str | None) -> None:
    """Then the case is in state plan_agreed

    Then the case is still not in state meeting_scheduled   (or: is still in state, is not in state)
    Then the case stays in identified   (or: remains in, is still in)"""
    world.refresh()
    actual = _recorded_state(world)
    if negated:
        assert actual != state, f"the case is in state {state}"
    else:
        assert actual == state, f"the case is in state {actual}, not {state}"


@then(parsers.re(r"the (?:action|opening|step|request) succeeds$"))
def action_succeeds(world: World) -> None:
    """Then the action succeeds"""
    assert world.last is not None and world.last.status_code in (200, 201), (
        f"the action was refused ({world.last.status_code}): {world.last.json().get('detail')}"
    )


@then(parsers.re(r'(?:the (?:action|opening|step|request)|it) is refused because "(?P<reason>[^"]+)"$'))
def refused_because(world: World, reason: str) -> None:
    """Then the action is refused because "is outside the planning window"

    Then the opening is refused because "open case"   (any part of the reason, whatever its case)"""
    assert world.last is not None and world.last.status_code >= 400, "the action was not refused"
    body = world.last.json()
    errors = [f"{e['field']}: {e['message']}" for e in body.get("errors", [])]
    said = [*body.get("reasons", []), body.get("detail", ""), *errors]
    assert any(reason.lower() in s.lower() for s in said), f"refused, but not because {reason!r}: {said}"


@then("nothing new is recorded in the case's history")
@then("the case's history is unchanged")
@then(parsers.re(r"nothing new appears in the case(?:'s)? history$"))
def history_unchanged(world: World) -> None:
    """Then nothing new is recorded in the case's history   (or: the case's history is unchanged)

    Compares the history with what it held before the last action was tried (after a refusal, say).
    Then the case's history is unchanged
    Then nothing new appears in the case history"""
    assert world.history_before is not None, "no action was taken on the case yet"
    events = _history(world)
    assert len(events) == world.history_before, (
        f"the history grew from {world.history_before} to {len(events)} events: "
        f"{', '.join(e['action'] for e in events[world.history_before:])}"
    )


@then(parsers.re(r"(?:the (?:action|opening|step|request)|it) is refused as (?P<kind>.+)$"))
def refused_as(world: World, kind: str) -> None:
    """Then the action is refused as not allowed   (kinds: not allowed, not available, invalid, unknown case)"""
    statuses = {"not allowed": 403, "not available": 409, "invalid": 422, "unknown case": 404, "stale": 412}
    if kind not in statuses:
        raise AssertionError(f"unknown refusal {kind!r}; kinds: {', '.join(statuses)}")
    assert world.last is not None and world.last.status_code == statuses[kind], (
        f"expected {kind} ({statuses[kind]}), got {world.last.status_code}: {world.last.json().get('detail')}"
    )


@then(parsers.re(r"(?P<who>.+) may take (?P<action>[a-z_]+)$"))
def may_take(world: World, who: str, action: str) -> None:
    """Then the hospital may take record_birth"""
    options = {o["action"]: o for o in world.api.get(f"/cases/{world.current()['id']}/actions", world.role(who)).json()}
    assert action in options, f"{action} is not an action of the current state; actions: {', '.join(options)}"
    assert options[action]["allowed"], f"{who} may not take {action}: {options[action]['reasons']}"


@then(parsers.parse('{who} may not take {action} because "{reason}"'))
def may_not_take(world: World, who: str, action: str, reason: str) -> None:
    """Then the peer mentor may not take admit_to_treatment because "may not admit to treatment" """
    case_id = world.current()["id"]
    options = {o["action"]: o for o in world.api.get(f"/cases/{case_id}/actions", world.role(who)).json()}
    if action in options:
        assert not options[action]["allowed"], f"{who} may take {action}"
        reasons = options[action]["reasons"]
    else:  # another role's action is not offered at all: trying it says why (and changes nothing)
        tried = world.api.post(f"/cases/{case_id}/actions/{action}", world.role(who), {"data": {}})
        assert tried.status_code in (403, 409), f"{action} is not offered to {who}; trying it gave {tried.status_code}"
        reasons = [*tried.json().get("reasons", []), tried.json().get("detail", "")]
    assert any(reason.lower() in r.lower() for r in reasons), f"reasons: {reasons}"
