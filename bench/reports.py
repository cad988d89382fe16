"""Outcome report at scale: a one-year report (`/reports/capta`) over 1,000,000 cases, timed in-process.

    python -m bench.reports [--backend sqlite|postgresql] [--count 1000000] [--runs 3]

Builds on `bench.scale`'s generator (cases opened over two years, 100 lead CPS offices) and adds each case's later
course as the engine would have logged it: most parents admitted to treatment (0 to 11 days after identification),
births for pregnancies past their due date (a third with a plan agreed before birth, three quarters
substance-affected), the CAPTA notification, the discharge and some early intervention referrals. Then times the
report for calendar year 2025 (the cohorts of a full year in the middle of the data) and for one month, and prints
the medians and how many cells were suppressed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from sqlalchemy import create_engine, insert, select, text

from bench.scale import NOW, PG_URL, SCHEMA, generate, reset
from engine import Database, load_catalogue
from engine.cases import EVENTS
from engine.chain import event_hash
from engine.reports.reading import read_columns
from engine.reports.report import period, publish, tabulate_columns
from engine.reports.suppression import protect


def courses(db: Database, batch: int = 20000) -> None:
    """Appends each generated case's course after its opening event (hash chain kept)."""
    with db.read() as conn:
        rows = conn.execute(
            select(EVENTS.c.case_id, EVENTS.c.occurred_at, EVENTS.c.hash).order_by(EVENTS.c.case_id)
        ).all()
    pending: list[dict[str, Any]] = []
    for number, row in enumerate(rows):
        opened = row.occurred_at
        if opened.tzinfo is None:
            opened = opened.replace(tzinfo=NOW.tzinfo)
        steps: list[tuple[Any, str, str, dict[str, Any]]] = []
        if number % 10 < 7:
            admitted = opened + timedelta(days=number % 12)
            if admitted < NOW:
                steps.append((admitted, "admit_to_treatment", "in_treatment",
                              {"admitted_on": admitted.date().isoformat(), "provider_org": "clinic-1",
                               "level_of_care": "outpatient", "moud": "buprenorphine", "peer_support": "yes"}))
        born = opened + timedelta(days=200)
        if born < NOW - timedelta(days=5):
            with_plan = number % 3 == 0
            steps.append((born, "record_birth", "born_with_plan" if with_plan else "born_without_plan",
                          {"born_at": born.isoformat(), "substance_affected": "yes" if number % 4 else "no",
                           "safety_concern": "no"}))
            steps.append((born + timedelta(days=1), "notify_cps", "notified" if with_plan else "cps_assessment",
                          {"notified_on": (born + timedelta(days=1)).date().isoformat(), "safety_concern": "no"}))
            if number % 5 == 0:
                steps.append((born + timedelta(days=2), "record_referral", "cps_assessment",
                              {"service": "early_intervention", "referred_on": (born + timedelta(days=2)).date()
                               .isoformat(), "status": "referred", "provider": "EI"}))
            steps.append((born + timedelta(days=3), "discharge", "follow_up",
                          {"discharged_on": (born + timedelta(days=3)).date().isoformat(),
                           "discharged_to": "parent" if number % 6 else "relative", "referrals": []}))
        previous, state = row.hash, "identified"
        for seq, (at, action, to_state, form) in enumerate(steps, start=2):
            content = {"case_id": row.case_id, "seq": seq, "action": action, "form": action, "from_state": state,
                       "to_state": to_state, "actor_id": "gen", "actor_role": "hospital", "organisation": "hospital-1",
                       "occurred_at": at, "data": form}
            digest = event_hash(previous, content)
            pending.append({**content, "prev_hash": previous, "hash": digest})
            previous, state = digest, to_state
        if len(pending) >= batch:
            _flush(db, pending)
    _flush(db, pending)
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE")) if db.dialect == "postgresql" else conn.exec_driver_sql("ANALYZE")


def _flush(db: Database, pending: list[dict[str, Any]]) -> None:
    if pending:
        with db.write() as conn:
            conn.execute(insert(EVENTS), pending)
        pending.clear()


def measure(db: Database, runs: int) -> None:
    catalogue = load_catalogue()
    for label, start, end in (("year 2025", "2025-01-01", "2025-12-31"),
                              ("month 2025-06", "2025-06-01", "2025-06-30")):
        window = period(date.fromisoformat(start), date.fromisoformat(end))
        times: list[float] = []
        phases: dict[str, list[float]] = {"read": [], "tabulate": [], "protect": []}
        suppressed = cells = found = 0
        earliest = min(w.start_of_day(window.start) for w in catalogue.workflows.values())
        after = max(w.start_of_day(window.end + timedelta(days=1)) for w in catalogue.workflows.values())
        for _ in range(runs):
            started = time.perf_counter()
            columns = read_columns(db, catalogue, earliest, after, NOW)
            read = time.perf_counter()
            tabulation = tabulate_columns(columns, window)
            counted = time.perf_counter()
            protection = protect(tabulation.values, tabulation.relations, tabulation.hidden)
            publish(tabulation, protection, window, {}, NOW)
            done = time.perf_counter()
            times.append(done - started)
            for name, span in (("read", read - started), ("tabulate", counted - read), ("protect", done - counted)):
                phases[name].append(span)
            suppressed = len(protection.small) + len(protection.complementary)
            cells, found = len(tabulation.cells), sum(c.size for c in columns)
        split = ", ".join(f"{name} {statistics.median(spans):.1f} s" for name, spans in phases.items())
        print(f"{label}: median {statistics.median(times):.1f} s over {runs} runs (min {min(times):.1f}, max "
              f"{max(times):.1f}; {split}); {found:,} cases read, {cells} cells, {suppressed} suppressed", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate into this SQLite file once, and reuse it; with "
                        "postgresql, any value keeps the generated schema for the next run instead")
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        if args.backend == "sqlite":
            reuse = args.keep is not None and args.keep.exists()
            url = f"sqlite:///{args.keep or Path(tmp) / 'reports.db'}"
        else:
            reuse = args.keep is not None and _populated()
            if not reuse:
                reset("postgresql")
            separator = "&" if "?" in PG_URL else "?"
            url = f"{PG_URL}{separator}options=-csearch_path%3D{SCHEMA}"
        db = Database(url)
        db.ensure_schema()
        if not reuse:
            started = time.perf_counter()
            generate(db, args.count)
            courses(db)
            print(f"{args.backend}: {args.count:,} cases generated in {time.perf_counter() - started:.0f} s",
                  flush=True)
        measure(db, args.runs)
        db.dispose()
        if args.backend == "postgresql" and args.keep is None:
            reset("postgresql")


def _populated() -> bool:
    """Whether the PostgreSQL schema holds a generated population (cases and their courses)."""
    with create_engine(PG_URL).connect() as conn:
        found = conn.execute(text(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = :schema AND table_name = 'events'"
        ), {"schema": SCHEMA}).scalar()
        return bool(found) and bool(conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {SCHEMA}.events "
                                                      "WHERE action = 'discharge')")).scalar())


if __name__ == "__main__":
    main()
