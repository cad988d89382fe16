"""What an action costs SQLite in pages written: deterministic, so a change that makes every state change rewrite
more of the database (an index whose columns every state change sets, say) fails here instead of going unnoticed
until the benchmarks are run again. On SQLite a commit writes every page it changed to the write-ahead log, and the
checkpoints copy them back, so the pages an action writes are most of what its commit costs. Raise a budget only
with a reason, and re-measure the README's figures in the same commit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from engine import Cases, Catalogue, Database, FixedClock, ensure_organisation
from tests.conftest import START
from tests.factories import ACTORS, KINDS, ORGANISATIONS, action_data
from tests.pathway import due_date, open_case, take
from tests.sqlcount import pages_written, without_checkpoints

#: work → the most pages it may write on average. Measured on this test's database: a state change 26, a same-state
#: action 9.5, an opening 28 to 29 (the case ids are random, so where their rows fall varies a little). With the party
#: rows' two `overdue_from` indexes, which SQLite's planner never used (migration 0010), they were 33.5, 9.5 and 35.
BUDGET = {"a state change (admission to treatment)": 30, "a same-state action (a consent renewed)": 11,
          "open a case": 32}
#: Cases each measurement takes its work on, and cases in the database before it (a database in use).
ROUNDS, WARM = 20, 20


@pytest.fixture
def sqlite_cases(tmp_path: Path, catalogue: Catalogue) -> Iterator[tuple[Cases, FixedClock]]:
    db = Database(f"sqlite:///{tmp_path / 'pages.db'}")
    without_checkpoints(db)
    db.ensure_schema()
    clock = FixedClock(START)
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(db, clock, org_id, name, kind=KINDS[org_id])
    yield Cases(db, catalogue, clock), clock
    db.dispose()


def test_the_hot_paths_stay_within_their_page_budget(sqlite_cases: tuple[Cases, FixedClock]) -> None:
    cases, clock = sqlite_cases
    for i in range(WARM):
        take(cases, clock, open_case(cases, clock, last_name=f"Warm{i}"), "record_consent")
    fresh = [take(cases, clock, open_case(cases, clock, last_name=f"Fresh{i}"), "record_consent")
             for i in range(ROUNDS)]
    clock.advance(timedelta(minutes=1))
    admission = action_data("admit_to_treatment", clock.now(), due_date(fresh[0]))
    consent = action_data("record_consent", clock.now(), due_date(fresh[0]))
    work: dict[str, Callable[[], object]] = {
        "a state change (admission to treatment)": lambda: [
            cases.act(ACTORS["treatment"], c.id, "admit_to_treatment", admission) for c in fresh],
        "a same-state action (a consent renewed)": lambda: [
            cases.act(ACTORS["prenatal"], c.id, "record_consent", consent) for c in fresh],
        "open a case": lambda: [open_case(cases, clock, last_name=f"New{i}") for i in range(ROUNDS)],
    }
    measured = {}
    for what, run in work.items():
        with pages_written(cases.db) as pages:
            run()
            measured[what] = pages() / ROUNDS
    over = {what: pages for what, pages in measured.items() if pages > BUDGET[what]}
    assert over == {}, f"pages written per operation: {measured}; budgets: {BUDGET}"
