"""Races on one case with real threads: exactly one winner, the others refused, nothing lost or merged."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from engine import Cases, FixedClock, NotAvailable, StaleVersion
from tests.factories import ACTORS, action_data, taken
from tests.pathway import due_date, open_case, take

THREADS = 16


def race(attempt: Callable[[], Any]) -> Counter[str]:
    """Runs `attempt` in THREADS threads released together; counts outcomes by exception name."""
    barrier = threading.Barrier(THREADS)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            attempt()
            result = "ok"
        except Exception as exc:  # counted, then asserted on
            result = type(exc).__name__
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.slow
def test_racing_writers_on_the_same_version_give_exactly_one_winner(cases: Cases, clock: FixedClock) -> None:
    case = open_case(cases, clock)
    seen = cases.get(case.id).version
    data = action_data("record_consent", clock.now(), due_date(case))

    outcomes = race(lambda: taken(cases,
        ACTORS["prenatal"], case.id, "record_consent", data, expected_version=seen))

    assert outcomes == Counter({"ok": 1, StaleVersion.__name__: THREADS - 1})
    assert [e.action for e in cases.history(case.id)] == ["open_case", "record_consent"]
    assert cases.verify(case.id) == []


@pytest.mark.slow
def test_racing_state_changes_are_serialised_so_only_the_first_applies(cases: Cases, clock: FixedClock) -> None:
    case = take(cases, clock, open_case(cases, clock), "record_consent")
    data = action_data("refer_to_treatment", clock.now(), due_date(case))

    outcomes = race(lambda: taken(cases, ACTORS["prenatal"], case.id, "refer_to_treatment", data))

    assert outcomes == Counter({"ok": 1, NotAvailable.__name__: THREADS - 1})
    assert cases.get(case.id).version == 3
    assert cases.verify(case.id) == []


@pytest.mark.slow
def test_writers_on_different_cases_all_succeed(cases: Cases, clock: FixedClock) -> None:
    opened = [take(cases, clock, open_case(cases, clock), "record_consent") for _ in range(THREADS)]
    queue = list(opened)
    lock = threading.Lock()

    def next_case() -> Any:
        with lock:
            case = queue.pop()
        return taken(cases, ACTORS["treatment"], case.id, "admit_to_treatment",
                                 action_data("admit_to_treatment", clock.now(), due_date(case)))

    assert race(next_case) == Counter({"ok": THREADS})
    assert all(cases.verify(c.id) == [] for c in opened)
