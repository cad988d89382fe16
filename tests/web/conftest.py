"""Web page fixtures: the real application (same database, clock and users as the HTTP tests), and browsers-in-
miniature (test clients with their own cookie jar) signed in through the sign-in form, as a person would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from tests.api import conftest as http_fixtures
from tests.api.conftest import Api
from tests.factories import ACTION_ROLE, action_data, identification

#: The HTTP tests' `api` fixture (users per role, a moving clock), reused here.
api = http_fixtures.api
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_VERSION = re.compile(r'name="version" value="(\d+)"')
_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def flatten(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Form data as a browser posts it: one pair per value; lists repeat the name; rows of records are
    `field[i].sub`; datetimes as a `datetime-local` input sends them (local wall-clock time, no offset)."""
    posted: list[tuple[str, str]] = []
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for index, row in enumerate(value):
                posted += [(f"{key}[{index}].{sub}", str(v)) for sub, v in row.items()]
        elif isinstance(value, list):
            posted += [(key, str(v)) for v in value]
        else:
            posted.append((key, str(value)))
    return posted


class Browser:
    """One signed-in person: a client with its own cookies, reading forms and posting them back."""

    def __init__(self, client: TestClient, api: Api, role: str) -> None:
        self.client = client
        self.api = api
        self.role = role

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def form(self, path: str) -> tuple[Any, dict[str, str]]:
        """The page at `path` and the hidden fields of its form (CSRF token, case version, idempotency key)."""
        page = self.client.get(path)
        assert page.status_code == 200, page.text
        hidden = {"csrf_token": _CSRF.search(page.text).group(1)}  # type: ignore[union-attr]
        for name, pattern in (("version", _VERSION), ("idempotency_key", _KEY)):
            found = pattern.search(page.text)
            if found:
                hidden[name] = found.group(1)
        return page, hidden

    def submit(self, path: str, fields: list[tuple[str, str]], *, form_path: str | None = None) -> Any:
        """Loads the form at `form_path` (default `path`) and posts `fields` with its hidden fields."""
        _, hidden = self.form(form_path or path)
        return self.post(path, [*hidden.items(), *fields])

    def post(self, path: str, fields: list[tuple[str, str]], headers: dict[str, str] | None = None) -> Any:
        """Posts fields as a browser does (`application/x-www-form-urlencoded`, names repeated for lists)."""
        return self.client.post(path, content=urlencode(fields), headers={
            "content-type": "application/x-www-form-urlencoded", **(headers or {}),
        })

    def act(self, case_id: str, action: str, **changes: Any) -> Any:
        due = identification(self.api.today())["due_date"]
        from datetime import date

        data = {**action_data(action, self.api.clock.now(), date.fromisoformat(due)), **changes}
        return self.submit(f"/ui/cases/{case_id}/actions/{action}", flatten(data))


class Web:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.app = api.client.app

    def client(self, base_url: str = "http://testserver") -> TestClient:
        return TestClient(self.app, base_url=base_url, follow_redirects=False, raise_server_exceptions=False)

    def sign_in(self, role: str, base_url: str = "http://testserver") -> Browser:
        client = self.client(base_url)
        page = client.get("/ui/sign-in")
        token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        answer = client.post("/ui/sign-in", data={"api_key": self.api.key[role], "csrf_token": token, "next": ""})
        assert answer.status_code == 303, answer.text
        return Browser(client, self.api, role)

    def browser(self, role: str) -> Browser:
        return self.sign_in(role)


@pytest.fixture
def web(api: Api) -> Iterator[Web]:
    yield Web(api)


__all__ = ["ACTION_ROLE", "Browser", "Web", "flatten"]
