"""The ceiling for the HTTP benchmark: FastAPI endpoints doing posc's database work with no engine, no
authentication and no disclosure. Run under the same uvicorn settings as `posc serve`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import bindparam, insert, select, update

from engine import Database, Settings
from engine.cases import CASES, EVENTS

app = FastAPI()
_db = Database.from_settings(Settings())
_READ = select(CASES).where(CASES.c.id == bindparam("b_id"))


@app.get("/bare/cases/{case_id}")
def read_case(case_id: str) -> dict[str, Any]:
    with _db.statement() as conn:  # one statement: no transaction around it, as posc's case view
        row = conn.execute(_READ, {"b_id": case_id}).mappings().first()
    return {"id": row["id"], "state": row["state"], "version": row["version"], "data": row["data"]} if row else {}


@app.post("/bare/cases/{case_id}/write")
def write(case_id: str, body: dict[str, Any]) -> dict[str, Any]:
    with _db.write() as conn:
        version = conn.execute(select(CASES.c.version).where(CASES.c.id == case_id)).scalar_one()
        conn.execute(update(CASES).where(CASES.c.id == case_id, CASES.c.version == version).values(version=version + 1))
        conn.execute(insert(EVENTS).values(
            case_id=case_id, seq=version + 1, action="bench", form=None, from_state="identified",
            to_state="identified", actor_id="bench", actor_role="cps", organisation="county-cps",
            occurred_at=datetime.now(UTC), data=body, prev_hash="0" * 64, hash="0" * 64,
        ))
    return {"version": version + 1}
