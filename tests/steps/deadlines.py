"""Steps about deadlines, the tick that marks them missed, and worklists."""

from __future__ import annotations

from pytest_bdd import parsers, then, when
from sqlalchemy import select

from engine.deadlines import DEADLINES
from engine.ticker import tick
from tests.steps.world import World, role


def _status(world: World, name: str) -> str:
    services = world.api.client.app.state.services  # type: ignore[attr-defined]
    with services.db.read() as conn:
        found = conn.execute(
            select(DEADLINES.c.status, DEADLINES.c.opened_at)
            .where(DEADLINES.c.case_id == world.current()["id"], DEADLINES.c.name == name)
            .order_by(DEADLINES.c.id.desc()).limit(1)
        ).first()
    if found is None:
        return "not open"
    if found.status == "open" and found.opened_at > services.clock.now():
        return "waiting to open"
    return str(found.status)


@then(parsers.parse("the {name} deadline is {status}"))
def deadline_is(world: World, name: str, status: str) -> None:
    """Then the treatment_admission deadline is met   (open, waiting to open, met, missed, cancelled, overdue)"""
    if status == "overdue":
        view = world.refresh()
        found = next((d for d in view["deadlines"] if d["deadline"] == name), None)
        assert found is not None, f"{name} is not open; open: {[d['deadline'] for d in view['deadlines']]}"
        assert found["overdue"], f"{name} is open but not overdue (due {found['due_at']})"
        return
    actual = _status(world, name)
    assert actual == status, f"the {name} deadline is {actual}, not {status}"


@when("the deadlines are processed")
def deadlines_processed(world: World) -> None:
    """When the deadlines are processed   (what `posc tick` and the server do every minute)"""
    services = world.api.client.app.state.services  # type: ignore[attr-defined]
    tick(services.db, services.catalogue, services.clock.now())


@then(parsers.parse("the worklist of {who} shows {name}"))
def worklist_shows(world: World, who: str, name: str) -> None:
    """Then the worklist of the cps worker shows escalation:interim_services"""
    items = world.api.get("/worklist?limit=200", role(who)).json()["items"]
    mine = [i["deadline"] for i in items if i["case"] == world.current()["id"]]
    assert name in mine, f"the worklist of {who} shows {mine or 'nothing'} for this case"


@then(parsers.parse("the worklist of {who} does not show {name}"))
def worklist_hides(world: World, who: str, name: str) -> None:
    """Then the worklist of the treatment provider does not show interim_services"""
    items = world.api.get("/worklist?limit=200", role(who)).json()["items"]
    assert name not in [i["deadline"] for i in items if i["case"] == world.current()["id"]]
