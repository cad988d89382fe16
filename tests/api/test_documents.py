"""Plan documents as users get them: every plan version of the demo cases, at each reader's tiers, as HTML and
as PDF, and the one-page hospital summary for delivery."""

from __future__ import annotations

import io

import pytest
from jinja2 import UndefinedError
from pypdf import PdfReader

from api.demo import load_demo
from engine.documents import environment
from engine.users import authenticate
from tests.api.conftest import Api

WITHHELD = "Some information is withheld"
PART_2 = "42 CFR part 2"


def pdf_text(content: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(content))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture
def demo(api: Api) -> dict[str, str]:
    """The demo cases loaded on the test database; their ids by the parent's last name."""
    services = api.client.app.state.services  # type: ignore[attr-defined]
    load_demo(services.db, services.cases, services.clock)
    listing = api.get("/cases?limit=200", "cps").json()["items"]
    names = {}
    for item in listing:
        view = api.get(f"/cases/{item['id']}", "cps").json()
        if view["data"].get("first_name") in {"Jordan", "Maria", "Casey", "Taylor", "Riley", "Avery", "Quinn"}:
            names[view["data"]["last_name"]] = item["id"]
    assert len(names) == 7
    return names


def test_every_plan_version_of_the_demo_cases_renders_at_each_readers_tiers(api: Api, demo: dict[str, str]) -> None:
    rendered = 0
    for last_name, case_id in demo.items():
        view = api.get(f"/cases/{case_id}", "cps").json()
        for version in range(1, view["plan_version"] + 1):
            path = f"/cases/{case_id}/documents/plan-of-safe-care?version={version}"
            as_lead = api.get(path, "cps")
            assert as_lead.status_code == 200, as_lead.text
            html = as_lead.text
            for section in ("Parent", "Infant", "Planning meeting", "Services for the infant",
                            "Services for the parent or caregiver", "Services for the family",
                            "Safety considerations", "Discharge arrangement", "Contacts", "Signatures"):
                assert f"<h2>{section}</h2>" in html, (last_name, section)
            assert last_name in html and f"version {version} of {view['plan_version']}" in html
            assert "pediatric care" in html and "substance use treatment" in html
            assert PART_2 in html
            # Lead CPS holds status and plan, not treatment: treatment fields are left out, and it says so.
            assert WITHHELD in html and "Substances" not in html and "Treatment provider" not in html
            rendered += 1
    assert rendered >= 3  # Brooks, Nguyen and Patel have plans


def test_the_treating_organisation_sees_the_treatment_parts(api: Api, demo: dict[str, str]) -> None:
    html = api.get(f"/cases/{demo['Patel']}/documents/plan-of-safe-care", "treatment").text
    assert WITHHELD not in html and "Substances" in html and "opioids" in html
    assert "Treatment provider" in html and "Recovery Clinic" in html
    assert "Infant toxicology" in html  # the birth's treatment-tier field


def test_the_hospital_summary_is_one_page_with_the_infant_section(api: Api, demo: dict[str, str]) -> None:
    path = f"/cases/{demo['Nguyen']}/documents/hospital-summary"
    html = api.get(path, "hospital").text
    assert "A Plan of Safe Care is in place" in html
    assert "<h2>Services for the infant</h2>" in html and "pediatric care" in html
    assert "<h2>Discharge arrangement</h2>" in html and WITHHELD in html
    assert "Substances" not in html and "buprenorphine" not in html and "Caregiver" not in html
    pages, text = pdf_text(api.get(f"{path}?format=pdf", "hospital").content)
    assert pages == 1 and "A Plan of Safe Care is in place" in text and demo["Nguyen"] in text


def test_a_hospital_without_the_plan_tier_gets_the_status_and_the_contact_only(api: Api) -> None:
    case = api.drive(api.open_case(), ["record_consent", "admit_to_treatment", "schedule_planning_meeting",
                                       "record_planning_meeting", "revoke_consent"])
    html = api.get(f"/cases/{case['id']}/documents/hospital-summary", "hospital").text
    assert "A Plan of Safe Care is in place" in html
    assert "not disclosed to your organisation" in html and "pediatric care" not in html
    assert "County Child Protective Services" in html
    assert api.get(f"/cases/{case['id']}/documents/plan-of-safe-care", "hospital").status_code == 403


def test_the_plan_as_pdf_has_its_pages_and_text(api: Api, demo: dict[str, str]) -> None:
    path = f"/cases/{demo['Patel']}/documents/plan-of-safe-care"
    first = api.get(path, "cps", params={"format": "pdf"})
    assert first.status_code == 200 and first.headers["content-type"] == "application/pdf"
    negotiated = api.get(path, "cps", headers={"Accept": "application/pdf"})
    assert negotiated.headers["content-type"] == "application/pdf"
    pages, text = pdf_text(first.content)
    assert pdf_text(negotiated.content) == (pages, text)  # the same version renders the same pages and text
    assert pages == 3  # parent, infant and meeting; the three service sections; the rest
    for words in ("Plan of Safe Care", "Services for the infant", "Signatures", "Patel", demo["Patel"], "page 3 of 3"):
        assert words in text, words
    assert "42 CFR" in text
    assert api.get(path, "cps", params={"format": "docx"}).status_code == 422
    html = api.get(path, "cps").text
    assert api.get(path, "cps").text == html  # HTML: the same bytes every time


def test_unknown_documents_and_missing_fields_fail_loudly(api: Api, demo: dict[str, str]) -> None:
    assert api.get(f"/cases/{demo['Ellis']}/documents/letter", "cps").status_code == 404
    with pytest.raises(UndefinedError):
        environment().from_string("{{ plan.missing_field }}").render(plan={})
    services = api.client.app.state.services  # type: ignore[attr-defined]
    assert authenticate(services.db, "posc_x_y") is None
