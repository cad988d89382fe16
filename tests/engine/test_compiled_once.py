"""Each workflow version compiles once into one shared `transitions` machine; taking an action builds nothing."""

from __future__ import annotations

from typing import Any

import pytest
import transitions

from engine import Cases, FixedClock
from tests.pathway import drive, open_case


def test_taking_actions_never_builds_a_machine(
    cases: Cases, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a transitions machine was built while taking an action")

    monkeypatch.setattr(transitions.Machine, "__init__", refuse)
    case = drive(cases, clock, open_case(cases, clock), "follow_up")
    assert case.state == "follow_up"


def test_one_machine_is_shared_by_every_case(cases: Cases, clock: FixedClock) -> None:
    workflow = cases.catalogue.workflow("charm-posc")
    machine = workflow.machine
    drive(cases, clock, open_case(cases, clock), "notified")
    drive(cases, clock, open_case(cases, clock), "cps_assessment")
    assert cases.catalogue.workflow("charm-posc").machine is machine
    assert machine.models == []  # cases are never bound to the machine (memory stays flat)
