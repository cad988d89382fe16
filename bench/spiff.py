"""posc against SpiffWorkflow on the same pathway and the same database, interleaved in one run.

    python -m bench.spiff [--backend sqlite|postgresql|both] [--n 40] [--repeat 5]

Needs the bench extra (`pip install -e '.[bench]'`, which brings SpiffWorkflow).

Each side takes `--n` cases along the plan route of the CHARM pathway, one case after another, and a step is one of
nine: the case opened, then consent, admission to treatment, the planning meeting scheduled, the meeting held with
the plan, the birth, CPS notified, discharge and the case closed. Both sides persist after every step to the same
database (one SQLite file, or one PostgreSQL schema), through one SQLAlchemy engine. Rounds alternate which side runs
first; the figure is the median over `--repeat` rounds of steps per second, and the median of the per-round ratios.

posc, per step, in one transaction: the action's access decision (role, organisation, the parent's consent), the
form validated against its declared fields and rules, the guards, the transition on the shared state machine, one
hash-chained event, the deadlines the step opens, meets or cancels, the parties who may see the case, the case row
(compare-and-set on its version), and the typed answer built from what was written. Opening also checks that the
parent has no other open case.

SpiffWorkflow (its documented `BpmnWorkflowSerializer`, one row per workflow, `bench/charm.bpmn`: one user task
per posc action, exclusive gateways at birth and discharge evaluated by Spiff's script engine), per step, in one
transaction: read the workflow's row, deserialize it, find the ready user task for the step, put the same form
data into it, run it and the engine steps after it, serialize, update the row (compare-and-set on its version).
Opening: a workflow from the parsed spec, its first engine steps, serialized and inserted. Spiff validates nothing,
decides no access, keeps no audit trail and no deadlines: it does less per step than posc does.

The same round also times the bare durable write (SQLAlchemy Core: update a case row with a compare-and-set, insert
one event, commit) as many times as there are steps: `bare/Spiff` is the most any engine that commits every step
could reach against Spiff on this database and machine. Both sides start from a database in use (100 cases), and
PostgreSQL's statistics are refreshed before each round, as autovacuum keeps them on a live database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Column, Integer, MetaData, Table, Text, insert, select, update
from sqlalchemy.engine import Engine

from bench.actions import analyse, core_write, postgres_schema, prepare, warm_up
from engine import Cases, FixedClock
from tests.factories import ACTION_ROLE, ACTORS, action_data, identification, local_date

BPMN = Path(__file__).with_name("charm.bpmn")
#: The plan route, after the opening: one posc action, or one Spiff user task, each.
ROUTE = [
    "record_consent", "admit_to_treatment", "schedule_planning_meeting", "record_planning_meeting", "record_birth",
    "notify_cps", "discharge", "close_case",
]
STEPS_PER_CASE = 1 + len(ROUTE)
#: What the Spiff process's gateways decide on, given at the step that knows it.
DECIDES = {"record_planning_meeting": {"plan_agreed": True}, "discharge": {"safety_concern": False}}

WORKFLOWS = Table(
    "spiff_workflows", MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", Integer, nullable=False),
    Column("serialization", Text, nullable=False),
)


class Spiff:
    """SpiffWorkflow persisting one workflow per case to a table beside posc's."""

    def __init__(self, engine: Engine) -> None:
        parser = BpmnParser()
        parser.add_bpmn_file(str(BPMN))
        self.spec = parser.get_spec("charm_posc")
        self.serializer = BpmnWorkflowSerializer()
        self.engine = engine
        WORKFLOWS.create(engine, checkfirst=True)

    def open(self) -> int:
        workflow = BpmnWorkflow(self.spec)
        workflow.do_engine_steps()
        with self.engine.begin() as conn:
            row = conn.execute(insert(WORKFLOWS).values(
                version=1, serialization=self.serializer.serialize_json(workflow)).returning(WORKFLOWS.c.id))
            return int(row.scalar_one())

    def complete(self, workflow_id: int, step: str, data: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            version, stored = conn.execute(
                select(WORKFLOWS.c.version, WORKFLOWS.c.serialization).where(WORKFLOWS.c.id == workflow_id)).one()
            workflow = self.serializer.deserialize_json(stored)
            task = next(t for t in workflow.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.name == step)
            task.data.update(data)
            task.run()
            workflow.do_engine_steps()
            moved = conn.execute(
                update(WORKFLOWS).where(WORKFLOWS.c.id == workflow_id, WORKFLOWS.c.version == version)
                .values(version=version + 1, serialization=self.serializer.serialize_json(workflow)))
            if moved.rowcount != 1:
                raise RuntimeError("the workflow moved on")


def posc_cases(cases: Cases, clock: FixedClock, n: int, tag: str) -> None:
    """n cases along the route, an hour between steps (as a case's life would space them)."""
    today = local_date(clock.now())
    for i in range(n):
        person = identification(today, last_name=f"Bench{tag}x{i}")
        case = cases.open(ACTORS["prenatal"], "charm-posc", person, new_pregnancy=True).case
        due = today + timedelta(days=25)
        for step in ROUTE:
            clock.advance(timedelta(hours=1))
            case = cases.act(ACTORS[ACTION_ROLE[step]], case.id, step, action_data(step, clock.now(), due)).case
        if case.state != "closed":
            raise RuntimeError(f"posc ended in {case.state}")


def spiff_cases(spiff: Spiff, clock: FixedClock, n: int) -> None:
    due = local_date(clock.now()) + timedelta(days=25)
    forms = {step: {**action_data(step, clock.now(), due), **DECIDES.get(step, {})} for step in ROUTE}
    for _ in range(n):
        workflow_id = spiff.open()
        for step in ROUTE:
            spiff.complete(workflow_id, step, forms[step])


def timed(steps: int, run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return steps / (time.perf_counter() - started)


def measure(url: str, n: int, repeat: int) -> dict[str, float]:
    cases, clock = prepare(url)
    spiff = Spiff(cases.db.engine)
    warm_up(cases, clock)
    posc_cases(cases, clock, 2, "warm")  # both sides warmed: definitions compiled, statements cached
    spiff_cases(spiff, clock, 2)
    rates: dict[str, list[float]] = {"posc": [], "spiff": [], "bare": [], "ratio": [], "ceiling": []}
    steps = n * STEPS_PER_CASE
    for round_ in range(repeat):
        analyse(cases)
        target = cases.open(ACTORS["prenatal"], "charm-posc", identification(local_date(clock.now())),
                            new_pregnancy=True).case
        sides = {
            "posc": lambda r=round_: posc_cases(cases, clock, n, str(r)),
            "spiff": lambda: spiff_cases(spiff, clock, n),
            "bare": lambda c=target.id: core_write(cases, clock, c, steps, {"bench": True}),
        }
        order = ["posc", "spiff", "bare"] if round_ % 2 == 0 else ["bare", "spiff", "posc"]
        this_round = {side: timed(steps, sides[side]) for side in order}
        for side, figure in this_round.items():
            rates[side].append(figure)
        rates["ratio"].append(this_round["posc"] / this_round["spiff"])
        rates["ceiling"].append(this_round["bare"] / this_round["spiff"])
    cases.db.dispose()
    return {side: statistics.median(figures) for side, figures in rates.items()} | {
        "ratio_low": min(rates["ratio"]), "ratio_high": max(rates["ratio"])}


@contextmanager
def sqlite_url() -> Iterator[str]:
    with TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--n", type=int, default=40, help="cases per side per round (9 steps each)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"{args.n} cases x {STEPS_PER_CASE} steps per side per round, median of {args.repeat} rounds, "
          f"{os.cpu_count()} cores")
    print(f"{'backend':<11}{'posc steps/s':>14}{'Spiff steps/s':>15}{'bare write/s':>14}{'posc/Spiff':>12}"
          f"{'range':>12}{'bare/Spiff':>12}")
    for backend in backends:
        with (sqlite_url() if backend == "sqlite" else postgres_schema()) as url:
            figures = measure(url, args.n, args.repeat)
        print(f"{backend:<11}{figures['posc']:>14.0f}{figures['spiff']:>15.0f}{figures['bare']:>14.0f}"
              f"{figures['ratio']:>12.2f}{figures['ratio_low']:>7.2f}-{figures['ratio_high']:.2f}"
              f"{figures['ceiling']:>12.2f}")


if __name__ == "__main__":
    main()
