"""Configuration, read once from `POSC_*` environment variables (and nowhere else)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSC_", extra="ignore")

    database_url: str = "sqlite:///./posc.db"
    #: Seconds a SQLite writer waits for the write lock before giving up.
    sqlite_busy_timeout: float = 30.0
    #: Echo SQL statements (debugging only; never in production: statements carry no personal data,
    #: but parameters would).
    echo_sql: bool = False
    #: How often `posc serve` processes due deadlines in the background (seconds); 0 switches it off.
    tick_seconds: float = 60.0
    #: Mark the pages' cookies `Secure` even when the request reached the server over plain HTTP (a TLS proxy in
    #: front that uvicorn does not trust for `X-Forwarded-Proto`).
    secure_cookies: bool = False
