"""Requests per second and latency over HTTP on loopback, against a bare FastAPI endpoint doing the same
database work (the ceiling), in one run.

    python -m bench.http [--seconds 10] [--repeat 3] [--connections 50] [--threads 2]

Both servers run under uvicorn, one process each, on a file SQLite database (WAL) with the demo data; wrk (Debian
package `wrk`) is the load generator, a separate process. Measured: `GET /cases/{id}` (posc: authenticate,
disclosure tiers, the case view, one access-log row) against `GET /bare/cases/{id}` (read one row); and taking an
action, `POST /cases/{id}/actions/record_referral` (posc: the whole engine path) against the bare write
(update the case row + insert one event + commit).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from api.demo import DemoUser, load_demo
from engine import CaseRecord, Cases, Database, SystemClock, load_catalogue
from tests.factories import action_data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(args, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server did not start; see {log}")


def wrk(
    url: str, seconds: int, threads: int, connections: int, key: str | None, script: Path | None
) -> dict[str, float]:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if key:
        command[1:1] = ["-H", f"Authorization: Bearer {key}"]
    if script:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"rps": rate, "p50": pct("50"), "p99": pct("99"), "errors": float(non_2xx.group(1)) if non_2xx else 0.0}


def post_script(folder: Path, body: dict[str, object]) -> Path:
    path = folder / "post.lua"
    path.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
    )
    return path


def options(description: str | None, connections: int) -> argparse.Namespace:
    """The benchmarks' command line (run length, repeats, wrk's connections and threads); wrk must be there."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=connections)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    return args


def demo_database(folder: Path) -> tuple[str, dict[str, DemoUser], CaseRecord]:
    """A SQLite file in `folder` with the demo data: its URL, the demo users by role, and a case at `notified`."""
    url = f"sqlite:///{folder / 'bench.db'}"
    db = Database(url)
    db.ensure_schema()
    clock = SystemClock()
    cases = Cases(db, load_catalogue(), clock)
    users = {u.role: u for u in load_demo(db, cases, clock)}
    target = next(c for c in (cases.get(i) for i in _case_ids(db)) if c.state == "notified")
    db.dispose()
    return url, users, target


def main() -> None:
    args = options(__doc__, connections=50)
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        url, users, target = demo_database(folder)
        clock = SystemClock()
        env = {**os.environ, "POSC_DATABASE_URL": url}
        posc_port, bare_port = free_port(), free_port()
        uvicorn = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--no-access-log"]
        servers = [
            start([*uvicorn, "--factory", "api.app:create_app", "--port", str(posc_port)], env, posc_port,
                  folder / "posc.log"),
            start([*uvicorn, "bench.bare_app:app", "--port", str(bare_port)], env, bare_port, folder / "bare.log"),
        ]
        referral = {"data": action_data("record_referral", clock.now(), clock.now().date())}
        script = post_script(folder, referral)
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in ("read", "bare_read", "act", "bare_write")}
        try:
            for _ in range(args.repeat):
                base, bare = f"http://127.0.0.1:{posc_port}", f"http://127.0.0.1:{bare_port}"
                common = (args.seconds, args.threads, args.connections)
                runs["read"].append(wrk(f"{base}/cases/{target.id}", *common, users["cps"].api_key, None))
                runs["bare_read"].append(wrk(f"{bare}/bare/cases/{target.id}", *common, None, None))
                runs["act"].append(wrk(f"{base}/cases/{target.id}/actions/record_referral", *common,
                                       users["cps"].api_key, script))
                runs["bare_write"].append(wrk(f"{bare}/bare/cases/{target.id}/write", *common, None, script))
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=10)
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("rps", "p50", "p99", "errors")} for k, v in runs.items()}
    print(f"{args.repeat} runs of {args.seconds}s, wrk -t{args.threads} -c{args.connections}, {os.cpu_count()} cores; "
          "medians")
    print(f"{'endpoint':<34}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    labels = {"read": "posc GET /cases/{id}", "bare_read": "bare read one case row",
              "act": "posc POST .../actions/record_referral", "bare_write": "bare write (update + insert)"}
    for key, label in labels.items():
        m = med[key]
        print(f"{label:<34}{m['rps']:>9.0f}{m['p50']:>9.1f}{m['p99']:>9.1f}{m['errors']:>9.0f}")
    print(f"read: {med['read']['rps'] / med['bare_read']['rps']:.2f} of the bare rate, "
          f"p99 {med['read']['p99'] / med['bare_read']['p99']:.2f}x the bare p99")
    print(f"action: {med['act']['rps'] / med['bare_write']['rps']:.2f} of the bare rate, "
          f"p99 {med['act']['p99'] / med['bare_write']['p99']:.2f}x the bare p99")


def _case_ids(db: Database) -> list[str]:
    from sqlalchemy import select

    from engine.cases import CASES

    with db.read() as conn:
        return list(conn.execute(select(CASES.c.id)).scalars())


if __name__ == "__main__":
    main()
