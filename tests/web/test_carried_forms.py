"""A form posted after its session ended is carried through a new sign-in only when it proves it was shown on this
browser to the person who signs in, and the person sees every value before it is recorded. A post forged on another
site (which arrives without the pages' cookies) carries nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient

from tests.api.conftest import Api
from tests.factories import action_data
from tests.web.conftest import Browser, Web, flatten

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
_PROOF = re.compile(r'name="form_proof" value="([^"]*)"')
FORM_HEADERS = {"content-type": "application/x-www-form-urlencoded"}


def consent(api: Api, **changes: Any) -> list[tuple[str, str]]:
    """A universal consent form as a browser posts it."""
    return flatten({**action_data("record_consent", api.clock.now(), api.today()), **changes})


def actions_of(api: Api, case_id: str) -> list[str]:
    events = api.get(f"/cases/{case_id}/events", "cps")
    assert events.status_code == 200, events.text
    return [e["action"] for e in events.json()]


def hidden_fields(html: str) -> list[tuple[str, str]]:
    return _HIDDEN.findall(html)


def post(client: TestClient, path: str, fields: list[tuple[str, str]]) -> Any:
    return client.post(path, content=urlencode(fields), headers=FORM_HEADERS)


def sign_in_from(client: TestClient, page: str, api_key: str) -> Any:
    """Signs in on a sign-in page already shown, posting its hidden fields (and any carried form) as a browser does."""
    return post(client, "/ui/sign-in", [*hidden_fields(page), ("api_key", api_key)])


def expired_post(web: Web, api: Api, role: str, path: str, typed: list[tuple[str, str]]) -> tuple[Browser, Any]:
    """A person opens the form at `path`, takes so long that the session ends, and posts it: the answer."""
    person = web.sign_in(role)
    page, hidden = person.form(path)
    proof = _PROOF.search(page.text)
    assert proof and proof.group(1), "a signed-in form page carries a form proof"
    api.clock.advance(timedelta(minutes=45))
    return person, person.post(path, [*hidden.items(), ("form_proof", proof.group(1)), *typed])


def test_a_consent_form_forged_on_another_site_is_not_carried_and_nothing_is_recorded(web: Web, api: Api) -> None:
    case = api.open_case()
    path = f"/ui/cases/{case['id']}/actions/record_consent"
    web.sign_in("prenatal")  # the victim has a session and a browser cookie, neither of which reaches the forgery
    api.clock.advance(timedelta(minutes=45))
    forged = [("csrf_token", "guessed"), ("form_proof", f"u_{'0' * 16}.{'0' * 64}"),
              *consent(api, witness="Mallory Attacker", purpose="Sell the record")]
    browser = web.client()  # a cross-site post: SameSite keeps the pages' cookies out of it
    answer = post(browser, path, forged)
    assert answer.status_code == 401
    assert "Sign in" in answer.text and "the form was not kept" in answer.text
    assert "carried:" not in answer.text and "Mallory" not in answer.text and "Sell the record" not in answer.text
    back = sign_in_from(browser, answer.text, api.key["prenatal"])
    assert back.status_code == 303, back.text
    assert back.headers["location"] == path  # to the form, empty: to be filled in again, if it was theirs
    empty = browser.get(path)
    assert empty.status_code == 200 and "Mallory" not in empty.text and "Sell the record" not in empty.text
    assert actions_of(api, case["id"]) == ["open_case"]


def test_a_post_with_the_browsers_cookie_but_without_its_proof_is_not_carried(web: Web, api: Api) -> None:
    case = api.open_case()
    path = f"/ui/cases/{case['id']}/actions/record_consent"
    person = web.sign_in("prenatal")
    api.clock.advance(timedelta(minutes=45))
    for proof in ([], [("form_proof", "")], [("form_proof", "not-a-proof")],
                  [("form_proof", f"u_{'0' * 16}.{'f' * 64}")], [("form_proof", "u_é.ü")]):
        answer = person.post(path, [("csrf_token", "x"), *proof, *consent(api)])
        assert answer.status_code == 401 and "carried:" not in answer.text, proof
        assert "the form was not kept" in answer.text


def test_a_proof_made_for_another_browser_is_not_carried(web: Web, api: Api) -> None:
    case = api.open_case()
    path = f"/ui/cases/{case['id']}/actions/record_consent"
    person = web.sign_in("prenatal")
    proof = _PROOF.search(person.get(path).text).group(1)  # type: ignore[union-attr]
    other = web.sign_in("prenatal")  # the same person on another device: another browser cookie
    assert other.client.cookies["posc_browser"] != person.client.cookies["posc_browser"]
    api.clock.advance(timedelta(minutes=45))
    answer = other.post(path, [("form_proof", proof), *consent(api)])
    assert answer.status_code == 401 and "carried:" not in answer.text


def test_a_form_of_this_browser_is_shown_value_by_value_and_recorded_when_submitted(web: Web, api: Api) -> None:
    case = api.open_case()
    path = f"/ui/cases/{case['id']}/actions/record_consent"
    person, ended = expired_post(web, api, "prenatal", path, consent(api, witness="Dana Cole, midwife"))
    assert ended.status_code == 401 and "Your session ended while you were filling in this form" in ended.text
    assert 'name="carried:witness" value="Dana Cole, midwife"' in ended.text
    assert actions_of(api, case["id"]) == ["open_case"]

    back = sign_in_from(person.client, ended.text, api.key["prenatal"])
    assert back.status_code == 200 and "You are signed in again" in back.text
    rows = dict(re.findall(r'<tr><th scope="row">([^<]+)</th><td>([^<]*)</td></tr>', back.text))
    typed = action_data("record_consent", api.clock.now(), api.today())
    assert rows["Signing date"] == typed["signed_on"] and rows["Expiry date"] == typed["expires_on"]
    assert rows["Information categories"] == "status, plan"
    assert rows["Purpose"] == "Plan of Safe Care" and rows["Signature method"] == "written"
    assert rows["Witness"] == "Dana Cole, midwife"
    assert "County Child Protective Services" in rows["Organisations covered"]
    assert not any(name in rows for name in ("csrf_token", "form_proof", "version", "idempotency_key"))
    assert 'href="/ui/">Discard it</a>' in back.text
    assert actions_of(api, case["id"]) == ["open_case"]  # nothing recorded before the person submits

    form = back.text[back.text.index(f'<form method="post" action="{path}"'):]
    done = post(person.client, path, hidden_fields(form))
    assert done.status_code == 303, done.text[:2000]
    assert actions_of(api, case["id"]) == ["open_case", "record_consent"]
    recorded = api.get(f"/cases/{case['id']}/events", "cps").json()[-1]["data"]
    assert recorded["witness"] == "Dana Cole, midwife"


def test_a_form_left_by_one_person_is_not_offered_to_the_next_on_a_shared_device(web: Web, api: Api) -> None:
    case = api.open_case()
    path = f"/ui/cases/{case['id']}/actions/record_consent"
    person, ended = expired_post(web, api, "prenatal", path, consent(api))
    assert 'name="carried:purpose"' in ended.text
    back = sign_in_from(person.client, ended.text, api.key["cps"])  # a colleague signs in on the same tablet
    assert back.status_code == 303 and back.headers["location"] == "/ui/worklist"
    assert actions_of(api, case["id"]) == ["open_case"]


def test_the_browser_cookie_is_set_at_sign_in_unreadable_by_scripts_and_sent_to_our_own_pages_only(web: Web) -> None:
    client = web.client()
    page = client.get("/ui/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    answer = client.post("/ui/sign-in", data={"api_key": web.api.key["cps"], "csrf_token": token, "next": ""})
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("posc_browser="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "max-age", "path"} <= attributes
    assert "samesite=strict" in cookie.lower() and "path=/ui" in cookie.lower()
    first = client.cookies["posc_browser"]
    again = web.sign_in("cps")
    assert again.client.cookies["posc_browser"] != first  # one per browser, not per person
