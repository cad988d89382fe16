"""HTTP fixtures: the real application on the test database (SQLite, and PostgreSQL when configured), a moving
clock, one user per role with an API key, and helpers to open and drive cases over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from engine import Catalogue, Database, FixedClock, ensure_organisation
from engine.users import add_user
from tests.factories import (
    ACTION_ROLE,
    CONTACTS,
    KINDS,
    ORGANISATIONS,
    ROLE_ORGANISATION,
    action_data,
    identification,
    local_date,
)

ROLES = ("cps", "treatment", "peer", "prenatal", "hospital", "analyst", "admin")
OTHER_ORGANISATIONS = {"analyst": "state-analytics", "admin": "posc-admin"}
SECOND_HOSPITAL = "valley-hospital"


class Api:
    """A test client with a user per role (`api.key["cps"]`) and the pathway's happy-path data at hand."""

    def __init__(self, client: TestClient, clock: FixedClock, keys: dict[str, str]) -> None:
        self.client = client
        self.clock = clock
        self.key = keys

    def headers(self, role: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key[role]}", **extra}

    def get(self, path: str, role: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers(role, **kwargs.pop("headers", {})), **kwargs)

    def post(self, path: str, role: str, body: Any, **kwargs: Any) -> Any:
        return self.client.post(path, json=body, headers=self.headers(role, **kwargs.pop("headers", {})), **kwargs)

    def today(self) -> date:
        return local_date(self.clock.now())

    def open_case(self, role: str = "prenatal", *, new_pregnancy: bool = True, **changes: Any) -> dict[str, Any]:
        """Opens a case for the sample parent; each is its own pregnancy unless the test says otherwise."""
        body = {"workflow": "charm-posc", "data": identification(self.today(), **changes),
                "new_pregnancy": new_pregnancy}
        response = self.post("/cases", role, body)
        assert response.status_code == 201, response.text
        found: dict[str, Any] = response.json()
        return found

    def act(self, case: dict[str, Any], action: str, role: str | None = None, **changes: Any) -> Any:
        due = date.fromisoformat(identification(self.today())["due_date"])
        data = {**action_data(action, self.clock.now(), due), **changes}
        return self.post(f"/cases/{case['id']}/actions/{action}", role or ACTION_ROLE[action], {"data": data})

    def drive(self, case: dict[str, Any], actions: list[str]) -> dict[str, Any]:
        for action in actions:
            response = self.act(case, action)
            assert response.status_code == 200, f"{action}: {response.text}"
            case = response.json()
        return case


@pytest.fixture
def api(db: Database, catalogue: Catalogue, clock: FixedClock) -> Iterator[Api]:
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(db, clock, org_id, name, CONTACTS.get(org_id), kind=KINDS[org_id])
    keys = {}
    for role in ROLES:
        organisation = ROLE_ORGANISATION.get(role) or OTHER_ORGANISATIONS[role]
        _, keys[role] = add_user(db, clock, name=f"{role} user", role=role, organisation=organisation)
    # A second organisation of the same kind: the staff of another hospital (the features' "another hospital").
    _, keys[SECOND_HOSPITAL] = add_user(db, clock, name="valley hospital user", role="hospital",
                                        organisation=SECOND_HOSPITAL)
    app = create_app(clock=clock, catalogue=catalogue, db=db)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, clock, keys)
