"""What the HTTP layer needs from the engine, built once per application (never at import time)."""

from __future__ import annotations

from dataclasses import dataclass, field

from api.limits import RateLimit
from engine import CaseQueries, Cases, Catalogue, Clock, Database, Settings, SystemClock, load_catalogue


@dataclass
class Services:
    settings: Settings
    db: Database
    catalogue: Catalogue
    clock: Clock
    cases: Cases
    queries: CaseQueries
    lookups: RateLimit = field(default_factory=lambda: RateLimit("lookup", count=30, seconds=60))
    #: The schema revision this posc needs (`GET /health/ready` compares the database's with it).
    schema_head: str = ""

    @classmethod
    def build(
        cls, settings: Settings, *, clock: Clock | None = None, catalogue: Catalogue | None = None,
        db: Database | None = None,
    ) -> Services:
        database = db or Database.from_settings(settings)
        head = database.ensure_schema()
        definitions = catalogue or load_catalogue()
        used_clock = clock or SystemClock()
        cases = Cases(database, definitions, used_clock)
        return cls(settings, database, definitions, used_clock, cases, CaseQueries(database, definitions, cases),
                   schema_head=head)
