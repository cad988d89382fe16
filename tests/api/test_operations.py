"""What operators and their tools probe: readiness (database and schema) and HEAD on any GET address."""

from __future__ import annotations

from datetime import timedelta

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


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        sample, value = line.rsplit(" ", 1)
        sample_name, _, label_text = sample.partition("{")
        found = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if sample_name == name and found == wanted:
            return float(value)
    return 0.0


def test_metrics_count_requests_by_route_template_and_read_deadlines_from_the_database(api: Api) -> None:
    case = api.open_case()
    assert api.get("/metrics", "cps").status_code == 403  # an administrator's
    before = api.get("/metrics", "admin").text
    for _ in range(3):
        api.get(f"/cases/{case['id']}", "cps")
    api.get("/cases/PC-NOPE-NOPE", "cps")
    answer = api.get("/metrics", "admin")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    route = {"method": "GET", "route": "/cases/{case_id}"}
    served = metric(text, "posc_http_requests_total", status="200", **route) - metric(
        before, "posc_http_requests_total", status="200", **route)
    assert served == 3
    assert metric(text, "posc_http_requests_total", status="404", **route) >= 1
    assert case["id"] not in text and "PC-NOPE" not in text  # routes are templates, never addresses
    assert metric(text, "posc_http_request_duration_seconds_count", **route) >= 4
    assert metric(text, "posc_deadlines_open") == 3  # the opening's three clocks
    assert metric(text, "posc_deadlines_overdue") == 0
    assert "posc_access_log_waiting" in text and metric(text, "posc_access_log_waiting") == 0  # all committed
    api.clock.advance(timedelta(days=30))
    later = api.get("/metrics", "admin").text
    assert metric(later, "posc_deadlines_overdue") >= 2  # due with no write, before any tick
    assert metric(later, "posc_deadline_processing_lag_seconds") > 0
