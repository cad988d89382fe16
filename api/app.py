"""The HTTP application factory. Nothing connects to a database or reads the environment at import time."""

from __future__ import annotations

from fastapi import FastAPI

from api import problems
from api.limits import BodySizeLimit
from api.routes import cases, desk, meta
from api.services import Services
from engine import Catalogue, Clock, Database, Settings


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, catalogue: Catalogue | None = None,
    db: Database | None = None,
) -> FastAPI:
    services = Services.build(settings or Settings(), clock=clock, catalogue=catalogue, db=db)
    app = FastAPI(
        title="posc",
        summary="A workflow engine for prenatal Plans of Safe Care (CHARM pathway).",
        version="0.1.0",
    )
    app.state.services = services
    problems.install(app)
    for router in (meta.router, cases.router, desk.router):
        app.include_router(router)
    app.add_middleware(BodySizeLimit)
    return app
