"""What operators and their tools probe: readiness (database and schema) and HEAD on any GET address."""

from __future__ import annotations

from tests.api.conftest import Api


def test_readiness_says_the_database_answers_with_the_schema_it_needs(api: Api) -> None:
    ready = api.client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["schema"] == api.client.app.state.services.schema_head  # type: ignore[attr-defined]


def test_head_answers_as_get_without_a_body(api: Api) -> None:
    for path in ("/health", "/health/ready", "/openapi.json"):
        got, head = api.client.get(path), api.client.head(path)
        assert head.status_code == got.status_code == 200 and head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
    case = api.open_case()
    head = api.client.head(f"/cases/{case['id']}", headers=api.headers("cps"))
    assert head.status_code == 200 and head.headers["etag"] and head.content == b""
    assert api.client.head(f"/cases/{case['id']}").status_code == 401  # HEAD needs the key GET needs
