"""Actions per second in-process, against the ceiling of the bare database write, in one run.

    python -m bench.actions [--backend sqlite|postgresql|both] [--n 400] [--repeat 5]

Measured, each on the same tables and database, medians over `--repeat` rounds of `--n` operations:
- engine, same-state action: `record_consent` on n cases with a short history (validate 7 fields, 2 guards, the
  shared machine, one event, a consent row, the consent deadline met, case row updated, the answer, commit);
- flat cost: the same action n times on 10 cases in turn, cases with 200 earlier events and consents against cases
  with a short history, the same rows in the same order (the two rates should be equal);
- engine, state change: `admit_to_treatment` on fresh cases (validate, guards, transition, event, two deadlines
  met or cancelled, parties and deadline owners re-assigned, commit);
- bare write, SQLAlchemy Core: update the case row (state, version) + insert one event + commit, no engine;
- bare write, raw driver (sqlite3 / psycopg): the same two statements and commit;
- engine, opening: `open` for n parents (validate the identification, guards, the one-open-case check, the first
  event, three deadlines); and opening at delivery (the same, then the birth recorded in the same transaction).
And on SQLite, the pages each operation writes to the write-ahead log (most of what its commit and its share of
checkpoints cost), on a database of its own with the checkpoints left until measured.
PostgreSQL uses POSC_BENCH_DATABASE_URL (default: the local test database, in its own schema). Both start from a
database in use (100 cases opened and consented), and PostgreSQL's statistics are refreshed before each round, as
autovacuum keeps them on a live database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from sqlalchemy import create_engine, insert, text, update

from engine import Cases, Database, FixedClock, ensure_organisation, load_catalogue
from engine.cases import CASES, EVENTS
from tests.factories import ACTORS, KINDS, ORGANISATIONS, action_data, identification, local_date
from tests.sqlcount import pages_written, without_checkpoints

PG_URL = os.environ.get("POSC_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA = "posc_bench"
#: Earlier events (each a consent) of the cases with a long history in the flat-cost measurement.
BUSY_HISTORY = 200
#: The cases the flat-cost measurement acts on in turn, for each history.
FLAT_CASES = 10


def rate(n: int, run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return n / (time.perf_counter() - started)


def prepare(url: str, *, checkpoints: bool = True) -> tuple[Cases, FixedClock]:
    database = Database(url)
    if not checkpoints:
        without_checkpoints(database)
    database.ensure_schema()
    clock = FixedClock(datetime(2026, 11, 2, 15, tzinfo=UTC))
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(database, clock, org_id, name, kind=KINDS[org_id])
    return Cases(database, load_catalogue(), clock), clock


def analyse(cases: Cases) -> None:
    """PostgreSQL: refreshes the planner's statistics, as autovacuum keeps them on a live database (on tables this
    new they do not exist yet, and a plan may then walk an index of every case's rows to find one case's)."""
    if cases.db.dialect == "postgresql":
        with cases.db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def opened_with_consents(cases: Cases, today: date, consent: dict[str, object], count: int) -> str:
    """A case opened by the prenatal provider with `count` consents recorded: its id."""
    case_id = cases.open(ACTORS["prenatal"], "charm-posc", identification(today), new_pregnancy=True).case.id
    for _ in range(count):
        cases.act(ACTORS["prenatal"], case_id, "record_consent", consent)
    return case_id


def warm_up(cases: Cases, clock: FixedClock, count: int = 100) -> None:
    """Cases opened and consented before any measurement, then the statistics: a database already in use."""
    today = local_date(clock.now())
    consent = action_data("record_consent", clock.now(), today + timedelta(days=120))
    for i in range(count):
        case = cases.open(ACTORS["prenatal"], "charm-posc", identification(today, last_name=f"Warm{i}"),
                          new_pregnancy=True).case
        cases.act(ACTORS["prenatal"], case.id, "record_consent", consent)
    analyse(cases)


def measure(url: str, raw_connect: Callable[[], object], n: int, repeat: int) -> dict[str, float]:
    cases, clock = prepare(url)
    warm_up(cases, clock)
    today = local_date(clock.now())
    due = today + timedelta(days=120)
    prenatal, treatment = ACTORS["prenatal"], ACTORS["treatment"]
    results: dict[str, list[float]] = {
        "engine_same_state": [], "engine_transition": [], "core": [], "raw": [], "open": [], "open_at_delivery": [],
        "flat_short": [], "flat_busy": [], "flat_ratio": [],
    }
    hospital = ACTORS["hospital"]
    for round_ in range(repeat):
        analyse(cases)
        parents = [identification(today, last_name=f"Bench{round_}x{i}") for i in range(n)]

        def opening(people: list[dict[str, object]] = parents) -> None:
            for person in people:
                cases.open(prenatal, "charm-posc", person)

        results["open"].append(rate(n, opening))
        birth = action_data("record_birth", clock.now(), today)
        at_birth = [{**identification(today, last_name=f"Born{round_}x{i}", due_date=today.isoformat()),
                     "identified_by": "hospital"} for i in range(n)]

        def opening_at_delivery(people: list[dict[str, object]] = at_birth, born: dict[str, object] = birth) -> None:
            for person in people:
                cases.open(hospital, "charm-posc", person, variant=("birth", born))

        results["open_at_delivery"].append(rate(n, opening_at_delivery))

        # Engine: a same-state action on n cases with a short history (opened, one consent) ...
        consent = action_data("record_consent", clock.now(), due)
        short = [
            cases.open(prenatal, "charm-posc", identification(today), new_pregnancy=True).case.id for _ in range(n)
        ]
        for case_id in short:
            cases.act(prenatal, case_id, "record_consent", consent)

        def same_state(ids: list[str] = short, data: dict[str, object] = consent) -> None:
            for case_id in ids:
                cases.act(prenatal, case_id, "record_consent", data)

        results["engine_same_state"].append(rate(n, same_state))

        # Flat cost: n actions taken in turn on FLAT_CASES cases, once on cases with a short history and once on
        # cases with BUSY_HISTORY earlier events and consents each. The same number of rows, written in the same
        # order, so only the history differs; which goes first alternates between rounds.
        few_short = [opened_with_consents(cases, today, consent, 1) for _ in range(FLAT_CASES)]
        few_busy = [opened_with_consents(cases, today, consent, BUSY_HISTORY) for _ in range(FLAT_CASES)]

        def in_turn(ids: list[str], data: dict[str, object] = consent) -> Callable[[], None]:
            def run() -> None:
                for i in range(n):
                    cases.act(prenatal, ids[i % len(ids)], "record_consent", data)
            return run

        pair = [("flat_short", few_short), ("flat_busy", few_busy)]
        measured = {key: rate(n, in_turn(ids)) for key, ids in (pair if round_ % 2 == 0 else pair[::-1])}
        results["flat_ratio"].append(measured["flat_busy"] / measured["flat_short"])
        for key, value in measured.items():
            results[key].append(value)

        # Engine: a state change, on n fresh cases.
        fresh = [
            cases.open(prenatal, "charm-posc", identification(today), new_pregnancy=True).case.id for _ in range(n)
        ]
        for case_id in fresh:  # the consent lets the treatment provider see the case
            cases.act(prenatal, case_id, "record_consent", consent)
        admission = action_data("admit_to_treatment", clock.now(), due)

        def transition(ids: list[str] = fresh, data: dict[str, object] = admission) -> None:
            for case_id in ids:
                cases.act(treatment, case_id, "admit_to_treatment", data)

        results["engine_transition"].append(rate(n, transition))

        # Ceiling 1: the bare write through SQLAlchemy Core.
        target = cases.open(prenatal, "charm-posc", identification(today), new_pregnancy=True).case
        results["core"].append(rate(n, lambda c=target.id, d=consent: core_write(cases, clock, c, n, d)))

        # Ceiling 2: the same with the raw driver.
        raw_target = cases.open(prenatal, "charm-posc", identification(today), new_pregnancy=True).case
        raw_event = bare_event(clock, raw_target.id, consent)
        results["raw"].append(rate(n, lambda c=raw_target.id, r=raw_event: raw_write(raw_connect, c, n, r)))
    cases.db.dispose()
    return {k: statistics.median(v) for k, v in results.items()}


def bare_event(clock: FixedClock, case_id: str, data: dict[str, object]) -> dict[str, object]:
    """The event row the bare writes insert: what an engine's event for a consent holds, without its work."""
    return {
        "case_id": case_id, "action": "record_consent", "form": "universal_consent",
        "from_state": "identified", "to_state": "identified", "actor_id": "bench", "actor_role": "prenatal",
        "organisation": "prenatal-clinic", "occurred_at": clock.now(), "data": data,
        "prev_hash": "0" * 64, "hash": "0" * 64,
    }


def core_write(cases: Cases, clock: FixedClock, case_id: str, n: int, data: dict[str, object]) -> None:
    """n bare writes through SQLAlchemy Core on a case at version 1: update the case row (state, version) with a
    compare-and-set, insert one event, commit."""
    row = bare_event(clock, case_id, data)
    for version in range(1, n + 1):
        with cases.db.engine.begin() as conn:
            conn.execute(update(CASES).where(CASES.c.id == case_id, CASES.c.version == version)
                         .values(state="identified", version=version + 1))
            conn.execute(insert(EVENTS).values(seq=version + 1, **row))


def raw_write(connect: Callable[[], object], case_id: str, n: int, row: dict[str, object]) -> None:
    import json

    conn = connect()
    is_sqlite = type(conn).__module__.startswith("sqlite3")
    mark = "?" if is_sqlite else "%s"
    cursor = conn.cursor()  # type: ignore[attr-defined]
    update_sql = f"UPDATE cases SET state={mark}, version={mark} WHERE id={mark} AND version={mark}"
    insert_sql = (
        "INSERT INTO events (case_id, seq, action, form, from_state, to_state, actor_id, actor_role, organisation,"
        f" occurred_at, data, prev_hash, hash) VALUES ({', '.join([mark] * 13)})"
    )
    stamp = datetime.now(UTC).replace(tzinfo=None) if is_sqlite else datetime.now(UTC)
    for version in range(1, n + 1):
        if is_sqlite:
            cursor.execute("BEGIN IMMEDIATE")
        cursor.execute(update_sql, ("identified", version + 1, case_id, version))
        cursor.execute(insert_sql, (
            case_id, version + 1, row["action"], row["form"], row["from_state"], row["to_state"], row["actor_id"],
            row["actor_role"], row["organisation"], stamp, json.dumps(row["data"]), row["prev_hash"], row["hash"],
        ))
        if is_sqlite:
            cursor.execute("COMMIT")
        else:
            conn.commit()  # type: ignore[attr-defined]
    conn.close()  # type: ignore[attr-defined]


def sqlite_run(n: int, repeat: int) -> dict[str, float]:
    import sqlite3

    with TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"

        def connect() -> object:
            conn = sqlite3.connect(path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

        return measure(f"sqlite:///{path}", connect, n, repeat)


def sqlite_pages(n: int) -> dict[str, float]:
    """Pages written to SQLite's write-ahead log per operation (what a commit and its share of checkpoints cost),
    on a database in use: a state change, a same-state action and the Core bare write, n of each."""
    with TemporaryDirectory() as folder:
        cases, clock = prepare(f"sqlite:///{Path(folder) / 'pages.db'}", checkpoints=False)
        warm_up(cases, clock)
        today = local_date(clock.now())
        consent = action_data("record_consent", clock.now(), today + timedelta(days=120))
        admission = action_data("admit_to_treatment", clock.now(), today + timedelta(days=120))
        fresh = [cases.open(ACTORS["prenatal"], "charm-posc", identification(today), new_pregnancy=True).case.id
                 for _ in range(n)]
        for case_id in fresh:
            cases.act(ACTORS["prenatal"], case_id, "record_consent", consent)
        target = cases.open(ACTORS["prenatal"], "charm-posc", identification(today), new_pregnancy=True).case.id
        work: dict[str, Callable[[], object]] = {
            "state change": lambda: [cases.act(ACTORS["treatment"], c, "admit_to_treatment", admission) for c in fresh],
            "same-state": lambda: [cases.act(ACTORS["prenatal"], c, "record_consent", consent) for c in fresh],
            "Core bare write": lambda: core_write(cases, clock, target, n, consent),
        }
        found = {}
        for what, run in work.items():
            with pages_written(cases.db) as pages:
                run()
                found[what] = pages() / n
        cases.db.dispose()
        return found


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL for a fresh schema of its own in the bench database, dropped afterwards."""
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    admin.dispose()
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options=-csearch_path%3D{SCHEMA}"
    finally:
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        admin.dispose()


def postgres_run(n: int, repeat: int) -> dict[str, float]:
    import psycopg

    dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")

    def connect() -> object:
        return psycopg.connect(dsn, options=f"-csearch_path={SCHEMA}")

    with postgres_schema() as url:
        return measure(url, connect, n, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"n={args.n} per round, median of {args.repeat} rounds, {os.cpu_count()} cores")
    header = (f"{'backend':<11}{'engine same-state/s':>20}{'engine transition/s':>21}{'Core bare/s':>13}"
              f"{'raw bare/s':>12}{'same/Core':>11}{'trans/Core':>12}{'same/raw':>10}")
    print(header)
    for backend in backends:
        figures = sqlite_run(args.n, args.repeat) if backend == "sqlite" else postgres_run(args.n, args.repeat)
        same, trans, core, raw = (figures[k] for k in ("engine_same_state", "engine_transition", "core", "raw"))
        print(f"{backend:<11}{same:>20.0f}{trans:>21.0f}{core:>13.0f}{raw:>12.0f}"
              f"{same / core:>11.2f}{trans / core:>12.2f}{same / raw:>10.2f}")
        opened, at_delivery = figures["open"], figures["open_at_delivery"]
        print(f"{'':<11}opening {opened:.0f}/s ({opened / core:.2f} of Core); at delivery (open + birth) "
              f"{at_delivery:.0f}/s ({at_delivery / core:.2f} of Core)")
        short, busy = figures["flat_short"], figures["flat_busy"]
        print(f"{'':<11}flat cost, {args.n} same-state actions on {FLAT_CASES} cases in turn: with {BUSY_HISTORY}+ "
              f"earlier events and consents {busy:.0f}/s, with 2 to {2 + args.n // FLAT_CASES} {short:.0f}/s; "
              f"ratio {figures['flat_ratio']:.2f} (median of the rounds' ratios)")
        if backend == "sqlite":
            pages = sqlite_pages(args.n)
            print(f"{'':<11}pages written per operation: " + ", ".join(f"{k} {v:.1f}" for k, v in pages.items()))


if __name__ == "__main__":
    main()
