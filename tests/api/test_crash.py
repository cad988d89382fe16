"""A server killed mid-write (SIGKILL, no chance to clean up), twenty times, on SQLite and PostgreSQL: after each
restart every write the server acknowledged is in the log, every case equals the replay of its events, every chain
verifies, and `posc verify` says so."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import httpx

from engine import Cases, Database, FixedClock, ensure_organisation, load_catalogue
from engine.users import add_user
from tests.api.test_workers import free_port, start_server
from tests.factories import KINDS, ORGANISATIONS, ROLE_ORGANISATION, action_data, identification, local_date

REPO = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("POSC_CRASH_KILLS", "20"))


def test_a_server_killed_mid_write_loses_no_acknowledged_write(empty_database: Database, tmp_path: Path) -> None:
    db = empty_database
    db.ensure_schema()
    clock = FixedClock(datetime.now(UTC))
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(db, clock, org_id, name, kind=KINDS[org_id])
    key = add_user(db, clock, name="Pat Doe", role="prenatal", organisation=ROLE_ORGANISATION["prenatal"])[1]
    headers = {"Authorization": f"Bearer {key}"}
    today = local_date(clock.now())
    acknowledged: dict[str, int] = {}  # case -> the highest version the server answered with
    port = free_port()
    for _ in range(KILLS):
        server = start_server(db.url, port, tmp_path / "server.log")
        stop = threading.Event()

        def write(stop: threading.Event = stop) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=5) as client:
                while not stop.is_set():
                    try:
                        if not acknowledged or random.random() < 0.3:
                            data = identification(today, last_name=f"Crash{uuid.uuid4().hex[:6]}")
                            answer = client.post("/cases", json={"workflow": "charm-posc", "data": data,
                                                                 "new_pregnancy": True})
                        else:
                            case_id = random.choice(list(acknowledged))
                            consent = action_data("record_consent", datetime.now(UTC),
                                                  date.fromordinal(today.toordinal() + 25))
                            answer = client.post(f"/cases/{case_id}/actions/record_consent", json={"data": consent})
                    except httpx.HTTPError:
                        return  # the server is gone
                    if answer.status_code in (200, 201):
                        body = answer.json()
                        acknowledged[body["id"]] = max(acknowledged.get(body["id"], 0), body["version"])

        writers = [threading.Thread(target=write) for _ in range(3)]
        for writer in writers:
            writer.start()
        time.sleep(random.uniform(0.2, 0.8))
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        stop.set()
        for writer in writers:
            writer.join(timeout=30)
    assert len(acknowledged) >= KILLS  # the load did write, every time

    cases = Cases(db, load_catalogue(), clock)
    for case_id, version in acknowledged.items():
        record = cases.get(case_id)
        assert record.version >= version, f"{case_id}: acknowledged v{version}, found v{record.version}"
        assert cases.verify(case_id) == []
    env = {**os.environ, "POSC_DATABASE_URL": db.url}
    verified = subprocess.run([sys.executable, "-m", "api.cli", "verify"], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=120)
    assert verified.returncode == 0 and "every chain verifies" in verified.stdout, verified.stdout + verified.stderr
