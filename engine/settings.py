"""Configuration, read once from `POSC_*` environment variables (and nowhere else)."""

from __future__ import annotations

import os
import tempfile
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSC_", extra="ignore")

    database_url: str = "sqlite:///./posc.db"
    #: Seconds a SQLite writer waits for the write lock before giving up.
    sqlite_busy_timeout: float = 30.0
    #: Echo SQL statements (debugging only). Statements carry no personal data, and their parameters, which do,
    #: are hidden (the engine is created with `hide_parameters`).
    echo_sql: bool = False
    #: How often `posc serve` processes due deadlines in the background (seconds); 0 switches it off.
    tick_seconds: float = 60.0
    #: Mark the pages' cookies `Secure` even when the request reached the server over plain HTTP (a TLS proxy in
    #: front that uvicorn does not trust for `X-Forwarded-Proto`).
    secure_cookies: bool = False
    #: The key that ties a page's forms to the browser that was shown them (so that a form posted after its
    #: session ended is carried through a new sign-in only for that browser and person). Unset, each process makes
    #: its own at start-up: set one shared key when several processes serve the pages, or a form posted to another
    #: process, or after a restart, is not carried (the person types it again).
    form_proof_key: SecretStr | None = None
    #: PostgreSQL connections each process keeps open, and how many more it may open at a peak. Every server process
    #: (`posc serve --workers N`) and every `posc tick` has its own pool: keep N x (pool_size + pool_max_overflow),
    #: plus a few for the ticks, under the server's `max_connections` (100 by default).
    pool_size: int = Field(default=10, ge=1, le=200)
    pool_max_overflow: int = Field(default=10, ge=0, le=200)
    #: Processes that share the reading of a large outcome report (40,000 cases or more): by default as many as
    #: the cores this process may use, at most 4; 1 reads every report in the process that serves it.
    report_workers: int | None = Field(default=None, ge=1, le=16)
    #: How the server logs: `text` (one line per record) or `json` (one JSON object per line), at this level for
    #: posc's and uvicorn's loggers.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: Where the server processes of `posc serve --workers N` count their metrics, so that a scrape adds them up:
    #: prometheus-client's own variable (it reads it when it starts in each process). Empty it before each start.
    metrics_dir: str | None = Field(default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR")

    def shared_metrics_dir(self) -> str:
        """The metrics directory the worker processes about to be started will share: the one set, or a new empty
        one, handed to them (and to the library in them) through their environment."""
        folder = self.metrics_dir or tempfile.mkdtemp(prefix="posc-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        return folder
