"""Valid form data for every action and the standard actors, shared with the demo (`api/demo.py`).

Tests, benchmarks and property tests build on these so that each of them states only what it changes.
"""

from datetime import date, datetime
from typing import Any

from api.demo import ACTION_ROLE as DEMO_ACTION_ROLE
from api.demo import (
    ACTORS,
    JURISDICTION,
    KINDS,
    ORGANISATIONS,
    ROLE_ORGANISATION,
    identification,
    local_date,
    plan,
)
from api.demo import action_data as demo_action_data
from engine import Actor, CaseRecord, Cases

#: Who normally takes each action, the actions the demo never takes included.
ACTION_ROLE = {**DEMO_ACTION_ROLE, "record_treatment_progress": "treatment", "amend_identification": "cps"}


def action_data(action: str, now: datetime, due_date: date) -> dict[str, Any]:
    """Valid data for `action` taken at `now` on a case due on `due_date`."""
    if action == "record_treatment_progress":
        day = local_date(now).isoformat()
        return {"recorded_on": day, "status": "attending", "moud_adherence": "yes", "last_attended_on": day}
    if action == "amend_identification":
        return {"phone": "555-0142", "reason": "the parent gave a new number"}
    return demo_action_data(action, now, due_date)


__all__ = [
    "ACTION_ROLE",
    "ACTORS",
    "JURISDICTION",
    "KINDS",
    "ORGANISATIONS",
    "ROLE_ORGANISATION",
    "action_data",
    "identification",
    "local_date",
    "opened",
    "plan",
    "taken",
]


def opened(cases: Cases, actor: Actor, workflow: str, data: Any, **how: Any) -> CaseRecord:
    """Opens a case through the engine's one verb (`Cases.open`) and returns the engine's record of it, whatever the
    opener may see (tests check the state and facts that some openers are not shown)."""
    return cases.get(cases.open(actor, workflow, data, **how).case.id)


def taken(cases: Cases, actor: Actor, case_id: str, action: str, data: Any, **how: Any) -> CaseRecord:
    """Takes an action through `Cases.act` and returns the engine's record of the case after it."""
    cases.act(actor, case_id, action, data, **how)
    return cases.get(case_id)
