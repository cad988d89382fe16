"""What an action, a case view, a page and the lists cost in SQL statements (each a round trip), on SQLite and
PostgreSQL: deterministic, so a change that adds a read or a write to the hot path fails here instead of going
unnoticed until the benchmarks are run again. The budgets count `BEGIN` and the access log's own commit; raise one
only with a reason, and re-measure the README's figures in the same commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from engine import CaseQueries, Cases, FixedClock, add_user
from tests.factories import ACTORS, action_data, identification, local_date
from tests.pathway import at_delivery, due_date, open_case, take
from tests.sqlcount import statements

#: work → the most statements it may run on (SQLite, PostgreSQL). PostgreSQL writes an action in one statement (the
#: case, the event, a consent, the deadlines, the party rows, and the answer's access-log row and open deadlines:
#: `engine.onewrite`), after `BEGIN` and the read that locks the case: as many as the bare write. It opens a case the
#: same way, after `BEGIN` and the read that looks for the parent's open case; at delivery, the birth is one more
#: statement, after the read that locks the new case with its lead's contact. Elsewhere it records the answer's
#: access-log row in the statement that reads its open deadlines.
BUDGET = {
    "open a case": (10, 3),
    "open a case at delivery": (13, 5),
    # A state change copies the new state to the case's party rows, where the case list's filters find it.
    "a state change (admission to treatment)": (9, 3),
    "a same-state action (a consent renewed)": (8, 3),
    "the case view": (5, 5),
    # One statement (the key's holder, the case, its lead's contact and its open deadlines), then the access log's.
    "the case view for an API key": (3, 3),
    "the case page": (6, 6),
    "the case list": (4, 4),
    "the worklist": (4, 4),
}


def work(cases: Cases, clock: FixedClock) -> dict[str, Callable[[], Any]]:
    queries = CaseQueries(cases.db, cases.catalogue, cases)
    warm = take(cases, clock, open_case(cases, clock, last_name="Warm"), "record_consent")
    take(cases, clock, warm, "admit_to_treatment")  # organisation kinds are read once per engine, then known
    queries.view(ACTORS["cps"], warm.id)
    case = take(cases, clock, open_case(cases, clock), "record_consent")
    for _ in range(30):  # a busy history: the budget holds however long the case's history is
        case = take(cases, clock, case, "record_consent")
    consent = action_data("record_consent", clock.now(), due_date(case))
    admission = action_data("admit_to_treatment", clock.now(), due_date(case))
    other = take(cases, clock, open_case(cases, clock, last_name="Other"), "record_consent")
    delivery = at_delivery(clock, last_name="Born")
    _, key = add_user(cases.db, clock, name="Sam Lee", role="cps", organisation="county-cps")
    return {
        "open a case": lambda: cases.open(
            ACTORS["prenatal"], "charm-posc", identification(local_date(clock.now()), last_name="New")),
        "open a case at delivery": lambda: cases.open(
            ACTORS["hospital"], "charm-posc", delivery[0], variant=("birth", delivery[1])),
        "a state change (admission to treatment)": lambda: cases.act(
            ACTORS["treatment"], other.id, "admit_to_treatment", admission),
        "a same-state action (a consent renewed)": lambda: cases.act(
            ACTORS["prenatal"], case.id, "record_consent", consent),
        "the case view": lambda: queries.view(ACTORS["cps"], case.id),
        "the case view for an API key": lambda: queries.view_with_key(key, case.id),
        "the case page": lambda: queries.page(ACTORS["cps"], case.id),
        "the case list": lambda: queries.list_cases(ACTORS["cps"]),
        "the worklist": lambda: queries.worklist(ACTORS["cps"]),
    }


@pytest.mark.parametrize("what", list(BUDGET))
def test_the_hot_paths_stay_within_their_statement_budget(cases: Cases, clock: FixedClock, what: str) -> None:
    run = work(cases, clock)[what]
    clock.advance(timedelta(minutes=1))
    with statements(cases.db) as seen:
        run()
    budget = BUDGET[what][cases.db.engine.dialect.name == "postgresql"]
    assert len(seen) <= budget, "\n".join(s.split("\n")[0][:100] for s in seen)
