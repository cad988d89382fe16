"""Soak: minutes of mixed load on one server, with its memory (RSS) and the p50/p99 latency recorded each minute.

    python -m bench.soak [--backend sqlite|postgresql] [--minutes 3] [--threads 8] [--cases 200] [--workers 1]

The server is `posc serve` in its own process(es), on a fresh database (PostgreSQL: POSC_BENCH_DATABASE_URL or the
local test database, in a schema of its own). The load opens `--cases` cases and records a consent on each, then
`--threads` clients loop: 70% read a case (the lead CPS office), 20% record a consent again (the prenatal clinic; a
same-state action that adds an event, so histories grow), 10% read the case list. Each minute prints the requests
answered, their p50 and p99, errors, and the server's RSS (all its processes). Flat means: RSS and p99 do not grow
minute after minute.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

from bench.actions import postgres_schema
from engine import Database, FixedClock, ensure_organisation
from engine.users import add_user
from tests.factories import KINDS, ORGANISATIONS, ROLE_ORGANISATION, action_data, identification, local_date

REPO = Path(__file__).resolve().parents[1]


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of a process and its children, from /proc (Linux); `field="VmHWM"`: their peaks."""
    total = 0
    for one in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for c in found] + [g for c in found for g in children(int(c))]


def serve(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "POSC_DATABASE_URL": url, "POSC_TICK_SECONDS": "60"}
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", str(workers)], cwd=REPO,
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                time.sleep(1.0)
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not come up")


def run(url: str, minutes: float, threads: int, count: int, workers: int) -> None:
    db = Database(url)
    db.ensure_schema()
    clock = FixedClock(datetime.now(UTC))
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(db, clock, org_id, name, kind=KINDS[org_id])
    keys = {role: add_user(db, clock, name=f"{role} user", role=role, organisation=ROLE_ORGANISATION[role])[1]
            for role in ("prenatal", "cps")}
    db.dispose()
    port = 8790
    server = serve(url, port, workers)
    base = f"http://127.0.0.1:{port}"
    today = local_date(clock.now())
    consent = {"data": action_data("record_consent", clock.now(), today + timedelta(days=25))}
    headers = {role: {"Authorization": f"Bearer {key}"} for role, key in keys.items()}
    with httpx.Client(base_url=base, timeout=30) as client:
        ids = []
        for i in range(count):
            opened = client.post("/cases", headers=headers["prenatal"], json={
                "workflow": "charm-posc", "data": identification(today, last_name=f"Soak{i}"),
                "new_pregnancy": True})
            ids.append(opened.json()["id"])
            client.post(f"/cases/{ids[-1]}/actions/record_consent", headers=headers["prenatal"], json=consent)
    samples: list[tuple[float, float, bool]] = []  # (time, seconds, ok)
    lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            while not stop.is_set():
                roll, case = random.random(), random.choice(ids)
                started = time.perf_counter()
                if roll < 0.7:
                    answer = client.get(f"/cases/{case}", headers=headers["cps"])
                elif roll < 0.9:
                    answer = client.post(f"/cases/{case}/actions/record_consent", headers=headers["prenatal"],
                                         json=consent)
                else:
                    answer = client.get("/cases?limit=50", headers=headers["cps"])
                with lock:
                    samples.append((time.monotonic(), time.perf_counter() - started, answer.status_code < 400))

    workers_ = [threading.Thread(target=load, daemon=True) for _ in range(threads)]
    begin = time.monotonic()
    for worker in workers_:
        worker.start()
    print(f"{'minute':>6}{'requests':>10}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'RSS MiB':>9}")
    try:
        for minute in range(1, int(minutes) + 1):
            time.sleep(max(0.0, begin + 60 * minute - time.monotonic()))
            with lock:
                window = [s for s in samples if begin + 60 * (minute - 1) <= s[0] < begin + 60 * minute]
            times = sorted(s[1] for s in window)
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))] if times else 0.0
            print(f"{minute:>6}{len(window):>10}{len(window) / 60:>8.0f}"
                  f"{(statistics.median(times) if times else 0) * 1000:>9.1f}{p99 * 1000:>9.1f}"
                  f"{sum(not s[2] for s in window):>8}{rss_kib(server.pid) / 1024:>9.1f}", flush=True)
    finally:
        stop.set()
        for worker in workers_:
            worker.join(timeout=30)
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    print(f"{args.backend}, {args.workers} server process(es), {args.threads} client threads, {args.cases} cases, "
          f"{os.cpu_count()} cores")
    with ExitStack() as stack:
        if args.backend == "sqlite":
            folder = stack.enter_context(TemporaryDirectory())
            url = f"sqlite:///{Path(folder) / 'soak.db'}"
        else:
            url = stack.enter_context(postgres_schema())
        run(url, args.minutes, args.threads, args.cases, args.workers)


if __name__ == "__main__":
    main()
