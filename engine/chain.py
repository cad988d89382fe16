"""The hash chain of a case's events: each event's hash covers its content and the previous event's hash, so any
change to a stored event, or a missing or reordered one, shows up when the chain is verified."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def event_hash(prev_hash: str, content: Mapping[str, Any]) -> str:
    payload = json.dumps(
        {**content, "occurred_at": _time(content["occurred_at"])},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    return hashlib.sha256(f"{prev_hash}|{payload}".encode()).hexdigest()


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


#: The event columns the hash covers (everything but the database id and the hashes themselves).
HASHED = (
    "case_id", "seq", "action", "form", "from_state", "to_state", "actor_id", "actor_role", "organisation",
    "occurred_at", "data",
)


def verify_chain(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """Problems with a case's chain, oldest first (an empty list means it is intact)."""
    problems: list[str] = []
    previous = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        seq = event["seq"]
        if seq != expected_seq:
            problems.append(f"event {seq}: expected sequence number {expected_seq}")
        if event["prev_hash"] != previous:
            problems.append(f"event {seq}: does not link to the previous event")
        recomputed = event_hash(event["prev_hash"], {k: event[k] for k in HASHED})
        if recomputed != event["hash"]:
            problems.append(f"event {seq}: content does not match its hash")
        previous = event["hash"]
    return problems
