"""Steps about time: the date features run on, and time passing."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pytest_bdd import given, parsers, when

from tests.steps.world import World, morning


@given(parsers.re(r"today is (?P<day>\d{4}-\d{2}-\d{2})(?:(?: at |T)(?P<clock>\d{1,2}:\d{2}\S*))?$"))
def today_is(world: World, day: str, clock: str | None) -> None:
    """Given today is 2026-11-02   (09:00 in the jurisdiction)

    Given today is 2026-11-03 at 14:30   (or 2026-11-03T14:30-05:00; without an offset, the jurisdiction's time)"""
    from tests.steps.world import value

    if clock is None:
        world.api.clock.set(morning(date.fromisoformat(day)))
    else:
        world.api.clock.set(datetime.fromisoformat(value(f"{day} at {clock}", world, "datetime")))


@when(parsers.parse("{count:d} days pass"))
@when(parsers.parse("{count:d} day passes"))
@given(parsers.parse("{count:d} days have passed"))
@given(parsers.parse("{count:d} day has passed"))
@given(parsers.parse("{count:d} days pass"))
def days_pass(world: World, count: int) -> None:
    """When 8 days pass

    When 1 day passes
    Given 8 days have passed
    Given 1 day has passed
    Given 20 days pass"""
    world.api.clock.advance(timedelta(days=count))


@when(parsers.parse("{count:d} hours pass"))
@when(parsers.parse("{count:d} hour passes"))
@given(parsers.parse("{count:d} hours have passed"))
@given(parsers.parse("{count:d} hours pass"))
def hours_pass(world: World, count: int) -> None:
    """When 49 hours pass

    When 1 hour passes
    Given 36 hours have passed
    Given 36 hours pass"""
    world.api.clock.advance(timedelta(hours=count))


@when(parsers.re(r"it is (?:now )?(?P<when_text>.+)$"))
@given(parsers.re(r"it is (?:now )?(?P<when_text>.+)$"))
def it_is(world: World, when_text: str) -> None:
    """When it is 10 days before the due date   (09:00 that day)

    Given it is now 2026-12-29T08:00-05:00   (or: 2026-12-29 at 08:00, tomorrow at 14:30-05:00)"""
    from tests.steps.world import value
    from tests.steps.world import when as resolve

    if ":" in when_text:  # a time of day: that very moment
        world.api.clock.set(datetime.fromisoformat(value(when_text, world, "datetime")))
    else:
        world.api.clock.set(morning(resolve(when_text, world)))
