"""What the server's log lines look like, and what they never hold: a query string, an exception's message, a field's
value (the whole server is tested as it runs in test_server_log.py; these are the pieces, in-process)."""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

import pytest
from sqlalchemy import event, exc

from api import logs
from tests.api.conftest import Api
from tests.factories import identification

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?P<level>[A-Z]+) (?P<logger>[\w.]+) "
                  r"\[(?P<request>[\w.-]+)\]: (?P<message>.*)", re.DOTALL)
PARENT = {"first_name": "Wilhelmina", "last_name": "Zzyzxquist", "date_of_birth": "1987-10-29",
          "substances": ["sedatives", "stimulants"]}
SECRETS = ["Wilhelmina", "Zzyzxquist", "1987-10-29", "sedatives", "stimulants"]


def access_record(path: str) -> logging.LogRecord:
    """An access record as uvicorn makes one."""
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                             ("127.0.0.1:5000", "GET", path, "1.1", 200), None)


def test_the_access_log_records_paths_without_their_query_strings() -> None:
    record = access_record("/cases?state=marker123&q=Rivera")
    assert logs.WithoutQuery().filter(record) is True
    line = logs.Access(fmt=logs.ACCESS_FORMAT, use_colors=False).format(record)
    found = LINE.match(line)
    assert found and found["level"] == "INFO" and found["logger"] == "uvicorn.access", line
    assert found["message"] == '127.0.0.1:5000 - "GET /cases HTTP/1.1" 200 OK'
    other = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started %s", ("x?y",), None)
    assert logs.WithoutQuery().filter(other) and other.args == ("x?y",)  # only access records are changed


def test_a_traceback_keeps_where_it_happened_but_not_the_exception_messages() -> None:
    def insert() -> None:
        try:
            raise ValueError("Key (last_name)=(Zzyzxquist) already exists")
        except ValueError as cause:
            raise exc.IntegrityError("INSERT INTO cases", {"last_name": "Zzyzxquist"}, cause) from cause

    try:
        insert()
    except exc.IntegrityError:
        info = sys.exc_info()
    record = logging.LogRecord("posc.api", logging.ERROR, __file__, 1, "failed", None, info)
    line = logs.Redacted(fmt=logs.FORMAT).format(record)
    assert LINE.match(line) and "ERROR posc.api [-]: failed" in line
    assert "Zzyzxquist" not in line and "already exists" not in line and "INSERT" not in line, line
    assert "in insert" in line and "sqlalchemy.exc.IntegrityError (message withheld from the log)" in line
    assert "ValueError (message withheld from the log)" in line


def test_an_unexpected_database_error_is_logged_by_type_and_route_without_any_value(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    database = api.client.app.state.services.db  # type: ignore[attr-defined]

    def refuse(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        # The new case's row: its data is in flight, and the error repeats it (as a database's message can).
        if "INSERT INTO CASES" in statement.upper():  # on PostgreSQL, within the opening's one statement
            raise exc.OperationalError(statement, parameters, Exception(f"refused: {PARENT} in {parameters!r}"))

    event.listen(database.engine, "before_cursor_execute", refuse)
    try:
        with caplog.at_level(logging.INFO):
            body = {"workflow": "charm-posc", "data": identification(api.today(), **PARENT)}
            answer = api.post("/cases?marker=123", "prenatal", body, headers={"X-Request-ID": "7f3a9c00-b2e1"})
    finally:
        event.remove(database.engine, "before_cursor_execute", refuse)
    assert answer.status_code == 500 and answer.headers["cache-control"] == "no-store"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.name for r in errors] == ["posc.api"], caplog.text
    message = errors[0].getMessage()
    assert message.startswith("unexpected sqlalchemy.exc.OperationalError") and " on POST /cases " in message
    assert errors[0].exc_info is None and "marker" not in message
    assert errors[0].request_id == answer.headers["x-request-id"] == "7f3a9c00-b2e1"  # type: ignore[attr-defined]
    assert not [s for s in SECRETS if s in caplog.text], caplog.text


def test_start_up_leaves_a_logging_set_up_it_finds_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    access = logging.getLogger(logs.ACCESS_LOGGER)
    monkeypatch.setattr(access, "filters", [])
    before = list(root.handlers)
    assert before, "pytest's log capture is a handler on the root logger"
    logs.configure_unless_configured()
    logs.configure_unless_configured()
    assert root.handlers == before
    assert [type(f) for f in access.filters] == [logs.WithoutQuery]


def test_every_line_logged_while_answering_carries_the_request_id_the_client_is_sent(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    formatter = logs.Redacted(fmt=logs.FORMAT)
    with caplog.at_level(logging.INFO, logger="posc"):
        answer = api.get("/cases/PC-NOPE-NOPE", "cps", headers={"X-Request-ID": "3f2a9c1e-77b4-4d0a-9e21-0c5b8f6d4a10"})
        logging.getLogger("posc.api").info("a line while no request is answered")
    assert answer.headers["x-request-id"] == "3f2a9c1e-77b4-4d0a-9e21-0c5b8f6d4a10"
    assert formatter.format(caplog.records[-1]).split(" ")[3] == "[-]:"
    own = api.get("/health", "cps", headers={"X-Request-ID": "Zzyzxquist-lookup"})
    assert re.fullmatch(r"[0-9a-f]{16}", own.headers["x-request-id"])  # not hexadecimal: it could carry a name
    assert api.get("/health", "cps").headers["x-request-id"] != own.headers["x-request-id"]


def test_json_lines_hold_the_same_fields_and_never_a_message_of_an_error() -> None:
    token = logs.REQUEST_ID.set("abc123def456")
    try:
        try:
            raise ValueError("Zzyzxquist already exists")
        except ValueError:
            record = logging.LogRecord("posc.api", logging.ERROR, __file__, 1, "failed on %s", ("/cases/{id}",),
                                       sys.exc_info())
        line = logs.Json().format(record)
    finally:
        logs.REQUEST_ID.reset(token)
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "posc.api" and entry["request_id"] == "abc123def456"
    assert entry["message"] == "failed on /cases/{id}" and entry["time"].endswith("Z")
    assert "ValueError (message withheld from the log)" in entry["error"] and "Zzyzxquist" not in line
    access = access_record("/cases?last_name=Zzyzxquist")
    logs.WithoutQuery().filter(access)
    assert json.loads(logs.Json().format(access))["message"] == '127.0.0.1:5000 - "GET /cases HTTP/1.1" 200'

