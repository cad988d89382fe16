"""What a case page costs next to the JSON case view it is built on, over HTTP on loopback, in one run.

    python -m bench.pages [--seconds 10] [--repeat 3] [--connections 20] [--threads 2]

One posc server (uvicorn, one process) on a file SQLite database with the demo data; wrk (Debian package `wrk`) as
the load generator. Measured: `GET /cases/{id}` with an API key (the case view) and `GET /ui/cases/{id}` with a
session cookie (the case page: session, the case, its history, every deadline, the actions of its state, one
access-log row, and the HTML), then the lookup page as a nurse sees it, `GET /ui/lookup`.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

from bench.http import demo_database, free_port, options, start, wrk


def session_cookie(base: str, api_key: str) -> str:
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        page = client.get("/ui/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        answer = client.post("/ui/sign-in", data={"api_key": api_key, "csrf_token": token})
        assert answer.status_code == 303, answer.text
        return f"posc_session={client.cookies['posc_session']}"


def wrk_with_cookie(url: str, seconds: int, threads: int, connections: int, cookie: str) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp())
    script = folder / "cookie.lua"
    script.write_text(f'wrk.headers["Cookie"] = "{cookie}"\n')
    return wrk(url, seconds, threads, connections, None, script)


def main() -> None:
    args = options(__doc__, connections=20)
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        url, users, target = demo_database(folder)
        env = {**os.environ, "POSC_DATABASE_URL": url, "POSC_TICK_SECONDS": "0"}
        port = free_port()
        uvicorn = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--no-access-log"]
        server = start([*uvicorn, "--factory", "api.app:create_app", "--port", str(port)], env, port,
                       folder / "posc.log")
        base = f"http://127.0.0.1:{port}"
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in ("json", "page", "lookup")}
        try:
            cps, nurse = session_cookie(base, users["cps"].api_key), session_cookie(base, users["hospital"].api_key)
            common = (args.seconds, args.threads, args.connections)
            for _ in range(args.repeat):
                runs["json"].append(wrk(f"{base}/cases/{target.id}", *common, users["cps"].api_key, None))
                runs["page"].append(wrk_with_cookie(f"{base}/ui/cases/{target.id}", *common, cps))
                runs["lookup"].append(wrk_with_cookie(f"{base}/ui/lookup", *common, nurse))
        finally:
            server.terminate()
            server.wait(timeout=10)
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("rps", "p50", "p99", "errors")} for k, v in runs.items()}
    print(f"{args.repeat} runs of {args.seconds}s, wrk -t{args.threads} -c{args.connections}, {os.cpu_count()} cores; "
          "medians")
    print(f"{'endpoint':<34}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    labels = {"json": "GET /cases/{id} (JSON)", "page": "GET /ui/cases/{id} (page)", "lookup": "GET /ui/lookup"}
    for key, label in labels.items():
        m = med[key]
        print(f"{label:<34}{m['rps']:>9.0f}{m['p50']:>9.1f}{m['p99']:>9.1f}{m['errors']:>9.0f}")
    print(f"case page: {med['page']['rps'] / med['json']['rps']:.2f} of the JSON view's rate, "
          f"p50 {med['page']['p50'] / med['json']['p50']:.2f}x")


if __name__ == "__main__":
    main()
