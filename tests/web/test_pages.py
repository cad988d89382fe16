"""The web pages through HTTP, as a browser uses them (cookies, forms, redirects), on SQLite and PostgreSQL:
signing in and out, CSRF, the lookup, the case page, every action's form, field errors and refusals, disclosure."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy

from tests.api.conftest import Api
from tests.api.test_disclosure_matrix import MATRIX, PLAN_VALUES, SITUATIONS, TREATMENT_VALUES, Story
from tests.factories import ACTION_ROLE, action_data, identification
from tests.pathway import ROUTES
from tests.web.conftest import Browser, Web, flatten

HOMES = {
    "hospital": "/ui/lookup", "cps": "/ui/worklist", "treatment": "/ui/worklist", "peer": "/ui/worklist",
    "prenatal": "/ui/worklist", "analyst": "/ui/reports", "admin": "/ui/workflows",
}


def events_of(api: Api, case_id: str) -> list[dict[str, Any]]:
    """What was recorded, whoever may see it (minimum necessary hides some events even from the lead)."""
    cases = api.client.app.state.services.cases  # type: ignore[attr-defined]
    return [{"action": e.action, "seq": e.seq, "data": dict(e.data)} for e in cases.history(case_id)]


def state_of(api: Api, case_id: str) -> str:
    return str(api.client.app.state.services.cases.get(case_id).state)  # type: ignore[attr-defined]


def referral(api: Api) -> list[tuple[str, str]]:
    """A valid treatment referral form, as a browser posts it."""
    return flatten(action_data("refer_to_treatment", api.clock.now(), api.today()))


def field_block(html: str, dom_id: str) -> str:
    """The HTML of one field: from its wrapper to the next field's (for "the error is next to the field")."""
    start = html.index(f'id="{dom_id}"')
    wrapper = html.rindex('<div class="field', 0, start)
    fieldset = html.rfind('<fieldset class="field', 0, start)
    begin = max(wrapper, fieldset)
    end = html.find('class="field', start)
    return html[begin:end if end > 0 else len(html)]


# --- signing in and out -------------------------------------------------------------------------------------------


def test_pages_need_a_signed_in_person_and_come_back_after_sign_in(web: Web) -> None:
    client = web.client()
    answer = client.get("/ui/cases?state=identified")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/sign-in?next=/ui/cases%3Fstate%3Didentified"
    page = client.get(answer.headers["location"])
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert 'name="next" value="/ui/cases?state=identified"' in page.text
    signed = client.post("/ui/sign-in", data={
        "api_key": web.api.key["cps"], "csrf_token": token, "next": "/ui/cases?state=identified",
    })
    assert signed.headers["location"] == "/ui/cases?state=identified"


@pytest.mark.parametrize("role", sorted(HOMES))
def test_each_role_starts_on_its_own_page(web: Web, role: str) -> None:
    browser = web.sign_in(role)
    home = browser.get("/ui/")
    assert home.headers["location"] == HOMES[role]
    assert browser.client.get(HOMES[role], follow_redirects=True).status_code == 200


@pytest.mark.parametrize(("base", "secure"), [("http://testserver", False), ("https://testserver", True)])
def test_the_session_cookie_is_http_only_same_site_and_secure_over_https(web: Web, base: str, secure: bool) -> None:
    client = web.client(base)
    page = client.get("/ui/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = client.post("/ui/sign-in", data={"api_key": web.api.key["cps"], "csrf_token": token})
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("posc_session="))
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "path"} <= attributes
    assert "max-age" not in attributes and "expires" not in attributes  # it ends with the browser
    assert "samesite=lax" in cookie.lower() and "path=/ui" in cookie.lower()
    assert ("secure" in attributes) is secure
    assert web.api.key["cps"] not in cookie  # the cookie is a session token, never the API key


def test_a_wrong_key_is_refused_with_a_message_and_no_session(web: Web) -> None:
    client = web.client()
    page = client.get("/ui/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = client.post("/ui/sign-in", data={"api_key": "posc_nope_nope", "csrf_token": token})
    assert answer.status_code == 401
    assert "That API key is unknown or has been revoked." in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert not any(c.startswith("posc_session=") for c in answer.headers.get_list("set-cookie"))


def test_sign_in_without_the_forms_token_is_refused(web: Web) -> None:
    client = web.client()
    answer = client.post("/ui/sign-in", data={"api_key": web.api.key["cps"], "csrf_token": "forged"})
    assert answer.status_code == 403
    assert "sign-in form has expired" in answer.text
    assert not any(c.startswith("posc_session=") for c in answer.headers.get_list("set-cookie"))


def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(web: Web) -> None:
    browser = web.sign_in("cps")
    stolen = web.client()
    stolen.cookies.set("posc_session", browser.client.cookies["posc_session"], path="/ui")
    assert stolen.get("/ui/worklist").status_code == 200
    _, hidden = browser.form("/ui/worklist")
    out = browser.post("/ui/sign-out", [("csrf_token", hidden["csrf_token"])])
    assert out.status_code == 303 and out.headers["location"] == "/ui/sign-in?signed_out=1"
    assert "You have signed out." in browser.get(out.headers["location"]).text
    assert stolen.get("/ui/worklist").status_code == 303


def test_revoking_the_key_ends_the_session(web: Web) -> None:
    from engine.users import list_users, revoke_key

    browser = web.sign_in("peer")
    services = web.app.state.services
    peer = next(u for u in list_users(services.db) if u.role == "peer")
    revoke_key(services.db, services.clock, peer.id)
    assert browser.get("/ui/worklist").status_code == 303


def test_a_session_ends_after_thirty_idle_minutes_but_not_while_in_use(web: Web, api: Api) -> None:
    browser = web.sign_in("cps")
    for _ in range(4):  # used every 20 minutes for 80 minutes: still signed in
        api.clock.advance(timedelta(minutes=20))
        assert browser.get("/ui/worklist").status_code == 200
    api.clock.advance(timedelta(minutes=31))
    assert browser.get("/ui/worklist").headers["location"].startswith("/ui/sign-in")


@pytest.mark.parametrize("target", ["https://evil.example/ui/", "//evil.example/ui/", "/docs", "/ui\\@evil"])
def test_after_sign_in_only_our_own_pages_are_a_destination(web: Web, target: str) -> None:
    client = web.client()
    page = client.get("/ui/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = client.post("/ui/sign-in", data={"api_key": web.api.key["cps"], "csrf_token": token, "next": target})
    assert answer.headers["location"] == "/ui/worklist"


def test_pages_are_never_cached_framed_or_given_foreign_scripts(web: Web) -> None:
    page = web.sign_in("cps").get("/ui/worklist")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"


# --- CSRF: a post without the session's token, or from another site, changes nothing ------------------------------


@pytest.mark.parametrize("forgery", ["no token", "wrong token", "other origin"])
def test_a_forged_post_changes_nothing(web: Web, api: Api, forgery: str) -> None:
    case = api.open_case()
    browser = web.sign_in("prenatal")
    _, hidden = browser.form(f"/ui/cases/{case['id']}/actions/refer_to_treatment")
    fields = dict(hidden)
    headers = {}
    if forgery == "no token":
        fields.pop("csrf_token")
    elif forgery == "wrong token":
        fields["csrf_token"] = "x" * 43
    else:
        headers["origin"] = "https://evil.example"
    data = [*fields.items(), *referral(api)]
    answer = browser.post(f"/ui/cases/{case['id']}/actions/refer_to_treatment", data, headers)
    assert answer.status_code == 403
    assert len(events_of(api, case["id"])) == 1


# --- hospital lookup ----------------------------------------------------------------------------------------------


def test_the_hospital_looks_a_parent_up_and_sees_plan_status_and_the_lead_contact(web: Web, api: Api) -> None:
    planned = api.drive(api.open_case(last_name="Brooks"), ROUTES["plan_agreed"])
    api.open_case(last_name="Ellis")
    nurse = web.sign_in("hospital")
    found = nurse.submit("/ui/lookup", [("last_name", " brooks "), ("date_of_birth", "1996-04-12")])
    assert found.status_code == 200
    assert "Plan in place" in found.text and planned["id"] in found.text
    assert "County Child Protective Services" in found.text and "CPS intake line 555-0100" in found.text
    assert f"/ui/cases/{planned['id']}/documents/hospital-summary" in found.text
    assert "Brooks" not in str(found.url) and "1996" not in str(found.url)  # never in the address
    nothing = nurse.submit("/ui/lookup", [("last_name", "Nobody"), ("date_of_birth", "1996-04-12")])
    assert "No plan on record" in nothing.text
    without = nurse.submit("/ui/lookup", [("last_name", "Ellis"), ("date_of_birth", "1996-04-12")])
    assert "No plan in place" in without.text
    looked = [d for d in api.get(f"/cases/{planned['id']}/disclosures", "cps").json() if d["what"] == "lookup"]
    assert [d["actor_role"] for d in looked] == ["hospital"]


def test_a_lookup_names_the_field_that_is_missing_and_looks_nothing_up(web: Web, api: Api) -> None:
    case = api.open_case()
    nurse = web.sign_in("hospital")
    answer = nurse.submit("/ui/lookup", [("last_name", ""), ("date_of_birth", "12/04/1996")])
    assert answer.status_code == 422
    assert "Enter the parent&#39;s last name." in field_block(answer.text, "last_name")
    assert "as a date (YYYY-MM-DD)" in field_block(answer.text, "date_of_birth")
    assert not [d for d in api.get(f"/cases/{case['id']}/disclosures", "cps").json() if d["what"] == "lookup"]


def test_roles_that_may_not_look_up_are_told_so(web: Web) -> None:
    answer = web.sign_in("treatment").get("/ui/lookup")
    assert answer.status_code == 403
    assert "the treatment role may not look parents up" in answer.text
    assert "<h1>" in answer.text  # a page, not a JSON problem


# --- the case page ------------------------------------------------------------------------------------------------


def test_the_case_page_shows_status_deadlines_timeline_and_actions_and_is_recorded(web: Web, api: Api) -> None:
    months_away = (api.clock.now().date() + timedelta(days=120)).isoformat()
    case = api.drive(api.open_case(due_date=months_away), ROUTES["in_treatment"])
    page = web.sign_in("cps").get(f"/ui/cases/{case['id']}")
    assert page.status_code == 200
    html = page.text
    # The lead holds status and plan: "in treatment" is a treatment-tier state, so it sees the phase only.
    assert "Not shown to your organisation" in html and "in treatment" not in html
    assert "Admission to treatment" in html and "Met" in html  # a deadline met (the lead sees every deadline)
    assert "Planning meeting held" in html and "Opens" in html  # a deadline not open yet
    for title in ("Case opened", "Record universal consent"):
        assert title in html
    assert "Admit to treatment" not in html  # a treatment event
    assert f'href="/ui/cases/{case["id"]}/actions/schedule_planning_meeting"' in html
    assert "Record the birth" not in html  # another role's action is not offered
    treating = web.sign_in("treatment").get(f"/ui/cases/{case['id']}").text
    assert "in treatment" in treating and "admitted to treatment" in treating  # the state and its description
    assert "Admit to treatment" in treating
    reads = [d for d in api.get(f"/cases/{case['id']}/disclosures", "cps").json() if d["what"] == "page"]
    assert [(d["actor_role"], d["tiers"]) for d in reads] == [
        ("cps", ["status", "plan"]), ("treatment", ["status", "plan", "treatment"]),
    ]


def test_missed_deadlines_show_in_red_on_the_worklist_and_the_case_page(web: Web, api: Api) -> None:
    from engine.ticker import tick

    case = api.open_case()
    api.clock.advance(timedelta(days=8))
    services = web.app.state.services
    tick(services.db, services.catalogue, api.clock.now())
    cps = web.sign_in("cps")
    worklist = cps.get("/ui/worklist").text
    rows = re.findall(r'<tr class="is-overdue">(?:(?!</tr>).)*</tr>', worklist, re.DOTALL)
    assert any(case["id"] in r and "Overdue" in r and "Escalation: Admission to treatment" in r for r in rows)
    page = cps.get(f"/ui/cases/{case['id']}").text
    assert re.search(r'<tr class="is-overdue">\s*<td>Admission to treatment</td>(?:(?!</tr>).)*Missed', page,
                     re.DOTALL)
    assert "Deadline missed: Admission to treatment" in page


@pytest.mark.parametrize("situation", sorted(SITUATIONS))
@pytest.mark.parametrize("role", ["cps", "treatment", "peer", "prenatal", "hospital", "analyst"])
def test_pages_show_exactly_what_the_api_discloses(web: Web, api: Api, situation: str, role: str) -> None:
    story = Story.open(api)
    story.do("record_consent", "prenatal")
    story.do("admit_to_treatment", "treatment")
    story.do("record_disengagement", "treatment", reason="SENTINEL-T-disengagement-reason")
    # Back on track, then the situation's own steps (consent is already recorded above for every situation
    # but "fresh", whose expectations therefore do not apply here; its treatment party is now known too).
    cell = MATRIX["planned" if situation == "fresh" else situation][role]
    story.do("admit_to_treatment", "treatment")
    if situation in ("planned", "revoked"):
        story.do("schedule_planning_meeting", "cps", location="SENTINEL-P-meeting-location")
        story.do("record_planning_meeting", "cps", safety_considerations="SENTINEL-P-safety-considerations")
    if situation == "revoked":
        story.do("revoke_consent", "cps")
    browser = web.sign_in(role)
    pages = [f"/ui/cases/{story.id}", f"/ui/cases/{story.id}/diagram",
             f"/ui/cases/{story.id}/actions/record_consent" if situation != "revoked" or role == "cps" else None]
    for path in [p for p in pages if p]:
        answer = browser.get(path)
        if cell.tiers is None:
            assert answer.status_code == 404, path
            continue
        assert answer.status_code == 200, (path, answer.text[:300])
        text = answer.text
        if "treatment" not in cell.tiers:
            for value in TREATMENT_VALUES:
                assert value not in text and value.replace("_", " ") not in text, (path, value)
        if "plan" not in cell.tiers:
            for value in PLAN_VALUES:
                assert value not in text, (path, value)
    if cell.tiers is not None and "treatment" in cell.tiers:
        assert "SENTINEL-T-disengagement-reason" in browser.get(f"/ui/cases/{story.id}").text


def test_a_case_the_person_may_not_know_looks_exactly_like_a_missing_one(web: Web, api: Api) -> None:
    case = api.open_case()
    peer = web.sign_in("peer")
    hidden = peer.get(f"/ui/cases/{case['id']}")
    missing = peer.get("/ui/cases/PC-0000-0000")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text.replace(case["id"], "PC-0000-0000") == missing.text


# --- acting through the forms -------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["closed", "investigation", "cps_assessment", "disengaged", "declined"])
def test_every_action_of_a_route_can_be_taken_through_its_form(web: Web, api: Api, target: str) -> None:
    case = api.open_case()
    for action in ROUTES[target]:
        api.clock.advance(timedelta(hours=1))
        browser = web.sign_in(ACTION_ROLE[action])  # (a session left idle for 30 minutes has ended)
        answer = browser.act(case["id"], action)
        assert answer.status_code == 303, f"{action}: {answer.text[:2000]}"
        assert answer.headers["location"] == f"/ui/cases/{case['id']}?done={action}"
    assert state_of(api, case["id"]) == target
    assert [e["action"] for e in events_of(api, case["id"])][1:] == ROUTES[target]


def test_a_case_is_opened_through_the_identification_form(web: Web, api: Api) -> None:
    cps = web.sign_in("cps")
    data = identification(api.today(), last_name="Okafor")
    answer = cps.submit("/ui/cases/new", flatten(data))
    assert answer.status_code == 303
    case_id = answer.headers["location"].split("/")[-1].split("?")[0]
    view = api.get(f"/cases/{case_id}", "cps").json()
    assert view["state"] == "identified" and view["data"]["last_name"] == "Okafor"
    assert "Recorded: Case opened." in cps.get(answer.headers["location"]).text


def test_a_second_case_for_the_same_parent_leads_to_the_open_one_unless_it_is_a_new_pregnancy(
    web: Web, api: Api
) -> None:
    cps = web.sign_in("cps")
    data = flatten(identification(api.today(), last_name="Okafor"))
    first = cps.submit("/ui/cases/new", data)
    case_id = first.headers["location"].split("/")[-1].split("?")[0]
    again = cps.submit("/ui/cases/new", data)
    assert again.status_code == 409
    assert "a case is already open for this parent" in again.text and f"/ui/cases/{case_id}" in again.text
    assert 'name="new_pregnancy"' in again.text and "Okafor" in again.text  # the form comes back filled in
    assert len(api.get("/cases", "cps").json()["items"]) == 1  # nothing recorded
    new = cps.submit("/ui/cases/new", [*data, ("new_pregnancy", "yes")])
    assert new.status_code == 303 and case_id not in new.headers["location"]


def test_a_birth_time_typed_on_a_page_is_the_jurisdictions_local_time(web: Web, api: Api) -> None:
    case = api.drive(api.open_case(), ROUTES["plan_agreed"])
    nurse = web.sign_in("hospital")
    local = (api.clock.now() - timedelta(hours=2)).astimezone(ZoneInfo("America/New_York"))
    answer = nurse.act(case["id"], "record_birth", born_at=local.strftime("%Y-%m-%dT%H:%M"))
    assert answer.status_code == 303, answer.text[:2000]
    born = next(e for e in events_of(api, case["id"]) if e["action"] == "record_birth")["data"]["born_at"]
    assert born == local.replace(second=0, microsecond=0).isoformat()


def test_invalid_fields_are_named_next_to_the_fields_and_nothing_is_recorded(web: Web, api: Api) -> None:
    case = api.drive(api.open_case(), ROUTES["meeting_scheduled"])
    cps = web.sign_in("cps")
    path = f"/ui/cases/{case['id']}/actions/record_planning_meeting"
    answer = cps.submit(path, [
        ("participants[0].name", "Alex Rivera"), ("participants[0].role", "nobody"),
        ("parent_participated", "yes"), ("discharge_arrangement", "   "),
    ])
    assert answer.status_code == 422
    html = answer.text
    assert "is required" in field_block(html, "f-meeting_date")
    assert 'aria-invalid="true"' in field_block(html, "f-meeting_date")
    assert "must be one of" in field_block(html, "f-participants-0--role")
    assert "is required" in field_block(html, "f-discharge_arrangement")
    assert 'value="Alex Rivera"' in html  # what was typed is kept
    assert re.search(r'<a href="#f-meeting_date">Meeting date: is required</a>', html)  # the summary links to it
    assert "Nothing was recorded." in html
    assert len(events_of(api, case["id"])) == 1 + len(ROUTES["meeting_scheduled"])


def test_a_refusal_by_the_pathways_rules_shows_the_reason_and_records_nothing(web: Web, api: Api) -> None:
    case = api.drive(api.open_case(), ["record_consent"])  # the consent lets the treatment provider see the case
    treatment = web.sign_in("treatment")
    too_early = (api.today() - timedelta(days=3)).isoformat()
    answer = treatment.act(case["id"], "admit_to_treatment", admitted_on=too_early)
    assert answer.status_code == 409
    assert "The pathway's rules refused this" in answer.text
    assert f"the admission date {too_early} is before the identification date" in answer.text
    assert len(events_of(api, case["id"])) == 2


def test_a_refused_form_is_drawn_from_the_refused_attempts_own_transaction(web: Web, api: Api) -> None:
    """The page that shows a refusal is the one the engine read while refusing, in the same transaction, and is
    recorded as one disclosure of the page: a refused form costs no more transactions than an accepted one (not the
    attempt, then the whole case read again)."""
    refused_case, accepted_case = (api.drive(api.open_case(last_name=n), ["record_consent"]) for n in ("Ash", "Birch"))
    treatment = web.sign_in("treatment")
    engine = web.app.state.services.db.engine  # type: ignore[attr-defined]
    begun: list[object] = []

    def post(case: dict[str, Any], **changes: str) -> Any:
        path = f"/ui/cases/{case['id']}/actions/admit_to_treatment"
        _, hidden = treatment.form(path)
        data = {**action_data("admit_to_treatment", api.clock.now(), api.today()), **changes}
        begun.clear()
        return treatment.post(path, [*hidden.items(), *flatten(data)])

    def count(connection: object) -> None:
        begun.append(connection)

    before = len(api.get(f"/cases/{refused_case['id']}/disclosures", "cps").json())
    sqlalchemy.event.listen(engine, "begin", count)
    try:
        assert post(accepted_case).status_code == 303
        accepting = len(begun)
        answer = post(refused_case, admitted_on=(api.today() - timedelta(days=3)).isoformat())
        refusing = len(begun)
    finally:
        sqlalchemy.event.remove(engine, "begin", count)
    assert answer.status_code == 409 and "before the identification date" in answer.text
    assert refusing == accepting + 1  # the one more: the organisations the form offers, to draw it
    recorded = api.get(f"/cases/{refused_case['id']}/disclosures", "cps").json()[before:]
    assert [(d["what"], d["actor_role"]) for d in recorded] == [
        ("page", "treatment"), ("page", "treatment"), ("disclosures", "cps"),  # the form, the refusal, this listing
    ]


def test_an_action_the_role_may_not_take_shows_why_instead_of_a_form(web: Web, api: Api) -> None:
    case = api.open_case()
    answer = web.sign_in("cps").get(f"/ui/cases/{case['id']}/actions/record_birth")
    assert answer.status_code == 200
    assert "You cannot take this action now" in answer.text
    assert "the cps role may not record the birth" in answer.text
    assert "<form method=\"post\" novalidate" not in answer.text


def test_a_form_submitted_after_someone_else_changed_the_case_is_refused(web: Web, api: Api) -> None:
    case = api.open_case()
    prenatal = web.sign_in("prenatal")
    path = f"/ui/cases/{case['id']}/actions/refer_to_treatment"
    _, hidden = prenatal.form(path)
    api.act(case, "record_consent")  # someone else, meanwhile
    fields = referral(api)
    answer = prenatal.post(path, [*hidden.items(), *fields])
    assert answer.status_code == 409
    assert "Someone else updated this case" in answer.text
    assert [e["action"] for e in events_of(api, case["id"])] == ["open_case", "record_consent"]


def test_a_form_submitted_twice_is_recorded_once(web: Web, api: Api) -> None:
    case = api.open_case()
    prenatal = web.sign_in("prenatal")
    path = f"/ui/cases/{case['id']}/actions/refer_to_treatment"
    _, hidden = prenatal.form(path)
    fields = [*hidden.items(), *referral(api)]
    first = prenatal.post(path, fields)
    second = prenatal.post(path, fields)  # a double click
    assert first.status_code == second.status_code == 303
    assert [e["action"] for e in events_of(api, case["id"])] == ["open_case", "refer_to_treatment"]


@pytest.mark.parametrize("typed", ["Alex Rivera", ""])
def test_more_rows_for_a_list_keep_what_was_typed_and_record_nothing(web: Web, api: Api, typed: str) -> None:
    case = api.drive(api.open_case(), ROUTES["meeting_scheduled"])
    cps = web.sign_in("cps")
    path = f"/ui/cases/{case['id']}/actions/record_planning_meeting"
    before = cps.get(path).text
    shown = before.count("Participants, row")
    # As a browser posts it: every input of every row shown, typed in or not.
    rows = [(f"participants[{i}].{sub}", typed if (i, sub) == (0, "name") else "")
            for i in range(shown) for sub in ("name", "role", "organisation")]
    answer = cps.submit(path, [*rows, ("_more_participants", "1")])
    assert answer.status_code == 200
    assert answer.text.count("Participants, row") == shown + 1
    if typed:
        assert f'value="{typed}"' in answer.text
    assert len(events_of(api, case["id"])) == 1 + len(ROUTES["meeting_scheduled"])


# --- documents, diagrams, figures ---------------------------------------------------------------------------------


def test_plan_documents_and_their_versions_are_reached_from_the_case_page(web: Web, api: Api) -> None:
    case = api.drive(api.open_case(), ROUTES["plan_agreed"])
    api.act(case, "update_plan", discharge_arrangement="Home with grandparent")
    cps = web.sign_in("cps")
    page = cps.get(f"/ui/cases/{case['id']}").text
    assert "Plan of Safe Care, version 2 (current)" in page and "?version=1" in page
    first = cps.get(f"/ui/cases/{case['id']}/documents/plan-of-safe-care?version=1")
    assert first.status_code == 200 and "Home with parent" in first.text
    pdf = cps.get(f"/ui/cases/{case['id']}/documents/plan-of-safe-care?format=pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    covered = web.sign_in("hospital").get(f"/ui/cases/{case['id']}/documents/plan-of-safe-care")
    assert covered.status_code == 200  # the consent names the hospital and the plan category
    api.act(case, "revoke_consent")
    refused = web.sign_in("hospital").get(f"/ui/cases/{case['id']}/documents/plan-of-safe-care")
    assert refused.status_code == 403 and "not disclosed to your organisation" in refused.text
    reads = [d["what"] for d in api.get(f"/cases/{case['id']}/disclosures", "cps").json()]
    assert reads.count("document") >= 2


def test_a_case_diagram_highlights_its_current_state(web: Web, api: Api) -> None:
    case = api.drive(api.open_case(), ROUTES["plan_agreed"])
    page = web.sign_in("cps").get(f"/ui/cases/{case['id']}/diagram").text
    assert "class prenatal__plan_agreed current" in page
    assert re.search(r'<li class="current" aria-current="step"><strong>plan agreed</strong>', page)
    assert "/ui/static/vendor/mermaid/mermaid.min.js" in page
    whole = web.sign_in("analyst").get("/ui/workflows/charm-posc").text
    assert "class prenatal__" not in whole and "stateDiagram-v2" in whole


def test_the_vendored_diagram_script_is_served_from_our_own_origin(web: Web) -> None:
    script = web.client().get("/ui/static/vendor/mermaid/mermaid.min.js")
    assert script.status_code == 200 and len(script.content) > 1_000_000


def test_figures_for_analysts_and_a_clear_refusal_for_others(web: Web, api: Api) -> None:
    api.drive(api.open_case(), ROUTES["born_with_plan"])
    analyst = web.sign_in("analyst")
    today = api.today()
    first = today.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    page = analyst.get(f"/ui/reports?from={first}&to={last}")
    assert page.status_code == 200 and "Births" in page.text and "&lt;5" in page.text
    # Charts drawn on the server, each an image with a title and a description, beside a table of its numbers.
    assert page.text.count('<svg class="chart"') == 4 and page.text.count('role="img"') == 4
    assert 'Days from identification to treatment admission, as a table' in page.text
    assert "Every birth recorded for the period." in page.text  # each figure's definition beside it
    assert "<script" not in page.text.split("<main", 1)[1]  # no script draws anything
    download = analyst.get(f"/ui/reports?from={first}&to={last}&format=csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert download.text.startswith("section,figure,label,breakdown,key,value,share,unit,definition\r\n")
    assert "births,births,Births,period,,<5" in download.text
    this_year = analyst.get("/ui/reports")  # no period asked: this calendar year
    assert this_year.status_code == 200 and f"{today.year}-01-01" in this_year.text
    bad = analyst.get("/ui/reports?from=2026-13-01")
    assert bad.status_code == 422 and "Enter a date" in bad.text
    assert web.sign_in("hospital").get("/ui/reports").status_code == 403
    assert web.sign_in("hospital").get(f"/ui/reports?from={first}&to={last}&format=csv").status_code == 403


# --- second thoughts: double clicks, changes meanwhile, sessions that end mid-form ---------------------------------


def test_opening_a_case_twice_by_double_click_opens_one(web: Web, api: Api) -> None:
    cps = web.sign_in("cps")
    _, hidden = cps.form("/ui/cases/new")
    fields = [*hidden.items(), *flatten(identification(api.today(), last_name="Twice"))]
    first, second = cps.post("/ui/cases/new", fields), cps.post("/ui/cases/new", fields)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    nurse = web.sign_in("hospital")
    found = nurse.submit("/ui/lookup", [("last_name", "Twice"), ("date_of_birth", "1996-04-12")])
    assert found.text.count("Case reference") == 1


def test_a_form_for_an_action_the_case_has_moved_past_says_so_and_leads_back(web: Web, api: Api) -> None:
    case = api.drive(api.open_case(), ROUTES["in_treatment"])
    cps = web.sign_in("cps")
    path = f"/ui/cases/{case['id']}/actions/schedule_planning_meeting"
    _, hidden = cps.form(path)
    api.act(case, "schedule_planning_meeting")  # a colleague scheduled it meanwhile
    due = identification(api.today())["due_date"]
    answer = cps.post(path, [*hidden.items(), ("meeting_date", due), ("location", "Clinic"),
                             ("invitees[0].role", "parent")])
    assert answer.status_code == 409
    assert "The case changed" in answer.text and "moved to meeting scheduled" in answer.text
    assert f'href="/ui/cases/{case["id"]}"' in answer.text
    assert [e["action"] for e in events_of(api, case["id"])].count("schedule_planning_meeting") == 1


def test_a_form_posted_after_the_session_ended_is_kept_through_a_new_sign_in(web: Web, api: Api) -> None:
    case = api.open_case()
    prenatal = web.sign_in("prenatal")
    path = f"/ui/cases/{case['id']}/actions/refer_to_treatment"
    page, hidden = prenatal.form(path)
    proof = re.search(r'name="form_proof" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    api.clock.advance(timedelta(minutes=45))  # the form took a while
    typed = referral(api)
    ended = prenatal.post(path, [*hidden.items(), ("form_proof", proof), *typed])
    assert ended.status_code == 401
    assert "Your session ended while you were filling in this form" in ended.text
    assert 'name="carried:level_of_care" value="outpatient"' in ended.text
    assert len(events_of(api, case["id"])) == 1
    carried = re.findall(r'name="(carried:[^"]+)" value="([^"]*)"', ended.text)
    token = re.search(r'name="csrf_token" value="([^"]+)"', ended.text).group(1)  # type: ignore[union-attr]
    back = prenatal.post("/ui/sign-in", [("api_key", api.key["prenatal"]), ("csrf_token", token), ("next", path),
                                         *carried])
    assert back.status_code == 200 and "You are signed in again" in back.text
    assert "<th scope=\"row\">Level of care</th><td>outpatient</td>" in back.text  # shown before it is recorded
    _, again = re.findall(r'name="csrf_token" value="([^"]+)"', back.text)  # sign-out's, then the form's
    resubmitted = re.findall(r'<input type="hidden" name="((?!csrf_token)[^"]+)" value="([^"]*)"', back.text)
    done = prenatal.post(path, [("csrf_token", again), *resubmitted])
    assert done.status_code == 303
    assert [e["action"] for e in events_of(api, case["id"])] == ["open_case", "refer_to_treatment"]


def test_numbers_are_read_as_people_type_them_and_absurd_ones_are_refused_cleanly(web: Web, api: Api) -> None:
    case = api.drive(api.open_case(), ROUTES["plan_agreed"])
    nurse = web.sign_in("hospital")
    huge = nurse.act(case["id"], "record_birth", birth_weight_grams="9" * 5000)
    assert huge.status_code == 422 and "must be a whole number" in field_block(huge.text, "f-birth_weight_grams")
    grouped = nurse.act(case["id"], "record_birth", birth_weight_grams="3,200")
    assert grouped.status_code == 303, grouped.text[:1500]
    birth = next(e for e in events_of(api, case["id"]) if e["action"] == "record_birth")
    assert birth["data"]["birth_weight_grams"] == 3200


def test_a_confirmation_is_shown_only_for_what_was_really_recorded(web: Web, api: Api) -> None:
    case = api.drive(api.open_case(), ROUTES["referred"])
    treatment = web.sign_in("treatment")  # the program referred to sees the (treatment-tier) referral
    assert "Recorded: Refer to treatment." in treatment.get(f"/ui/cases/{case['id']}?done=refer_to_treatment").text
    assert "Recorded:" not in treatment.get(f"/ui/cases/{case['id']}?done=close_case").text
    cps = web.sign_in("cps")  # the lead may not see the referral: no confirmation of it either
    assert "Recorded:" not in cps.get(f"/ui/cases/{case['id']}?done=refer_to_treatment").text


def test_an_oversized_post_to_a_page_is_refused_with_the_pages_headers(web: Web) -> None:
    cps = web.sign_in("cps")
    answer = cps.post("/ui/lookup", [("last_name", "x" * 300_000)])
    assert answer.status_code == 413
    assert answer.headers["cache-control"] == "no-store" and answer.headers["x-frame-options"] == "DENY"


def test_cookies_can_be_marked_secure_behind_a_tls_proxy(web: Web) -> None:
    web.app.state.services.settings.secure_cookies = True
    client = web.client("http://testserver")
    page = client.get("/ui/sign-in")
    assert all("secure" in c.lower() for c in page.headers.get_list("set-cookie"))


def test_a_double_click_racing_itself_records_once_and_both_clicks_succeed(web: Web, api: Api) -> None:
    """The two posts of a double click arrive together: on PostgreSQL the second waits on the first's row lock and
    then finds the case changed; asked again with the same key, the engine answers with the first's result."""
    case = api.open_case()
    prenatal = web.sign_in("prenatal")
    path = f"/ui/cases/{case['id']}/actions/refer_to_treatment"
    _, hidden = prenatal.form(path)
    fields = [*hidden.items(), *referral(api)]
    twin = web.client()
    twin.cookies.set("posc_session", prenatal.client.cookies["posc_session"], path="/ui")
    clicks = [prenatal, Browser(twin, api, "prenatal")]
    start = threading.Barrier(2)

    def click(browser: Browser) -> int:
        start.wait()
        status: int = browser.post(path, fields).status_code
        return status

    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(click, clicks))
    assert statuses == [303, 303]
    assert [e["action"] for e in events_of(api, case["id"])] == ["open_case", "refer_to_treatment"]


def test_a_period_the_engine_refuses_is_named_beside_its_field(web: Web) -> None:
    answer = web.sign_in("analyst").get("/ui/reports?from=2026-11-10&to=2026-11-01")
    assert answer.status_code == 422
    assert re.search(r'id="period-from-error">The period must be the first day of a month.<', answer.text)
    weeks = web.sign_in("analyst").get("/ui/reports?from=2026-11-01&to=2026-12-31")
    assert weeks.status_code == 422
    assert re.search(r'id="period-to-error">The period the period must be a whole month', weeks.text) is None
    assert re.search(r'id="period-to-error">The period must be a whole month, a calendar quarter', weeks.text)


def test_a_template_variable_the_handler_forgot_is_an_error_not_an_empty_string() -> None:
    import jinja2

    from api.web.rendering import TEMPLATES

    with pytest.raises(jinja2.UndefinedError):
        TEMPLATES.get_template("lookup.html").render(prefix="/ui", csrf="x", matches=None, values={})
    html = TEMPLATES.env.from_string("{{ errors.last_name }}|{% if errors.date_of_birth %}x{% endif %}").render(
        errors={})
    assert html == "|"  # a key missing from a mapping that was given reads as empty


def test_an_error_page_is_the_whole_page_with_its_way_back(web: Web) -> None:
    page = web.sign_in("treatment").get("/ui/lookup")
    assert page.status_code == 403
    assert "Skip to content" in page.text and "the treatment role may not look parents up" in page.text


def test_the_specifications_page_reads_the_features_and_the_last_run(
    web: Web, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Living documentation: each scenario in the analysts' words with its last result, and what no scenario names."""
    import json

    from api import step_catalogue

    (tmp_path / "tests" / "steps").mkdir(parents=True)
    (tmp_path / "features").mkdir()
    (tmp_path / "reports").mkdir()
    (tmp_path / "features" / "admission.feature").write_text(
        "Feature: Admission\n  Parents reach treatment fast.\n\n  Background:\n    Given a case opened by the prenatal"
        " clinic\n\n  Scenario: Admitted in time\n    When the treatment provider takes admit_to_treatment with:\n"
        "      | field | value |\n      | moud  | none  |\n    Then the case is in state in_treatment\n\n"
        "  Scenario: Refused\n    When the hospital takes admit_to_treatment\n    Then the action is refused as "
        "not allowed\n"
    )
    step = {"keyword": "Then", "name": "the action is refused as not allowed", "line": 15}
    (tmp_path / "reports" / "cucumber.json").write_text(json.dumps([{
        "uri": "features/admission.feature", "elements": [
            {"id": "test_admitted_in_time[sqlite]", "line": 7, "steps": [{"result": {"status": "passed"}}]},
            {"id": "test_admitted_in_time[postgresql]", "line": 7, "steps": [{"result": {"status": "passed"}}]},
            {"id": "test_refused[sqlite]", "line": 13, "steps": [{**step, "result": {"status": "failed"}}]},
        ]}]))
    monkeypatch.setattr(step_catalogue, "steps_folder", lambda: tmp_path / "tests" / "steps")
    page = web.sign_in("analyst").get("/ui/features")
    assert page.status_code == 200
    text = page.text
    assert "<h2 id=\"admission-title\">Admission" in text and "Parents reach treatment fast." in text
    assert "Given a case opened by the prenatal clinic" in text  # the background, once
    assert re.search(r"Admitted in time <span class=\"badge ok\">passed</span>", text)
    assert "postgresql: passed; sqlite: passed" in text
    assert re.search(r"Refused <span class=\"badge alert\">failed</span>", text)
    assert "Failed at: Then the action is refused as not allowed" in text
    assert '<th scope="col">field</th>' in text and "<td>moud</td>" in text
    assert "Last run: 1 passed, 1 failed." in text
    unnamed = text.split("What no scenario names")[1].split("</ul>")[0]
    assert "<code>record_birth</code>" in unnamed and "<code>admit_to_treatment</code>" not in unnamed
    assert 'href="/ui/workflows/charm-posc"' in text
