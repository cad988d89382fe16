"""How the server logs: one line per record with the time (UTC), level and logger, and never a field's value.

Case data must not reach a log (42 CFR Part 2; PATHWAY.md): so the access log records each request's path without
its query string (a search can carry a name or a date of birth), tracebacks keep where an error happened but not
the exception's message (a database error's message repeats SQL and can repeat values), and SQL parameters are
hidden by the engine itself (`hide_parameters`).

`posc serve` configures this before it starts; an application started otherwise (`uvicorn --factory
api.app:create_app`) configures it at start-up unless something (a test's log capture, an operator's own
configuration) already has.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import time
import traceback
import uuid
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from uvicorn.logging import AccessFormatter

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
ACCESS_FORMAT = (
    '%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(client_addr)s - "%(request_line)s" %(status_code)s'
)
ACCESS_LOGGER = "uvicorn.access"
#: The request being answered ("-" outside one): on every line logged while answering it, and sent back to the
#: client as `X-Request-ID`.
REQUEST_ID: ContextVar[str] = ContextVar("posc_request_id", default="-")
#: A request id a client or proxy may send (`X-Request-ID`) to be used as the request's own: hexadecimal with
#: hyphens (a UUID, a proxy's hex id), so it cannot carry a name into the log; anything else is replaced.
_CALLER_ID = re.compile(r"^[0-9A-Fa-f-]{8,64}$")


class RequestIds:
    """ASGI middleware: gives each request an id (the caller's `X-Request-ID` if it is hexadecimal, such as a
    UUID, else a new one), logged on every line written while answering it, and answered as `X-Request-ID`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _CALLER_ID.fullmatch(given) else uuid.uuid4().hex[:16]
        token = REQUEST_ID.set(request_id)

        async def with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, with_id)
        finally:
            REQUEST_ID.reset(token)


def _with_request_id(record: logging.LogRecord) -> None:
    if not hasattr(record, "request_id"):
        record.request_id = REQUEST_ID.get()


def _stamp_request_ids() -> None:
    """Every record is stamped with the request being answered when it is made (not when a handler formats it,
    which may be later, elsewhere). Installed once."""
    make = logging.getLogRecordFactory()
    if getattr(make, "stamps_request_ids", False):
        return

    def stamped(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        record.request_id = REQUEST_ID.get()
        return record

    stamped.stamps_request_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(stamped)


class WithoutQuery(logging.Filter):
    """Cuts the query string off uvicorn's access records, whose arguments are (client address, method, path with
    query, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


class _UtcTimes(logging.Formatter):
    def converter(self, seconds: float | None) -> time.struct_time:
        return time.gmtime(seconds)

    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"


class Redacted(_UtcTimes):
    """Formats records as `FORMAT`; a traceback shows its frames (file, line, function) and each exception's type,
    never its message, the frames' variables or even the code's lines."""

    def format(self, record: logging.LogRecord) -> str:
        _with_request_id(record)
        return super().format(record)

    def formatException(
        self, ei: tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]
    ) -> str:
        return without_messages(ei[1])


class Access(_UtcTimes, AccessFormatter):
    """uvicorn's access line (`"GET /cases/C-1 HTTP/1.1" 200 OK`) after the time, level, logger and request id."""

    def format(self, record: logging.LogRecord) -> str:
        _with_request_id(record)
        return super().format(record)


class Json(Redacted):
    """One JSON object per line (`POSC_LOG_FORMAT=json`): time, level, logger, request_id, message, and for an
    error the traceback without messages (`error`)."""

    def format(self, record: logging.LogRecord) -> str:
        _with_request_id(record)
        entry = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                 "request_id": getattr(record, "request_id", "-"), "message": record.getMessage()}
        if record.exc_info:
            entry["error"] = without_messages(record.exc_info[1])
        return json.dumps(entry, ensure_ascii=False)


def without_messages(error: BaseException | None) -> str:
    """A traceback of `error` (and the exceptions it was raised from) without any exception's message."""
    chain: list[BaseException] = []
    while error is not None and all(error is not seen for seen in chain):
        chain.append(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    parts: list[str] = []
    for index, item in enumerate(reversed(chain)):
        if index:
            parts.append("\nwhich led to:\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(f'  File "{f.filename}", line {f.lineno}, in {f.name}\n'
                     for f in traceback.extract_tb(item.__traceback__))
        parts.append(f"{type_name(item)} (message withheld from the log)")
    return "".join(parts)


def type_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def config(level: str = "INFO", style: str = "text") -> dict[str, Any]:
    """The `logging.config.dictConfig` configuration (also passed to uvicorn as its `log_config`); `style` is
    `text` (one line as `FORMAT`) or `json` (one JSON object per line)."""
    if style == "json":
        formatters: dict[str, Any] = {"default": {"()": Json}, "access": {"()": Json}}
    else:
        formatters = {
            "default": {"()": Redacted, "fmt": FORMAT},
            "access": {"()": Access, "fmt": ACCESS_FORMAT, "use_colors": False},
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"without_query": {"()": WithoutQuery}},
        "formatters": formatters,
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"},
            "access": {
                "class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout",
                "filters": ["without_query"],
            },
        },
        "loggers": {
            "posc": {"level": level},
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            ACCESS_LOGGER: {
                "handlers": ["access"], "level": level, "propagate": False, "filters": ["without_query"],
            },
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
    }


def configure(level: str = "INFO", style: str = "text") -> None:
    _stamp_request_ids()
    logging.config.dictConfig(config(level, style))


def configure_unless_configured(level: str = "INFO", style: str = "text") -> None:
    """At start-up: the whole configuration if the root logger has no handler yet; in any case the access log
    loses query strings (whoever set up its handlers)."""
    _stamp_request_ids()
    if not logging.getLogger().handlers:
        configure(level, style)
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, WithoutQuery) for f in access.filters):
        access.addFilter(WithoutQuery())
