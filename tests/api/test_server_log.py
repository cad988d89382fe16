"""`posc serve --demo` as a user runs it: a real server process on a free port, a whole demo session over HTTP, and
then its entire output (stdout and stderr, uvicorn's access log included) searched for the demo parents' names and
dates of birth, which must never reach a log (PATHWAY.md: identifying fields never appear in logs or URLs). And the
same server with a database that fails while a new parent's data is in flight: the failure is logged, the data is
not; a query string never reaches the access log."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from api.demo import DEMO_CASES
from tests.factories import identification, local_date

REPO = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30
STOP_SECONDS = 10
KEY_LINE = re.compile(r"^\s+(?P<name>.+?)\s+(?P<role>cps|treatment|peer|prenatal|hospital|analyst|admin)\s+"
                      r"(?P<org>\S+)\s+(?P<key>posc_\S+)\s*$", re.MULTILINE)
#: What must never be in the server's output: every demo parent's first name, last name and date of birth.
SECRETS = sorted({str(person[k]) for person, _ in DEMO_CASES for k in ("first_name", "last_name", "date_of_birth")})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_healthy(base: str, process: subprocess.Popen[bytes], output: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{output.read_text(errors='replace')}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"no answer on {base}/health within {STARTUP_SECONDS} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_SECONDS)


def session(base: str, keys: dict[str, str]) -> dict[str, Any]:
    """A whole demo session; returns what it saw, for the assertions after the server is stopped."""
    seen: dict[str, Any] = {}

    def client(role: str) -> httpx.Client:
        return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {keys[role]}"}, timeout=10)

    with client("cps") as cps, client("hospital") as hospital, client("treatment") as treatment:
        listed = cps.get("/cases", params={"limit": 200})
        assert listed.status_code == 200, listed.text
        cases = listed.json()["items"]
        assert len(cases) == len(DEMO_CASES)
        names = {}
        for item in cases:
            view = cps.get(f"/cases/{item['id']}")
            assert view.status_code == 200, view.text
            names[item["id"]] = view.json()["data"]["last_name"]
            assert cps.get(f"/cases/{item['id']}/events").status_code == 200
            assert cps.get(f"/cases/{item['id']}/actions").status_code == 200
        seen["names"] = names
        by_name = {last: case_id for case_id, last in names.items()}

        person = next(p for p, _ in DEMO_CASES if p["last_name"] == "Brooks")  # plan agreed before birth
        found = hospital.post("/lookup", json={"last_name": person["last_name"],
                                                "date_of_birth": person["date_of_birth"]})
        assert found.status_code == 200, found.text
        assert [m["id"] for m in found.json()["matches"]] == [by_name["Brooks"]]
        assert found.json()["matches"][0]["plan_in_place"] is True
        assert hospital.post("/lookup", json={"last_name": "Ellis", "date_of_birth": "1900-01-01"}).json() == {
            "matches": []}

        document = cps.get(f"/cases/{by_name['Brooks']}/documents/plan-of-safe-care")
        assert document.status_code == 200 and "Plan of Safe Care" in document.text
        assert "Taylor" in document.text  # the name is in the document the lead may read, just never in logs

        ellis = by_name["Ellis"]  # freshly identified
        admitted = treatment.post(f"/cases/{ellis}/actions/admit_to_treatment", json={"data": {}})
        assert admitted.status_code == 404  # the treatment provider is not on that case yet
        today = cps.get(f"/cases/{ellis}").json()["data"]["identified_on"]
        consent = cps.post(f"/cases/{ellis}/actions/record_consent", json={"data": {
            "signed_on": today, "organisations": ["county-cps", "recovery-clinic", "city-hospital"],
            "categories": ["status", "plan"], "purpose": "Plan of Safe Care", "expires_on": "2099-01-01",
            "signature_method": "written",
        }})
        assert consent.status_code == 200, consent.text
        refused = hospital.post(f"/cases/{ellis}/actions/record_planning_meeting", json={"data": {}})
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        not_json = cps.post(f"/cases/{ellis}/actions/record_declined", content=b"{", headers={
            "content-type": "application/json"})
        assert not_json.status_code == 400
        assert cps.get(f"/cases/{ellis}/disclosures").status_code == 200
        assert cps.get("/worklist").status_code == 200
    return seen


def serve(tmp_path: Path, run: Any, *, python: list[str] | None = None, env: dict[str, str] | None = None) -> str:
    """Runs `posc serve --demo` (or `python` with the same arguments) on a free port, calls `run(base, keys)`
    while it serves, stops it, and returns its whole output (stdout and stderr)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    output = tmp_path / "server.log"
    env = {**os.environ, "POSC_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}", **(env or {})}
    command = python or [sys.executable, "-m", "api.cli"]
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "serve", "--demo", "--port", str(port)],
            cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(base, process, output)
            keys = {m["role"]: m["key"] for m in KEY_LINE.finditer(output.read_text(errors="replace"))}
            assert set(keys) == {"cps", "treatment", "peer", "prenatal", "hospital", "analyst", "admin"}, \
                output.read_text(errors="replace")
            run(base, keys)
        finally:
            stop(process)
    return output.read_text(errors="replace")


def test_a_demo_session_leaves_no_identifying_data_in_the_server_output(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}
    text = serve(tmp_path, lambda base, keys: seen.update(session(base, keys)))
    assert "Traceback" not in text, text
    first = next(iter(seen["names"]))
    assert f'"GET /cases/{first} HTTP/1.1" 200' in text, text  # uvicorn's access log was captured
    assert '"POST /lookup HTTP/1.1" 200' in text and "/record_planning_meeting HTTP/1.1\" 403" in text, text
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, f"the server output contains {leaked}:\n{text}"
    assert {p["last_name"] for p, _ in DEMO_CASES} == set(seen["names"].values())


#: A server whose database refuses any statement with POSC_TEST_FAIL_ON in its parameters, with an error whose
#: message repeats the data in flight (as a database's "duplicate key" error can), given in POSC_TEST_FAIL_WITH.
FAILING_SERVER = """
import os, sys
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine


@event.listens_for(Engine, "before_cursor_execute")
def refuse(conn, cursor, statement, parameters, context, executemany):
    if os.environ["POSC_TEST_FAIL_ON"] in repr(parameters):  # (on SQLite, the case data is a JSON string)
        detail = os.environ["POSC_TEST_FAIL_WITH"]
        raise exc.IntegrityError(statement, parameters, Exception(f"duplicate key: Key (data)=({detail})"))


from api.cli import main
sys.argv = ["posc", *sys.argv[1:]]
main()
"""
#: The parent whose data is in flight when the database fails.
PARENT = {"first_name": "Wilhelmina", "last_name": "Zzyzxquist", "date_of_birth": "1987-10-29",
          "substances": ["sedatives", "stimulants"]}
_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?P<level>[A-Z]+) (?P<logger>[\w.]+) "
                   r"\[(?P<request>[\w.-]+)\]: (?P<message>.*)$", re.MULTILINE)


def test_a_database_error_is_logged_without_the_data_and_paths_without_their_query(tmp_path: Path) -> None:
    answers: dict[str, httpx.Response] = {}

    def run(base: str, keys: dict[str, str]) -> None:
        with httpx.Client(base_url=base, timeout=10) as client:
            headers = {"Authorization": f"Bearer {keys['prenatal']}"}
            body = {"workflow": "charm-posc", "data": identification(local_date(datetime.now(UTC)), **PARENT)}
            answers["open"] = client.post("/cases", json=body, headers=headers)
            answers["search"] = client.get("/cases", params={"state": "marker123"}, headers=headers)
            answers["page"] = client.get("/ui/sign-in", params={"next": "/ui/cases?state=marker456"})

    text = serve(tmp_path, run, python=[sys.executable, "-c", FAILING_SERVER],
                 env={"POSC_TEST_FAIL_ON": PARENT["last_name"], "POSC_TEST_FAIL_WITH": repr(PARENT)})
    assert answers["open"].status_code == 500, answers["open"].text
    assert answers["open"].headers["cache-control"] == "no-store"
    assert answers["search"].status_code in (200, 422) and answers["page"].status_code == 200

    secrets = [PARENT["first_name"], PARENT["last_name"], PARENT["date_of_birth"], *PARENT["substances"]]
    leaked = [secret for secret in secrets if secret in text]
    assert not leaked, f"the server output contains {leaked}:\n{text}"
    assert "Traceback" not in text and "duplicate key" not in text and "INSERT" not in text, text
    lines = [m.groupdict() for m in _LINE.finditer(text)]
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert any(line["logger"] == "posc.api" and "unexpected sqlalchemy.exc.IntegrityError" in line["message"]
               and "on POST /cases" in line["message"] for line in errors), text
    assert any(line["logger"] == "posc.app" and line["level"] == "INFO" for line in lines), text  # posc's own INFO
    access = [line["message"] for line in lines if line["logger"] == "uvicorn.access"]
    assert any('"GET /cases HTTP/1.1" ' in line for line in access), text
    assert any('"GET /ui/sign-in HTTP/1.1" 200' in line for line in access), text
    assert any('"POST /cases HTTP/1.1" 500' in line for line in access), text
    assert "marker123" not in text and "marker456" not in text, text
