"""Valid form data for every action and the standard actors, shared with the demo (`api/demo.py`).

Tests, benchmarks and property tests build on these so that each of them states only what it changes.
"""

from api.demo import (
    ACTION_ROLE,
    ACTORS,
    JURISDICTION,
    KINDS,
    ORGANISATIONS,
    ROLE_ORGANISATION,
    action_data,
    identification,
    local_date,
    plan,
)

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
    "plan",
]
