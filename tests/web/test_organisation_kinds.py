"""Organisation pickers on the pages offer only organisations of the kinds their field accepts, and a new form
names the person's own organisation where a field takes only its kind."""

from __future__ import annotations

import re

from tests.web.conftest import Web


def picker(page: str, name: str) -> tuple[list[str], list[str]]:
    """The values offered by the `<select>` named `name`, and those selected."""
    found = re.search(rf'<select id="[^"]+" name="{re.escape(name)}"[^>]*>(.*?)</select>', page, re.DOTALL)
    assert found, f"no picker {name}"
    options = re.findall(r'<option value="([^"]*)"( selected)?>', found.group(1))
    return [v for v, _ in options if v], [v for v, chosen in options if chosen]


def test_the_new_case_form_offers_only_cps_offices_and_defaults_to_the_workers_own(web: Web) -> None:
    page = web.sign_in("cps").get("/ui/cases/new")
    assert page.status_code == 200
    assert picker(page.text, "lead_cps_org") == (["county-cps"], ["county-cps"])
    hospitals, chosen = picker(page.text, "delivery_hospital")
    assert hospitals == ["city-hospital", "valley-hospital"] and chosen == []


def test_the_new_case_form_of_a_prenatal_clinic_chooses_nothing_for_it(web: Web) -> None:
    page = web.sign_in("prenatal").get("/ui/cases/new").text
    assert picker(page, "lead_cps_org") == (["county-cps"], [])


def test_the_consent_form_offers_only_organisations_that_take_part_in_cases(web: Web) -> None:
    case = web.api.open_case()
    page = web.sign_in("prenatal").get(f"/ui/cases/{case['id']}/actions/record_consent")
    assert page.status_code == 200
    offered = re.findall(r'name="organisations" value="([^"]+)"', page.text)
    assert sorted(offered) == ["city-hospital", "county-cps", "peer-network", "prenatal-clinic", "recovery-clinic",
                               "valley-hospital"]
