"""Identification at birth in the browser: a lookup finds no plan, the nurse opens a case at delivery from the
lookup result (name and date of birth carried in the form, never the URL), mistakes come back filled in, and a
double submission opens one case."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import Api
from tests.factories import JURISDICTION, action_data, identification
from tests.web.conftest import Web, flatten

AT_DELIVERY = "/ui/cases/new/at-delivery"


def fields(api: Api, **birth_changes: str) -> list[tuple[str, str]]:
    today = api.today()
    data = identification(today, last_name="Okafor", due_date=(today + timedelta(days=3)).isoformat(),
                          gestational_weeks=39)
    del data["identified_by"]
    birth = {**action_data("record_birth", api.clock.now(), today), **birth_changes}
    born = (api.clock.now() - timedelta(hours=2)).astimezone(JURISDICTION)
    birth["born_at"] = born.strftime("%Y-%m-%dT%H:%M")  # as a datetime-local input sends it
    return flatten(data) + [(f"birth.{k}", v) for k, v in flatten(birth)]


def test_no_plan_found_offers_an_opening_at_delivery_carrying_the_name_in_the_form(web: Web, api: Api) -> None:
    nurse = web.sign_in("hospital")
    answer = nurse.submit("/ui/lookup", [("last_name", "Okafor"), ("date_of_birth", "1996-04-12")])
    assert "No plan on record" in answer.text and 'action="/ui/cases/new/at-delivery"' in answer.text
    _, hidden = nurse.form("/ui/lookup")
    start = nurse.post(AT_DELIVERY, [("csrf_token", hidden["csrf_token"]), ("start", "yes"),
                                     ("last_name", "Okafor"), ("date_of_birth", "1996-04-12")])
    assert start.status_code == 200
    assert 'value="Okafor"' in start.text and "Okafor" not in str(start.url)
    assert 'name="birth.born_at"' in start.text and 'name="identified_by"' not in start.text
    assert "<legend>Birth</legend>" in start.text and "<legend>Identification</legend>" in start.text


def test_a_nurse_opens_a_case_at_delivery_and_lands_on_it(web: Web, api: Api) -> None:
    nurse = web.sign_in("hospital")
    answer = nurse.submit(AT_DELIVERY, fields(api))
    assert answer.status_code == 303, answer.text
    case_id = answer.headers["location"].split("/")[3].split("?")[0]
    case = api.get(f"/cases/{case_id}", "cps").json()
    assert case["state"] == "born_without_plan" and case["data"]["identified_by"] == "hospital"
    assert case["data"]["last_name"] == "Okafor"


def test_mistakes_come_back_filled_in_with_the_birth_field_named(web: Web, api: Api) -> None:
    nurse = web.sign_in("hospital")
    answer = nurse.submit(AT_DELIVERY, fields(api, birth_weight_grams="12"))
    assert answer.status_code == 422
    assert "Birth weight (grams)" in answer.text and 'href="#f-birth-birth_weight_grams"' in answer.text
    assert 'value="Okafor"' in answer.text and 'value="12"' in answer.text
    assert api.get("/cases", "cps").json()["items"] == []


def test_a_double_submission_opens_one_case(web: Web, api: Api) -> None:
    nurse = web.sign_in("hospital")
    _, hidden = nurse.form(AT_DELIVERY)
    first = nurse.post(AT_DELIVERY, [*hidden.items(), *fields(api)])
    again = nurse.post(AT_DELIVERY, [*hidden.items(), *fields(api)])
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert len(api.get("/cases", "cps").json()["items"]) == 1


def test_only_hospital_staff_are_offered_the_opening_at_delivery(web: Web) -> None:
    assert web.sign_in("cps").get(AT_DELIVERY).status_code == 403
    assert "Open at delivery" in web.sign_in("hospital").get("/ui/lookup").text
