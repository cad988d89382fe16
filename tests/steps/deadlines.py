"""Steps about deadlines, the tick that marks them missed, and worklists."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pytest_bdd import given, parsers, then, when
from sqlalchemy import select

from engine.deadlines import DEADLINES
from engine.ticker import tick
from tests.factories import JURISDICTION
from tests.steps.world import World, value
from tests.steps.world import when as resolve


def _row(world: World, name: str) -> Any:
    """The case's latest deadline of that name (None if it never opened); an unknown name is a mistake in the
    feature, said plainly."""
    services = world.api.client.app.state.services  # type: ignore[attr-defined]
    name = deadline_name(world, name)
    with services.db.read() as conn:
        return conn.execute(
            select(DEADLINES.c.status, DEADLINES.c.opened_at, DEADLINES.c.target_at, DEADLINES.c.due_at,
                   DEADLINES.c.closed_at)
            .where(DEADLINES.c.case_id == world.current()["id"], DEADLINES.c.name == name)
            .order_by(DEADLINES.c.id.desc()).limit(1)
        ).first()


def deadline_name(world: World, said: str) -> str:
    """The deadline a line names: by its name (`newborn_visit`, `escalation:newborn_visit`) or in words, by its
    name or title whatever their case (`the newborn visit`, `the 90-day follow-up`); an unknown one is a mistake in
    the feature, said plainly."""
    services = world.api.client.app.state.services  # type: ignore[attr-defined]
    known = services.catalogue.workflow(world.current()["workflow"]).deadlines
    prefix, _, rest = said.rpartition(":")
    words = re.sub(r"[^a-z0-9]+", " ", rest.lower()).strip()
    for name, deadline in known.items():
        titles = {re.sub(r"[^a-z0-9]+", " ", text.lower()).strip() for text in (name, deadline.title)}
        if words in titles or f"the {words}" in titles:
            return f"{prefix}:{name}" if prefix else name
    raise AssertionError(f"the workflow has no deadline {said!r}; its deadlines: {', '.join(known)}")


def _status(world: World, name: str) -> str:
    found = _row(world, name)
    if found is None:
        return "not open"
    if found.status == "open" and _aware(found.opened_at) > world.api.clock.now():
        return "waiting to open"
    return str(found.status)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


#: A deadline named after the word or before it: "the deadline treatment_admission", "the treatment_admission deadline".
#: Or in words, by its title: "the newborn visit deadline", "the 90-day follow-up deadline".
DEADLINE = r"the (?=deadline |[^\"]+? deadline )(?:deadline )?(?P<name>[A-Za-z0-9_:' -]+?)(?: deadline)?"


@then(parsers.re(DEADLINE + r" is (?:still )?(?P<status>open|waiting to open|met|missed|cancelled|overdue|not open)$"))
@given(parsers.re(DEADLINE + r" is (?:still )?(?P<status>open|waiting to open|met|missed|cancelled|overdue|not open)$"))
def deadline_is(world: World, name: str, status: str) -> None:
    """Then the treatment_admission deadline is met   (open, waiting to open, met, missed, cancelled, overdue, not open)

    Then the deadline treatment_admission is still open   (the name before or after the word "deadline")
    Given the early_intervention_referral deadline is open   (a check that the scene is as the scenario says)

    "not open": it has not opened for this case (yet); a name the workflow does not have is said to be unknown."""
    name = deadline_name(world, name)
    if status == "overdue":
        view = world.refresh()
        found = next((d for d in view["deadlines"] if d["deadline"] == name), None)
        assert found is not None, f"{name} is not open; open: {[d['deadline'] for d in view['deadlines']]}"
        assert found["overdue"], f"{name} is open but not overdue (due {found['due_at']})"
        return
    actual = _status(world, name)
    assert actual == status, f"the {name} deadline is {actual}, not {status}"


@then(parsers.re(DEADLINE + r" was met(?: (?P<how>on target|late))?$"))
def deadline_met(world: World, name: str, how: str | None) -> None:
    """Then the treatment_admission deadline was met on target   (or: met late, after its target but in time)

    Then the newborn visit deadline was met   (on target or late)"""
    found = _row(world, name)
    assert found is not None and found.status == "met", (
        f"the {name} deadline is {'not open' if found is None else found.status}, not met")
    closed, target = _aware(found.closed_at), _aware(found.target_at)
    if how is None:
        return
    if how == "on target":
        assert closed <= target, f"the {name} deadline was met at {closed:%Y-%m-%d %H:%M}, after its target {target}"
    else:
        assert target < closed, f"the {name} deadline was met on target ({closed:%Y-%m-%d %H:%M})"


@then(parsers.re(DEADLINE + r" is due (?P<day>.+)$"))
def deadline_due(world: World, name: str, day: str) -> None:
    """Then the treatment_admission deadline is due in 7 days   (any date: 2027-01-10, the due date, on tomorrow...)

    Then the consent deadline is due on 2026-11-16T00:00-05:00   (a time: that very moment)"""
    found = _row(world, name)
    assert found is not None, f"the {name} deadline has not opened"
    _same_moment(world, f"the {name} deadline is due", _aware(found.due_at), day)


@then(parsers.re(DEADLINE + r" has its target (?P<day>.+)$"))
def deadline_target(world: World, name: str, day: str) -> None:
    """Then the treatment_admission deadline has its target in 3 days   (or: on 2026-11-05, at 2026-11-05T09:00)"""
    found = _row(world, name)
    assert found is not None, f"the {name} deadline has not opened"
    _same_moment(world, f"the {name} deadline has its target", _aware(found.target_at), day)


def _same_moment(world: World, what: str, actual: datetime, said: str) -> None:
    """A deadline's moment against what a line says: a day (in the jurisdiction), or a time to the minute."""
    said = re.sub(r"^(?:on|at) ", "", said.strip())
    if ":" in said:
        expected = datetime.fromisoformat(value(said, world, "datetime"))
        assert actual == expected, f"{what} at {actual.astimezone(JURISDICTION):%Y-%m-%d %H:%M%z}, not {said}"
        return
    day = resolve(said, world)
    local = actual.astimezone(JURISDICTION).date()
    assert local == day, f"{what} on {local}, not {day}"


@then(parsers.re(r"the case has no open deadlines?$"))
def no_open_deadlines(world: World) -> None:
    """Then the case has no open deadlines   (every one met, missed or cancelled)"""
    services = world.api.client.app.state.services  # type: ignore[attr-defined]
    with services.db.read() as conn:
        still = conn.execute(select(DEADLINES.c.name).where(
            DEADLINES.c.case_id == world.current()["id"], DEADLINES.c.status == "open")).scalars().all()
    assert not still, f"open: {', '.join(still)}"


@when("the deadlines are processed")
def deadlines_processed(world: World) -> None:
    """When the deadlines are processed   (what `posc tick` and the server do every minute)"""
    services = world.api.client.app.state.services  # type: ignore[attr-defined]
    tick(services.db, services.catalogue, services.clock.now())


#: What a worklist shows: a deadline, or an escalation of one ("escalation:interim_services").
WORK = r"(?:an escalation (?:of|for) (?P<escalated>[a-z0-9_]+)|(?P<name>[a-z0-9_:]+))$"


@then(parsers.re(r"the worklist of (?P<who>.+) shows " + WORK))
@then(parsers.re(r"(?P<who>.+)'s worklist shows " + WORK))
def worklist_shows(world: World, who: str, name: str | None = None, escalated: str | None = None) -> None:
    """Then the worklist of the cps worker shows escalation:interim_services

    Then the cps worker's worklist shows an escalation for interim_services"""
    name = name or f"escalation:{escalated}"
    items = world.api.get("/worklist?limit=200", world.role(who)).json()["items"]
    mine = [i["deadline"] for i in items if i["case"] == world.current()["id"]]
    assert name in mine, f"the worklist of {who} shows {mine or 'nothing'} for this case"


@then(parsers.re(r"the case is not on (?P<who>.+)'s worklist$"))
def not_on_worklist(world: World, who: str) -> None:
    """Then the case is not on the peer mentor's worklist   (none of its deadlines)"""
    items = world.api.get("/worklist?limit=200", world.role(who)).json()["items"]
    mine = [i["deadline"] for i in items if i["case"] == world.current()["id"]]
    assert not mine, f"{who}'s worklist shows {', '.join(mine)} for this case"


@then(parsers.re(r"the worklist of (?P<who>.+) does not show (?P<name>[a-z0-9_:]+)$"))
@then(parsers.re(r"(?P<who>.+)'s worklist does not show (?P<name>[a-z0-9_:]+)$"))
def worklist_hides(world: World, who: str, name: str) -> None:
    """Then the worklist of the treatment provider does not show interim_services

    Then the hospital's worklist does not show plan_before_discharge"""
    items = world.api.get("/worklist?limit=200", world.role(who)).json()["items"]
    assert name not in [i["deadline"] for i in items if i["case"] == world.current()["id"]]
