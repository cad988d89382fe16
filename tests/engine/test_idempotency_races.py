"""The same request sent several times at once with one `Idempotency-Key` (a client retrying on a timeout, a proxy
replaying to another server process) is acted on once: every sender gets the same answer, one of them as the first
and the others as replays, never an error and never a second event. Run with real concurrent connections, on SQLite
and PostgreSQL; the keys expire after `IDEMPOTENCY_TTL`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from engine import Cases, FixedClock
from engine.cases import IDEMPOTENCY_TTL, IdempotencyConflict
from engine.readmodels import Outcome
from tests.factories import ACTORS, action_data
from tests.pathway import due_date, open_case, take

SENDERS = 8


def at_once(send: Callable[[], Outcome]) -> list[Outcome | BaseException]:
    barrier = threading.Barrier(SENDERS)
    answers: list[Outcome | BaseException] = []

    def one() -> None:
        barrier.wait()
        try:
            answers.append(send())
        except BaseException as exc:  # the test reports every failure
            answers.append(exc)

    threads = [threading.Thread(target=one) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def assert_once(answers: list[Outcome | BaseException]) -> Outcome:
    failures = [a for a in answers if isinstance(a, BaseException)]
    assert not failures, failures
    outcomes = [a for a in answers if isinstance(a, Outcome)]
    assert len(outcomes) == SENDERS
    assert sorted(o.replayed for o in outcomes) == [False] + [True] * (SENDERS - 1)
    first = next(o for o in outcomes if not o.replayed)
    assert {(o.case.id, o.case.version, o.case.state) for o in outcomes} == {
        (first.case.id, first.case.version, first.case.state)}
    return first


@pytest.mark.parametrize("action", ["record_consent", "admit_to_treatment"])
def test_one_action_sent_at_once_with_one_key_is_taken_once(cases: Cases, clock: FixedClock, action: str) -> None:
    case = take(cases, clock, open_case(cases, clock), "record_consent")
    actor = ACTORS["prenatal" if action == "record_consent" else "treatment"]
    data = action_data(action, clock.now(), due_date(case))
    before = len(cases.history(case.id))
    first = assert_once(at_once(lambda: cases.act(actor, case.id, action, data, idempotency_key="retry-1")))
    assert len(cases.history(case.id)) == before + 1 and first.case.version == case.version + 1
    assert cases.verify(case.id) == []


def test_one_opening_sent_at_once_with_one_key_opens_one_case(cases: Cases, clock: FixedClock) -> None:
    from tests.factories import identification

    data: dict[str, Any] = identification(clock.now().date(), last_name="Once")
    first = assert_once(at_once(lambda: cases.open(ACTORS["prenatal"], "charm-posc", data,
                                                   idempotency_key="open-1", new_pregnancy=True)))
    assert cases.verify(first.case.id) == []


def test_a_key_is_remembered_for_its_time_and_then_free_again(cases: Cases, clock: FixedClock) -> None:
    case = take(cases, clock, open_case(cases, clock), "record_consent")
    actor, data = ACTORS["prenatal"], action_data("record_consent", clock.now(), due_date(case))
    first = cases.act(actor, case.id, "record_consent", data, idempotency_key="k")
    clock.advance(IDEMPOTENCY_TTL - timedelta(minutes=1))
    assert cases.act(actor, case.id, "record_consent", data, idempotency_key="k").replayed
    with pytest.raises(IdempotencyConflict):  # within its time, the key is the first request's
        cases.act(actor, case.id, "update_plan", {}, idempotency_key="k")
    clock.advance(timedelta(minutes=2))
    again = cases.act(actor, case.id, "record_consent", data, idempotency_key="k")
    assert not again.replayed and again.case.version == first.case.version + 1
