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

import logging
import logging.config
import time
import traceback
from types import TracebackType
from typing import Any

from uvicorn.logging import AccessFormatter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ACCESS_FORMAT = '%(asctime)s %(levelname)s %(name)s: %(client_addr)s - "%(request_line)s" %(status_code)s'
ACCESS_LOGGER = "uvicorn.access"


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

    def formatException(
        self, ei: tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]
    ) -> str:
        return without_messages(ei[1])


class Access(_UtcTimes, AccessFormatter):
    """uvicorn's access line (`"GET /cases/C-1 HTTP/1.1" 200 OK`) after the time, level and logger."""


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


def config(level: str = "INFO") -> dict[str, Any]:
    """The `logging.config.dictConfig` configuration (also passed to uvicorn as its `log_config`)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"without_query": {"()": WithoutQuery}},
        "formatters": {
            "default": {"()": Redacted, "fmt": FORMAT},
            "access": {"()": Access, "fmt": ACCESS_FORMAT, "use_colors": False},
        },
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


def configure(level: str = "INFO") -> None:
    logging.config.dictConfig(config(level))


def configure_unless_configured() -> None:
    """At start-up: the whole configuration if the root logger has no handler yet; in any case the access log
    loses query strings (whoever set up its handlers)."""
    if not logging.getLogger().handlers:
        configure()
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, WithoutQuery) for f in access.filters):
        access.addFilter(WithoutQuery())
