"""The pages in a real browser (Chromium through Playwright), against the real server and the demo data: what a
nurse at a delivery, a CPS worker and a treatment provider do, with the keyboard as well as the mouse, at tablet
width. Each test also fails on any script error or failed request the page logs."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import DESKTOP, TABLET
from tests.factories import action_data, born_at

pytestmark = pytest.mark.browser
JURISDICTION = ZoneInfo("America/New_York")
#: What only the treatment tier may see of the demo parent Riley Nguyen (admitted on buprenorphine, in an opioid
#: treatment programme, substances: opioids), as stored and as a page shows it.
TREATMENT_DATA = ("buprenorphine", "opioid_treatment_program", "opioid treatment program", "opioids",
                  "Medication for opioid use disorder: ")
#: The label, contrast and width audit (`audit.js`), run in the page.
ACCESSIBILITY_AUDIT = (Path(__file__).parent / "audit.js").read_text(encoding="utf-8")


def audit(page: Any) -> None:
    # After a form is sent the next page may still be arriving: audit it once it has (no body yet is no page).
    page.wait_for_load_state("load")
    problems = page.evaluate(ACCESSIBILITY_AUDIT)
    assert not problems, problems


def local_input(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(JURISDICTION).strftime("%Y-%m-%dT%H:%M")


def fill(page: Any, data: dict[str, Any], prefix: str = "") -> None:
    """Fills a generated form as a person would: types into inputs, picks options, ticks boxes, and asks for
    another row of a list when the form shows too few."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for index, row in enumerate(value):
                first = f'[name="{name}[{index}].{next(iter(row))}"]'
                while page.locator(first).count() == 0:
                    page.locator(f'button[name="_more_{name}"]').click()
                fill(page, row, f"{name}[{index}].")
        elif isinstance(value, list):
            for item in value:
                page.locator(f'input[name="{name}"][value="{item}"]').check()
        else:
            field = page.locator(f'[name="{name}"]')
            kind = field.first.evaluate("e => e.tagName === 'SELECT' ? 'select' : e.type")
            if kind in ("radio", "checkbox"):
                page.locator(f'input[name="{name}"][value="{value}"]').check()
            elif kind == "select":
                field.select_option(str(value))
            elif kind == "datetime-local":
                field.fill(local_input(str(value)))
            else:
                field.fill(str(value))


def take(page: Any, case_id: str, action: str, data: dict[str, Any], url: str) -> None:
    page.goto(f"{url}/ui/cases/{case_id}")
    page.get_by_role("link", name=re.compile(f"^{re.escape(title_of(action))}$")).click()
    fill(page, data)
    page.locator("form.stacked button.primary[type=submit]").click()
    page.wait_for_url(re.compile(rf"/ui/cases/{case_id}\?done={action}$"))


def title_of(action: str) -> str:
    from engine import load_catalogue

    return load_catalogue().workflow("charm-posc").actions[action].title


def today() -> date:
    return datetime.now(JURISDICTION).date()


# --- the hospital at delivery -------------------------------------------------------------------------------------


def test_a_nurse_looks_up_a_parent_and_sees_the_plan_status_and_whom_to_call(person: Any) -> None:
    nurse = person("hospital")
    page = nurse.page
    assert page.url.endswith("/ui/lookup")
    audit(page)
    nurse.shot("01-lookup")
    page.get_by_label("Parent's last name").fill("Brooks")
    page.get_by_label("Parent's date of birth").fill("1997-12-01")
    page.get_by_role("button", name="Look up").click()
    result = page.get_by_role("status")
    assert "Plan in place" in result.inner_text()
    assert "County Child Protective Services" in result.inner_text()
    assert "CPS intake line 555-0100 (24 hours)" in result.inner_text()
    assert "Brooks" not in page.url and "1997" not in page.url
    audit(page)
    nurse.shot("02-lookup-plan-in-place")
    page.get_by_role("link", name="Hospital summary", exact=True).click()
    assert "Taylor" in page.content() and "Plan of Safe Care" in page.content()
    nurse.shot("03-hospital-summary")

    page.goto(f"{nurse.server.url}/ui/lookup")
    page.get_by_label("Parent's last name").fill("Ellis")
    page.get_by_label("Parent's date of birth").fill("1994-02-17")
    page.get_by_role("button", name="Look up").click()
    assert "No plan in place" in page.get_by_role("status").inner_text()


def test_a_lookup_with_a_missing_field_says_which_and_keeps_what_was_typed(person: Any) -> None:
    page = person("hospital").page
    page.get_by_label("Parent's last name").fill("Brooks")
    page.get_by_role("button", name="Look up").click()
    alert = page.get_by_role("alert")
    assert "date of birth" in alert.inner_text()
    assert page.get_by_label("Parent's date of birth").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Parent's last name").input_value() == "Brooks"


def test_a_nurse_records_the_birth_by_keyboard_alone(person: Any, live_server: Any) -> None:
    """Tab to each field, type, Space on a radio, Enter to submit: no mouse."""
    nurse = person("hospital")
    page = nurse.page
    page.get_by_label("Parent's last name").fill("Brooks")
    page.get_by_label("Parent's date of birth").fill("1997-12-01")
    page.keyboard.press("Enter")
    page.get_by_role("link", name=re.compile("^Open the case")).click()
    page.get_by_role("link", name="Record the birth", exact=True).focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/actions/record_birth$"))
    born = born_at(datetime.now(JURISDICTION))
    typed = {
        "Time of birth": born.strftime("%m%d%Y\t%I%M%p"), "Gestational age at birth (weeks)": "39",
        "Birth weight (grams)": "3200",
    }
    for label, keys in typed.items():
        page.get_by_label(label, exact=True).focus()
        for chunk in keys.split("\t"):
            page.keyboard.type(chunk)
            if chunk != keys.split("\t")[-1]:
                page.keyboard.press("Tab")
    for group, choice in (("Withdrawal signs", "none"), ("Infant toxicology", "not done"),
                          ("Parent toxicology", "not done"), ("Fetal alcohol spectrum disorder concern", "no"),
                          ("Infant substance-affected", "no"), ("Safety concern", "no")):
        page.get_by_role("radiogroup", name=group, exact=True).get_by_label(choice, exact=True).focus()
        page.keyboard.press("Space")
    page.get_by_label("Birth weight (grams)").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"\?done=record_birth$"))
    assert "Recorded: Record the birth." in page.get_by_role("status").inner_text()
    assert "born with plan" in page.locator(".status-panel").inner_text()


def test_a_nurse_opens_a_case_at_delivery_when_the_lookup_finds_no_plan(person: Any, live_server: Any) -> None:
    """Identification at birth: from "No plan on record" to a case in the birth phase, the name carried over."""
    nurse = person("hospital")
    page = nurse.page
    page.get_by_label("Parent's last name").fill("Marchetti")
    page.get_by_label("Parent's date of birth").fill("1995-05-06")
    page.get_by_role("button", name="Look up").click()
    assert "No plan on record" in page.get_by_role("status").inner_text()
    page.get_by_role("button", name="Open a case at delivery").click()
    assert page.get_by_label("Last name", exact=True).input_value() == "Marchetti"
    assert "Marchetti" not in page.url
    audit(page)
    nurse.shot("04-open-at-delivery")
    day = today()
    fill(page, {
        "first_name": "Gina", "identified_on": day.isoformat(), "due_date": (day + timedelta(days=6)).isoformat(),
        "gestational_weeks": "39", "substances": ["opioids"], "on_moud": "unknown", "lead_cps_org": "county-cps",
    })
    birth = action_data("record_birth", datetime.now(JURISDICTION), day)
    fill(page, {**birth, "born_at": born_at(datetime.now(JURISDICTION)).isoformat()}, "birth.")
    page.locator("form.stacked button.primary[type=submit]").click()
    page.wait_for_url(re.compile(r"/ui/cases/[A-Z0-9-]+\?done=open_case$"))
    assert "born without plan" in page.locator(".status-panel").inner_text()
    audit(page)


# --- a CPS worker carries a case from identification to an agreed plan ---------------------------------------------


def test_cps_takes_a_case_from_identification_to_plan_agreed_through_the_forms(person: Any, live_server: Any) -> None:
    cps = person("cps", DESKTOP)
    page = cps.page
    url = live_server.url
    page.get_by_role("link", name="Open a case").first.click()
    audit(page)
    cps.shot("10-open-a-case")
    due = today() + timedelta(days=24)
    page.get_by_label("First name").fill("Jamie")
    page.get_by_label("Last name").fill("Okafor")
    page.get_by_label("Date of birth").fill("1995-08-21")
    page.get_by_label("Identification date").fill(today().isoformat())
    page.get_by_label("Due date").fill(due.isoformat())
    page.get_by_label("Gestational age (weeks)").fill("36")
    page.get_by_label("Identified by").select_option(label="cps")
    page.get_by_role("group", name="Substances").get_by_label("opioids").check()
    page.get_by_role("radiogroup", name="On medication for opioid use disorder").get_by_label("yes").check()
    page.get_by_label("Planned delivery hospital").select_option("city-hospital")
    page.get_by_label("Lead CPS organisation").select_option("county-cps")
    page.get_by_role("button", name="Open a case").last.click()
    page.wait_for_url(re.compile(r"/ui/cases/PC-[A-Z0-9-]+\?done=open_case$"))
    case_id = re.search(r"/ui/cases/(PC-[A-Z0-9-]+)", page.url).group(1)  # type: ignore[union-attr]
    assert "identified" in page.locator(".status-panel").inner_text()

    steps = {
        "record_consent": ("cps", action_data("record_consent", datetime.now(JURISDICTION), due)),
        "admit_to_treatment": ("treatment", action_data("admit_to_treatment", datetime.now(JURISDICTION), due)),
        "schedule_planning_meeting": ("cps", {
            **action_data("schedule_planning_meeting", datetime.now(JURISDICTION), due),
            "meeting_date": today().isoformat(),
        }),
        "record_planning_meeting": ("cps", action_data("record_planning_meeting", datetime.now(JURISDICTION), due)),
    }
    treatment = person("treatment")
    for action, (role, data) in steps.items():
        take(treatment.page if role == "treatment" else page, case_id, action, data, url)
        if action == "record_planning_meeting":
            cps.shot("11-case-plan-agreed")
    page.goto(f"{url}/ui/cases/{case_id}")
    status = page.locator(".status-panel").inner_text()
    assert "plan agreed" in status and "Plan in place" in status
    timeline = page.locator("ol.timeline").inner_text()
    for title in ("Case opened", "Record universal consent", "Schedule the planning meeting",
                  "Record the planning meeting and the agreed plan"):
        assert title in timeline
    # Minimum necessary: the admission is a treatment event; the consent gave CPS the plan tier, not treatment.
    assert "Admit to treatment" not in timeline
    treatment.page.goto(f"{url}/ui/cases/{case_id}")
    assert "Admit to treatment" in treatment.page.locator("ol.timeline").inner_text()
    page.get_by_role("link", name=re.compile(r"Plan of Safe Care, version 1")).click()
    assert "Jamie" in page.content() and "Home with parent" in page.content()


def test_the_case_page_timeline_deadlines_and_diagram(person: Any, live_server: Any) -> None:
    cps = person("cps", DESKTOP)
    page = cps.page
    audit(page)
    cps.shot("20-worklist")
    page.get_by_role("link", name="Cases", exact=True).click()
    page.get_by_label("State").select_option("notified")
    page.get_by_role("button", name="Filter").click()
    audit(page)
    cps.shot("21-cases-filtered")
    rows = page.locator("table.list tbody tr")
    assert rows.count() == 1 and "notified" in rows.first.inner_text()
    rows.first.get_by_role("link").click()
    audit(page)
    cps.shot("22-case")
    deadlines = page.locator("section", has=page.get_by_role("heading", name="Deadlines")).inner_text()
    assert "Met" in deadlines and "CAPTA notification" in deadlines
    page.get_by_role("link", name="Where this case is on the pathway").click()
    page.wait_for_selector("body[data-diagram=drawn]")
    current = page.locator("svg g.current, svg .node.current")
    assert current.count() == 1 and "notified" in (current.first.text_content() or "")
    assert page.locator('li[aria-current="step"]').inner_text().startswith("notified")
    cps.shot("23-case-diagram")
    page.get_by_role("button", name="Show the diagram at full size").click()
    assert page.locator("figure.diagram.full-size").count() == 1


# --- refusals -----------------------------------------------------------------------------------------------------


def test_a_refused_action_shows_the_reason(person: Any, live_server: Any) -> None:
    cps = person("cps")
    page = cps.page
    page.goto(f"{live_server.url}/ui/cases?state=identified")
    page.locator("table.list tbody tr a").first.click()
    # The page lists the CPS worker's own actions; one the rules do not allow yet is disabled and says why.
    assert page.get_by_role("button", name="Record the birth").count() == 0  # a hospital action is not listed
    disabled = page.locator("ul.actions button[disabled][aria-describedby]").first
    assert disabled.is_disabled()
    reason = page.locator(f"#{disabled.get_attribute('aria-describedby')}").inner_text()
    assert reason.startswith("Not available: ") and len(reason) > len("Not available: ")

    page.get_by_role("link", name="Record universal consent").click()
    data = action_data("record_consent", datetime.now(JURISDICTION), today() + timedelta(days=100))
    fill(page, {**data, "expires_on": (today() - timedelta(days=1)).isoformat()})
    page.locator("form.stacked button.primary[type=submit]").click()
    alert = page.get_by_role("alert")
    assert "The pathway's rules refused this" in alert.inner_text()
    assert "Nothing was recorded." in alert.inner_text()
    assert re.search(r"the expiry date \d{4}-\d{2}-\d{2} must be after the signing date", alert.inner_text(), re.I)
    cps.shot("30-refused")

    page.get_by_label("Purpose").fill("")
    page.get_by_label("Expiry date").fill((today() + timedelta(days=365)).isoformat())
    page.locator("form.stacked button.primary[type=submit]").click()
    assert "Purpose: is required" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Purpose").get_attribute("aria-invalid") == "true"
    page.get_by_role("link", name="Purpose: is required").click()
    assert page.evaluate("location.hash") == "#f-purpose"
    cps.shot("31-field-errors")


# --- disclosure ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["hospital", "cps", "prenatal"])
def test_without_the_treatment_tier_no_treatment_data_is_anywhere_on_the_page(
    person: Any, live_server: Any, role: str
) -> None:
    someone = person(role)
    page = someone.page
    # The hospital's list never shows the state after notification (role ceiling): CPS finds the case for it.
    case_id = riley(page if role != "hospital" else person("cps").page, live_server.url)
    for path in (f"/ui/cases/{case_id}", f"/ui/cases/{case_id}/documents/hospital-summary",
                 f"/ui/cases/{case_id}/diagram"):
        page.goto(f"{live_server.url}{path}")
        for summary in page.locator("details summary").all():
            summary.click()  # open every "What was recorded"
        html, text = page.content(), page.locator("body").inner_text()
        for value in TREATMENT_DATA:
            assert value not in html and value not in text, (role, path, value)
    page.goto(f"{live_server.url}/ui/cases/{case_id}")
    assert "Not disclosed to you: Substances, On medication for opioid use disorder." in page.content()
    if role == "hospital":
        someone.shot("40-case-as-hospital")


def test_the_treatment_provider_does_see_treatment_data(person: Any, live_server: Any) -> None:
    """The other side of the test above: the same pages do carry the data for the treatment tier."""
    page = person("treatment").page
    case_id = riley(page, live_server.url)
    page.goto(f"{live_server.url}/ui/cases/{case_id}")
    page.get_by_text("What was recorded").last.click()
    for summary in page.locator("details summary").all():
        summary.click()
    text = page.locator("body").inner_text()
    assert "buprenorphine" in text and "opioids" in text


def riley(page: Any, url: str) -> str:
    """The demo case of Riley Nguyen (plan agreed, born, CPS notified), found in the case list."""
    page.goto(f"{url}/ui/cases?state=notified")
    link = page.locator("table.list tbody tr a").first
    return str(link.inner_text())


# --- every main page at tablet width ------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "path", "name"), [
    ("cps", "/ui/worklist", "50-worklist-tablet"), ("cps", "/ui/cases", "51-cases-tablet"),
    ("analyst", "/ui/reports", "52-figures-tablet"), ("analyst", "/ui/workflows/charm-posc", "53-pathway-tablet"),
    ("analyst", "/ui/features", "54-specifications-tablet"),
])
def test_main_pages_fit_a_tablet_and_pass_the_audit(person: Any, live_server: Any, role: str, path: str,
                                                    name: str) -> None:
    someone = person(role, TABLET)
    someone.go(path)
    audit(someone.page)
    someone.shot(name)


def test_the_skip_link_is_the_first_thing_the_keyboard_reaches(person: Any) -> None:
    page = person("cps").page
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"


def test_the_audit_catches_what_it_is_for(chromium: Any) -> None:
    """The audit above is only worth something if it fails: an unlabelled input, pale text, a page too wide."""
    page = chromium.new_page(viewport=TABLET)
    page.set_content('<p style="color:#aaa">pale</p><input name="nameless"><div style="width:2000px">wide</div>')
    problems = page.evaluate(ACCESSIBILITY_AUDIT)
    page.close()
    assert any(p.startswith("no label: nameless") for p in problems)
    assert any(p.startswith("contrast 2.32: pale") for p in problems)
    assert "the page scrolls sideways" in problems


def test_the_figures_print_without_the_page_furniture_and_keep_every_chart(person: Any, live_server: Any) -> None:
    """An analyst prints the figures for a board: no navigation, form or links to click, each chart whole on the
    page beside its table, nothing wider than the paper."""
    analyst = person("analyst", TABLET)
    analyst.go("/ui/reports")
    page = analyst.page
    charts = page.locator("svg.chart")
    assert charts.count() == 4
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible() and not page.locator("form.filters").is_visible()
    assert all(charts.nth(i).is_visible() for i in range(4))
    assert page.locator("table.chart-table").first.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    analyst.shot("54-figures-print")
