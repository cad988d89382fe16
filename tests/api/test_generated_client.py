"""The OpenAPI schema is good enough to generate a client from: openapi-python-client builds one, and with it a
program opens a case, takes an action, gets a 409 and reads the problem, all typed, as a partner's developer would."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Api
from tests.factories import action_data, identification

GENERATOR = shutil.which("openapi-python-client") or str(Path(sys.executable).parent / "openapi-python-client")


@pytest.fixture
def generated(api: Api, tmp_path: Path) -> Iterator[ModuleType]:
    """The client package, generated from the running app's schema into a fresh folder and imported."""
    import json

    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(api.client.app.openapi()), encoding="utf-8")  # type: ignore[attr-defined]
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\npackage_name_override: posc_generated_client\n", encoding="utf-8")
    subprocess.run(
        [GENERATOR, "generate", "--path", str(schema), "--config", str(config), "--meta", "none",
         "--output-path", str(tmp_path / "posc_generated_client")],
        check=True, capture_output=True, timeout=120,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("posc_generated_client")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("posc_generated_client")]:
            del sys.modules[name]


def client_for(api: Api, package: ModuleType, role: str) -> Any:
    client = package.Client(base_url="http://testserver")
    app = api.client.app  # type: ignore[attr-defined]
    client.set_httpx_client(TestClient(app, headers={"Authorization": f"Bearer {api.key[role]}"}))
    return client


def test_a_generated_client_opens_a_case_acts_and_reads_a_problem(api: Api, generated: ModuleType) -> None:
    open_case = importlib.import_module("posc_generated_client.api.cases.open_case")
    take_action = importlib.import_module("posc_generated_client.api.cases.take_action")
    models = importlib.import_module("posc_generated_client.models")
    clinic = client_for(api, generated, "prenatal")

    body = models.OpenCase(workflow="charm-posc",
                           data=models.OpenCaseData.from_dict(identification(api.today())))
    opened = open_case.sync_detailed(client=clinic, body=body, idempotency_key="client-test-1")
    assert opened.status_code == 201
    case = opened.parsed
    assert isinstance(case, models.CaseView) and case.state == "identified"
    assert opened.headers["etag"] == f'"v{case.version}"'

    consent = action_data("record_consent", api.clock.now(), api.today())
    acted = take_action.sync_detailed(
        case_id=case.id, action="record_consent", client=clinic,
        body=models.TakeAction(data=models.TakeActionData.from_dict(consent)), if_match=opened.headers["etag"],
    )
    assert acted.status_code == 200
    assert isinstance(acted.parsed, models.CaseView) and acted.parsed.version == case.version + 1

    again = open_case.sync_detailed(client=clinic, body=body)
    assert again.status_code == 409
    problem = again.parsed
    assert isinstance(problem, models.Problem)
    assert problem.type_ == "/problems/already-open" and problem.existing_case == case.id

    stale = take_action.sync_detailed(
        case_id=case.id, action="record_consent", client=clinic,
        body=models.TakeAction(data=models.TakeActionData.from_dict(consent)), if_match=opened.headers["etag"],
    )
    assert stale.status_code == 412 and stale.parsed.type_ == "/problems/precondition-failed"


def test_every_problem_type_is_described(api: Api) -> None:
    from api.problems import PROBLEM_TYPES

    for title, (kind, _) in PROBLEM_TYPES.items():
        answer = api.client.get(f"/problems/{kind}")
        assert answer.status_code == 200 and answer.json()["title"] == title
    assert api.client.get("/problems/no-such-kind").status_code == 404


def test_problems_are_documented_as_problem_json_and_operation_ids_read_well(api: Api) -> None:
    schema = api.client.app.openapi()  # type: ignore[attr-defined]
    ids = [op["operationId"] for path in schema["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids)) and {"open_case", "take_action", "get_case", "lookup"} <= set(ids)
    for path in schema["paths"].values():
        for operation in path.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert set(response["content"]) == {"application/problem+json"}, (operation["operationId"], status)


def test_the_api_docs_load_without_the_internet(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    assert "cdn.jsdelivr.net" not in page.text and "/docs-assets/swagger-ui-bundle.js" in page.text
    assert api.client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert api.client.get("/docs-assets/swagger-ui.css").status_code == 200
