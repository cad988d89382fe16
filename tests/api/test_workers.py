"""`posc serve --workers 3`: several real server processes on one database (SQLite and PostgreSQL), started on an
empty database at once, answer as one service: copies of one request sent at once with one `Idempotency-Key` act once
and all get the same answer; many takes of one state change have exactly one winner."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from engine import Database, FixedClock, ensure_organisation
from engine.cases import EVENTS
from engine.users import add_user
from tests.api.test_operations import metric
from tests.factories import KINDS, ORGANISATIONS, ROLE_ORGANISATION, action_data, identification, local_date

REPO = Path(__file__).resolve().parents[2]
COPIES = 50


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(url: str, port: int, log: Path, *options: str) -> subprocess.Popen[bytes]:
    """`posc serve` on `url` (no background ticks), once it answers `/health`; its output goes to `log` (a file:
    a pipe nobody reads while the server runs would fill and stall it)."""
    env = {**os.environ, "POSC_DATABASE_URL": url, "POSC_TICK_SECONDS": "0"}
    with log.open("ab") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port), *options], cwd=REPO, env=env,
            stdout=output, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.05)
    server.kill()
    pytest.fail("the server did not come up")


@pytest.fixture
def served(empty_database: Database, tmp_path: Path) -> Iterator[tuple[str, Database]]:
    port, log = free_port(), tmp_path / "server.log"
    server = start_server(empty_database.url, port, log, "--workers", "3")
    try:
        time.sleep(1.0)  # every worker up, not only the first
        yield f"http://127.0.0.1:{port}", empty_database
    finally:
        server.terminate()
        server.wait(timeout=30)
        output = log.read_text(errors="replace")
        assert "Traceback" not in output, output


def events_of(db: Database, case_id: str) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(EVENTS).where(EVENTS.c.case_id == case_id))
                   .scalar_one())


def test_several_server_processes_act_once_per_key_and_once_per_state_change(served: tuple[str, Database]) -> None:
    base, db = served
    clock = FixedClock(datetime.now(UTC))
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(db, clock, org_id, name, kind=KINDS[org_id])
    keys = {role: add_user(db, clock, name=f"{role} user", role=role, organisation=ROLE_ORGANISATION[role])[1]
            for role in ("prenatal", "hospital")}
    today = local_date(clock.now())

    def post(role: str, path: str, body: object, **headers: str) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=60) as client:  # a connection of its own: any worker may take it
            return client.post(path, json=body, headers={"Authorization": f"Bearer {keys[role]}", **headers})

    opened = post("prenatal", "/cases", {"workflow": "charm-posc", "data": identification(today)})
    assert opened.status_code == 201, opened.text
    case = opened.json()
    due = date.fromisoformat(case["data"]["due_date"])
    consent = {"data": action_data("record_consent", clock.now(), due)}
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(
            lambda _: post("prenatal", f"/cases/{case['id']}/actions/record_consent", consent,
                           **{"Idempotency-Key": "one-consent"}), range(COPIES)))
    assert [a.status_code for a in answers] == [200] * COPIES, [a.text for a in answers if a.status_code != 200]
    assert sorted(a.headers.get("Idempotent-Replayed", "false") for a in answers) == ["false"] + ["true"] * (COPIES - 1)
    assert len({a.json()["version"] for a in answers}) == 1
    assert events_of(db, case["id"]) == 2

    birth = {"data": action_data("record_birth", clock.now(), due)}  # a state change that happens once
    with ThreadPoolExecutor(max_workers=16) as pool:
        takes = list(pool.map(
            lambda _: post("hospital", f"/cases/{case['id']}/actions/record_birth", birth), range(COPIES)))
    codes = sorted(t.status_code for t in takes)
    assert codes == [200] + [409] * (COPIES - 1), [t.text for t in takes if t.status_code not in (200, 409)]
    assert events_of(db, case["id"]) == 3

    # Whichever process answers the scrape, it counts every process's requests.
    admin = add_user(db, clock, name="admin user", role="admin", organisation="posc-admin")[1]
    scraped = {httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {admin}"}, timeout=30).text
               for _ in range(6)}
    route = {"method": "POST", "route": "/cases/{case_id}/actions/{action}"}
    for text in scraped:
        assert metric(text, "posc_http_requests_total", status="200", **route) == COPIES + 1
        assert metric(text, "posc_http_requests_total", status="409", **route) == COPIES - 1

