"""Steps about time: the date features run on, and time passing."""

from __future__ import annotations

from datetime import date, timedelta

from pytest_bdd import given, parsers, when

from tests.steps.world import World, morning


@given(parsers.parse("today is {day}"))
def today_is(world: World, day: str) -> None:
    """Given today is 2026-11-02   (09:00 in the jurisdiction)"""
    world.api.clock.set(morning(date.fromisoformat(day)))


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


@when(parsers.parse("it is {when_text}"))
def it_is(world: World, when_text: str) -> None:
    """When it is 10 days before the due date   (09:00 that day)"""
    from tests.steps.world import when as resolve

    world.api.clock.set(morning(resolve(when_text, world)))
