"""The service's metrics, in Prometheus's text format at `GET /metrics` (an administrator's key): requests by route
template and status with their latency, deadline rounds and what they did, the access log's backlog, and, read
from the database at each scrape, open and overdue deadlines and how far the deadline processing is behind. No label
ever holds a value from a request: routes are templates (`/cases/{case_id}`), never addresses.

Under `posc serve --workers N` every process counts into files in one directory (`PROMETHEUS_MULTIPROC_DIR`, made by
`posc serve` unless set), and a scrape, whichever process answers it, adds them all up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api.services import Services
from engine import deadline_counts, next_due

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REQUESTS = Counter("posc_http_requests", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "posc_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TICKS = Counter("posc_deadline_rounds", "Background deadline rounds, by outcome", ["outcome"])
MISSED = Counter("posc_deadlines_missed", "Deadlines marked missed and escalated by the background rounds")
ACCESS_LOG = Gauge("posc_access_log_waiting", "Access-log rows handed over by reads and not yet committed",
                   multiprocess_mode="livesum")


class Requests:
    """ASGI middleware: counts each answered request by method, route template and status, with its latency."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def noting(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            REQUESTS.labels(scope["method"], route, str(status[0])).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)
            services = getattr(getattr(scope.get("app"), "state", None), "services", None)
            if services is not None:
                ACCESS_LOG.set(services.queries.access_log.waiting())


class Deadlines(Collector):
    """Figures read from the database at each scrape (the same whichever process answers)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.services.clock.now()
        open_count, overdue = deadline_counts(self.services.db, now)
        yield GaugeMetricFamily("posc_deadlines_open", "Open deadlines, escalations included", value=open_count)
        yield GaugeMetricFamily("posc_deadlines_overdue", "Open deadlines past their due time", value=overdue)
        due = next_due(self.services.db, now)
        lag = max(0.0, (now - due).total_seconds()) if due is not None else 0.0
        yield GaugeMetricFamily(
            "posc_deadline_processing_lag_seconds",
            "How long the most overdue deadline not yet marked missed has been due (0 when none is waiting)",
            value=lag,
        )


def exposition(services: Services) -> bytes:
    """The metrics as Prometheus text: every process's counters (when several share a directory), and the
    database's figures."""
    registry = CollectorRegistry()
    if services.settings.metrics_dir:
        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (REQUESTS, LATENCY, TICKS, MISSED, ACCESS_LOG):
            registry.register(collector)
    registry.register(Deadlines(services))
    return generate_latest(registry)


__all__ = ["ACCESS_LOG", "CONTENT_TYPE", "LATENCY", "MISSED", "REGISTRY", "REQUESTS", "TICKS", "Requests", "exposition"]
