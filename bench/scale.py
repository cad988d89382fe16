"""Scale: the case view, the hospital lookup, the first worklist page, an idle tick and the case list with each of its
filters, at 10,000 and at 1,000,000 cases, each answered from an index (EXPLAIN printed) and timed in-process.

    python -m bench.scale [--backend sqlite|postgresql] [--sizes 10000 1000000] [--runs 50] [--serve-seconds 20]

The generator writes cases as the engine would after opening them (the case row, its parties, its opening event,
its deadlines: treatment admission, consent, planning meeting), spread over 100 lead CPS organisations, with due
dates over two years, straight through SQLAlchemy Core in batches. PostgreSQL uses POSC_BENCH_DATABASE_URL
(default: the local test database), in its own schema.

At each size it then starts the server (`posc`'s app under uvicorn, one process, deadline processing off) on the
generated database and drives it over HTTP for `--serve-seconds` from 8 threads: case views spread over the whole
caseload of one organisation, its case list page after page, its worklist and hospital lookups. It prints the
server's resident memory (VmRSS) and its peak (VmHWM) from /proc at the end: the same at both sizes means nothing
in the server grows with the number of cases.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, text

from bench.http import free_port
from bench.http import start as start_server
from bench.soak import rss_kib
from engine import Actor, Cases, Database, FixedClock, load_catalogue
from engine.cases import CASES, EVENTS, PARTIES, lookup_key
from engine.chain import GENESIS, event_hash
from engine.deadlines import DEADLINES
from engine.queries import CaseQueries
from engine.store.tables import Organisation
from engine.ticker import tick
from engine.users import add_user

PG_URL = os.environ.get("POSC_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA = "posc_scale"
NOW = datetime(2026, 11, 2, 15, tzinfo=UTC)
ORGS = 100


def generate(db: Database, count: int, batch: int = 5000) -> None:
    workflow = load_catalogue().workflow("charm-posc")
    organisations = Organisation.__table__  # type: ignore[attr-defined]
    with db.write() as conn:
        conn.execute(insert(organisations), [
            {"id": f"cps-{i}", "name": f"CPS agency {i}", "contact": None, "kind": "cps", "created_at": NOW}
            for i in range(ORGS)
        ] + [{"id": "hospital-1", "name": "Hospital", "contact": None, "kind": "hospital", "created_at": NOW},
             {"id": "clinic-1", "name": "Clinic", "contact": None, "kind": "prenatal", "created_at": NOW}])
    for start in range(0, count, batch):
        cases, events, parties, deadlines = [], [], [], []
        for i in range(start, min(start + batch, count)):
            case_id = f"PC-{i:09d}"
            opened = NOW - timedelta(days=i % 700, minutes=i % 1440)
            due = (opened + timedelta(days=200)).date()
            lead = f"cps-{i % ORGS}"
            data = {"first_name": f"First{i}", "last_name": f"Last{i}", "date_of_birth": "1995-01-01",
                    "identified_on": opened.date().isoformat(), "due_date": due.isoformat(), "gestational_weeks": 12,
                    "identified_by": "prenatal_screening", "substances": ["opioids"], "on_moud": "yes",
                    "delivery_hospital": "hospital-1", "lead_cps_org": lead}
            content = {"case_id": case_id, "seq": 1, "action": "open_case", "form": "identification",
                       "from_state": None, "to_state": "identified", "actor_id": "gen", "actor_role": "prenatal",
                       "organisation": "clinic-1", "occurred_at": opened, "data": data}
            digest = event_hash(GENESIS, content)
            party_map = {"opened_by": "clinic-1", "cps": lead, "hospital": "hospital-1"}
            # Older cases' deadlines were met long ago; the newest tenth are still open (a realistic backlog).
            status = "open" if i % 10 == 0 else "met"
            overdue_from = opened + timedelta(days=7) if status == "open" else None  # the earliest open due time
            cases.append({"id": case_id, "workflow_id": "charm-posc", "workflow_version": 1, "state": "identified",
                          "phase": "prenatal", "version": 1, "data": data,
                          "facts": {"opened_by_org": "clinic-1", "plan_version": 0}, "parties": party_map,
                          "last_hash": digest, "lookup_key": lookup_key(workflow, data), "opened_at": opened,
                          "updated_at": opened})
            events.append({**content, "prev_hash": GENESIS, "hash": digest})
            # The lead office owns these deadlines: only its row counts them as its overdue work.
            parties.extend({"case_id": case_id, "party": p, "organisation": o, "state": "identified",
                            "phase": "prenatal", "overdue_from": overdue_from if p == "cps" else None}
                           for p, o in party_map.items())
            for name, span, owner in (("treatment_admission", 7, "treatment"), ("consent", 14, "cps")):
                deadlines.append({
                    "case_id": case_id, "name": name, "status": status, "opened_at": opened,
                    "target_at": opened + timedelta(days=span // 2), "due_at": opened + timedelta(days=span),
                    "owner_role": owner, "owner_org": lead, "opened_seq": 1,
                })
            window = datetime(due.year, due.month, due.day, tzinfo=UTC) - timedelta(days=30)
            deadlines.append({"case_id": case_id, "name": "planning_meeting", "status": status, "opened_at": window,
                              "target_at": window + timedelta(days=16), "due_at": window + timedelta(days=30),
                              "owner_role": "cps", "owner_org": lead, "opened_seq": 1})
        with db.write() as conn:
            conn.execute(insert(CASES), cases)
            conn.execute(insert(EVENTS), events)
            conn.execute(insert(PARTIES), parties)
            conn.execute(insert(DEADLINES), deadlines)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def timed(runs: int, fn: Callable[[], Any]) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def explain(db: Database, sql: str, params: dict[str, Any]) -> str:
    prefix = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
    with db.engine.connect() as conn:
        rows = conn.execute(text(prefix + sql), params).all()
    return " | ".join(str(r[-1]) for r in rows)


def measure(db: Database, count: int, runs: int) -> dict[str, float]:
    clock = FixedClock(NOW)
    catalogue = load_catalogue()
    cases = Cases(db, catalogue, clock)
    queries = CaseQueries(db, catalogue, cases)
    cps = Actor("bench", "cps", "cps-0")
    hospital = Actor("bench-h", "hospital", "hospital-1")
    target = f"PC-{(count // 2) // ORGS * ORGS:09d}"
    figures = {
        "case view": timed(runs, lambda: queries.view(cps, target)),
        "lookup": timed(runs, lambda: queries.lookup(hospital, f"Last{count // 2}", date(1995, 1, 1))),
        "worklist page": timed(runs, lambda: queries.worklist(cps, limit=50)),
        "idle tick": timed(runs, lambda: tick(db, catalogue, NOW - timedelta(days=3650))),
        "case list page": timed(runs, lambda: queries.list_cases(cps, limit=50)),
        "list: overdue": timed(runs, lambda: queries.list_cases(cps, limit=50, overdue=True)),
        "list: prenatal": timed(runs, lambda: queries.list_cases(cps, limit=50, phase="prenatal")),
        "list: referred": timed(runs, lambda: queries.list_cases(cps, limit=50, state="referred")),
        "list: overdue postnatal": timed(runs, lambda: queries.list_cases(cps, limit=50, overdue=True,
                                                                           phase="postnatal")),
        "list: overdue referred": timed(runs, lambda: queries.list_cases(cps, limit=50, overdue=True,
                                                                          state="referred")),
    }
    return figures


_LIST = "SELECT case_id FROM case_parties WHERE organisation = 'cps-0' {} GROUP BY case_id ORDER BY case_id LIMIT 51"
PLANS = {
    "worklist": ("SELECT * FROM deadlines WHERE owner_org = :org AND status = 'open' AND opened_at <= :now "
                 "ORDER BY due_at, id LIMIT 51", {"org": "cps-0"}),
    "tick": ("SELECT case_id FROM deadlines WHERE status = 'open' AND due_at < :now AND name NOT LIKE 'escalation:%' "
             "ORDER BY due_at, id LIMIT 200", {}),
    "lookup": ("SELECT * FROM cases WHERE lookup_key = :key", {"key": "x"}),
    "case view": ("SELECT * FROM cases WHERE id = :id", {"id": "PC-000000001"}),
    "case deadlines": ("SELECT * FROM deadlines WHERE case_id = :id AND status = 'open' ORDER BY due_at",
                       {"id": "PC-000000001"}),
    # The case list's page of ids, one filter combination each (engine.queries.list_cases).
    "list": (_LIST.format(""), {}),
    "list overdue": (_LIST.format("AND overdue_from < :now"), {}),
    "list phase": (_LIST.format("AND phase = 'prenatal'"), {}),
    "list state": (_LIST.format("AND state = 'referred'"), {}),
    "list overdue phase": (_LIST.format("AND phase = 'postnatal' AND overdue_from < :now"), {}),
    "list overdue state": (_LIST.format("AND state = 'referred' AND overdue_from < :now"), {}),
    "list state phase": (_LIST.format("AND state = 'referred' AND phase = 'prenatal'"), {}),
}


def _memory(pid: int) -> dict[str, float]:
    """The server's resident memory now and at its peak, in MiB."""
    return {field: rss_kib(pid, field) / 1024 for field in ("VmRSS", "VmHWM")}


def server_memory(db: Database, url: str, count: int, seconds: float, threads: int = 8) -> dict[str, float]:
    """The server's memory after `seconds` of reads from `threads` clients over the generated caseload (MiB), with
    the requests made and how many were not answered 200."""
    clock = FixedClock(NOW)
    _, cps_key = add_user(db, clock, name="Bench CPS", role="cps", organisation="cps-0")
    _, nurse_key = add_user(db, clock, name="Bench nurse", role="hospital", organisation="hospital-1")
    port = free_port()
    env = {**os.environ, "POSC_DATABASE_URL": url, "POSC_TICK_SECONDS": "0", "POSC_LOG_LEVEL": "WARNING"}
    base = f"http://127.0.0.1:{port}"
    with TemporaryDirectory() as folder:
        server = start_server([sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--port", str(port),
                        "--log-level", "warning", "--no-access-log"], env, port, Path(folder) / "server.log")
        try:
            return _drive(base, server.pid, count, seconds, threads, cps_key, nurse_key)
        finally:
            server.terminate()
            server.wait(timeout=30)


def _drive(base: str, pid: int, count: int, seconds: float, threads: int, cps_key: str,
           nurse_key: str) -> dict[str, float]:
    """Reads from `threads` clients for `seconds`; the server's memory then, and the requests made."""
    started_at = _memory(pid)["VmRSS"]
    own = list(range(0, count, ORGS))  # cps-0 leads every ORGS-th case
    counts = {"requests": 0, "failed": 0}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        cursor: str | None = None
        with httpx.Client(base_url=base, timeout=30) as http:
            cps = {"Authorization": f"Bearer {cps_key}"}
            while time.monotonic() < stop:
                pick = rng.random()
                if pick < 0.7:
                    answer = http.get(f"/cases/PC-{rng.choice(own):09d}", headers=cps)
                elif pick < 0.85:
                    answer = http.get("/cases", params={"limit": 50, **({"cursor": cursor} if cursor else {})},
                                      headers=cps)
                    cursor = answer.json().get("next_cursor") if answer.status_code == 200 else None
                elif pick < 0.97:
                    answer = http.get("/worklist", params={"limit": 50}, headers=cps)
                else:
                    answer = http.post("/lookup", json={"last_name": f"Last{rng.randrange(count)}",
                                                        "date_of_birth": "1995-01-01"},
                                       headers={"Authorization": f"Bearer {nurse_key}"})
                with lock:
                    counts["requests"] += 1
                    counts["failed"] += answer.status_code not in (200, 429)  # 429: the lookups' rate limit

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {"at start": started_at, **_memory(pid), **counts}


def run(url: str, sizes: list[int], runs: int, serve_seconds: float) -> None:
    memory: dict[int, dict[str, float]] = {}
    for count in sizes:
        db = Database(url)
        db.ensure_schema()
        started = time.perf_counter()
        generate(db, count)
        print(f"\n{db.dialect}, {count:,} cases (generated in {time.perf_counter() - started:.0f} s), "
              f"medians of {runs} runs:")
        for name, ms in measure(db, count, runs).items():
            print(f"  {name:<24} {ms:8.3f} ms")
        stamp = NOW.isoformat() if db.dialect == "postgresql" else NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
        for name, (sql, params) in PLANS.items():
            print(f"  EXPLAIN {name}: {explain(db, sql, {**params, 'now': stamp})}")
        if serve_seconds > 0:
            memory[count] = found = server_memory(db, url, count, serve_seconds)
            print(f"  server after {found['requests']:.0f} requests in {serve_seconds:.0f} s ({found['failed']:.0f} "
                  f"not answered): resident {found['VmRSS']:.1f} MiB, peak {found['VmHWM']:.1f} MiB "
                  f"({found['at start']:.1f} MiB when it started)")
        db.dispose()
        reset(url)
    if len(memory) > 1:
        small, large = memory[min(memory)], memory[max(memory)]
        print(f"\nserver memory at {max(memory):,} cases / at {min(memory):,}: resident "
              f"{large['VmRSS'] / small['VmRSS']:.2f}x, peak {large['VmHWM'] / small['VmHWM']:.2f}x")


def reset(url: str) -> None:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        with create_engine(PG_URL).begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--serve-seconds", type=float, default=20, help="0: no server memory measurement")
    args = parser.parse_args()
    with TemporaryDirectory() as folder:
        if args.backend == "sqlite":
            url = f"sqlite:///{Path(folder) / 'scale.db'}"
        else:
            reset("postgresql")
            separator = "&" if "?" in PG_URL else "?"
            url = f"{PG_URL}{separator}options=-csearch_path%3D{SCHEMA}"
        run(url, args.sizes, args.runs, args.serve_seconds)
        if args.backend == "postgresql":
            with create_engine(PG_URL).begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))


if __name__ == "__main__":
    main()
