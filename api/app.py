"""The HTTP application factory. Nothing connects to a database or reads the environment at import time."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api import fhir, logs, metrics, openapi, problems, web
from api.caching import NoStore
from api.limits import BodySizeLimit
from api.routes import cases, desk, meta
from api.services import Services
from engine import Catalogue, Clock, Database, Settings

log = logging.getLogger("posc.app")


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, catalogue: Catalogue | None = None,
    db: Database | None = None,
) -> FastAPI:
    services = Services.build(settings or Settings(), clock=clock, catalogue=catalogue, db=db)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Started as `uvicorn --factory api.app:create_app`, not `posc serve`.
        logs.configure_unless_configured(services.settings.log_level, services.settings.log_format)
        stop = threading.Event()
        worker = None
        if services.settings.tick_seconds > 0:
            worker = threading.Thread(target=_tick_forever, args=(services, stop), name="posc-tick", daemon=True)
            worker.start()
        workflows = ", ".join(f"{w.id} v{w.version}" for w in services.catalogue.latest())
        every = f"every {services.settings.tick_seconds:g} s" if worker else "off"
        log.info("posc started: workflows %s; %s database; deadline processing %s", workflows,
                 services.db.dialect, every)
        yield
        stop.set()
        if worker is not None:
            worker.join(timeout=10)

    app = FastAPI(
        title="posc",
        summary="A workflow engine for prenatal Plans of Safe Care (CHARM pathway).",
        description="Problems are RFC 9457 `application/problem+json`; each `type` (`/problems/<kind>`) is "
        "described at `GET /problems/{kind}`.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.services = services
    problems.install(app)
    openapi.install(app)
    for router in (meta.router, cases.router, desk.router):
        app.include_router(router)
    fhir.install(app)
    app.add_middleware(BodySizeLimit)
    app.add_middleware(HeadAsGet)
    app.add_middleware(metrics.Requests)
    app.add_middleware(problems.UnexpectedErrors)  # outside the size limit, which answers its own refusals
    app.add_middleware(NoStore)  # outside: a 500 and a 413 are marked too
    app.add_middleware(logs.RequestIds)  # outermost: every line logged while answering carries the request's id
    web.install(app)  # after: its security headers then cover every answer under /ui, a 413 included
    return app


def _tick_forever(services: Services, stop: threading.Event) -> None:
    """Processes due deadlines every `tick_seconds` until the server stops (the same work as `posc tick`)."""
    from engine import tick

    log = logging.getLogger("posc.tick")
    while not stop.wait(services.settings.tick_seconds):
        try:
            missed = tick(services.db, services.catalogue, services.clock.now())
        except Exception as exc:  # keep ticking; the next round retries
            metrics.TICKS.labels("failed").inc()
            log.error("deadline processing failed: %s", type(exc).__name__)
            continue
        metrics.TICKS.labels("ok").inc()
        metrics.MISSED.inc(len(missed))
        if missed:
            log.info("%d deadline(s) missed and escalated", len(missed))


class HeadAsGet:
    """ASGI middleware: `HEAD` on any address answers as `GET` would, headers only (monitors and proxies probe
    with it)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Any) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
