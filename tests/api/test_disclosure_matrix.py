"""Who may see and do what: every role x every case endpoint x every disclosure situation (PATHWAY.md, "Who sees
what"; CONTRACT.md, status codes).

The expected table below is written out by hand from PATHWAY.md and the workflow's `parties`/`disclosure`; it is
not computed with the engine's own functions. Field tiers are read from the form YAML files by this module, so a
field that a form declares `treatment` (or `plan`) must be withheld from every caller who lacks that tier, wherever
in a response it could turn up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from api.models import ActionOption, CaseSummary, CaseView, Contact, DeadlineView, EventView
from tests.api.conftest import ROLES, Api
from tests.factories import ACTION_ROLE, action_data, identification

REPO = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"
S, P, T = "status", "plan", "treatment"
ORG = {
    "cps": "county-cps", "treatment": "recovery-clinic", "peer": "peer-network", "prenatal": "prenatal-clinic",
    "hospital": "city-hospital", "analyst": "state-analytics", "admin": "posc-admin",
}
NEVER_IN_A_REFUSAL = ("Traceback", "SELECT", "sqlalchemy", "psycopg", "sqlite3")
PARENT_NAMES = ("Rivera", "Alex")
DOCUMENT = "documents/plan-of-safe-care"
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")  # dates and times come back normalised: compared by key only
WITHHELD_NOTICE = "Some information is withheld"
PART2_NOTICE = "42 CFR part 2"


# --- what the form definitions declare (read from the YAML here, not from the engine) ---------------------------


def _load_forms() -> tuple[dict[str, dict[str, str]], dict[str, set[str]]]:
    """Each form's top-level field tiers, and for every key that can occur in form data (nested record fields
    included, at their parent's tier) the set of tiers it has across all forms."""
    tiers: dict[str, dict[str, str]] = {}
    key_tiers: dict[str, set[str]] = {}

    def note(fields: list[dict[str, Any]], tier: str) -> None:
        for spec in fields:
            key_tiers.setdefault(spec["id"], set()).add(tier)
            note(spec.get("fields") or [], tier)

    for path in sorted((REPO / "forms").glob("*.yaml")):
        form = yaml.safe_load(path.read_text(encoding="utf-8"))
        default = form.get("tier", S)
        tiers[form["id"]] = {}
        for spec in form["fields"]:
            tier = spec.get("tier", default)
            tiers[form["id"]][spec["id"]] = tier
            key_tiers.setdefault(spec["id"], set()).add(tier)
            note(spec.get("fields") or [], tier)
    return tiers, key_tiers


FORM_TIERS, KEY_TIERS = _load_forms()
WORKFLOW = yaml.safe_load((REPO / "workflows" / "charm-posc.yaml").read_text(encoding="utf-8"))
FORM_OF = {"open_case": WORKFLOW["open"]["form"], **{n: a["form"] for n, a in WORKFLOW["actions"].items()}}
TREATMENT_FIELDS = {(form, f) for form, fields in FORM_TIERS.items() for f, tier in fields.items() if tier == T}
PLAN_FIELDS = {(form, f) for form, fields in FORM_TIERS.items() for f, tier in fields.items() if tier == P}
#: Keys of the API's own envelopes (case view, event, list item, action option): they may appear at any tier.
ENVELOPES = (CaseView, EventView, CaseSummary, ActionOption, Contact, DeadlineView)
ENVELOPE_KEYS = {k for model in ENVELOPES for k in model.model_fields} | {"items", "next_cursor"}
#: Keys that, wherever they appear in a JSON response, can only be data of that tier.
ONLY_TREATMENT_KEYS = {k for k, tiers in KEY_TIERS.items() if tiers == {T}} - ENVELOPE_KEYS
ONLY_PLAN_KEYS = {k for k, tiers in KEY_TIERS.items() if tiers == {P}} - ENVELOPE_KEYS

#: Free-text and coded values that only treatment-tier (resp. plan-tier) fields carry in these tests.
TREATMENT_VALUES = (
    "SENTINEL-T-disengagement-reason", "SENTINEL-T-follow-up-notes", "buprenorphine", "opioid_treatment_program",
    "opioids",
)
PLAN_VALUES = ("SENTINEL-P-safety-considerations", "SENTINEL-P-meeting-location", "Home with parent; pediatric visit")


def test_the_forms_declare_the_treatment_and_plan_fields_pathway_names() -> None:
    """The YAML is where tiers are declared; this pins what the rest of this module relies on."""
    expected_treatment = {
        ("identification", "substances"), ("identification", "on_moud"),
        ("treatment_referral", "referred_on"), ("treatment_referral", "provider_org"),
        ("treatment_referral", "level_of_care"), ("treatment_referral", "priority_requested"),
        ("interim_services", "started_on"), ("interim_services", "services"),
        ("treatment_admission", "admitted_on"), ("treatment_admission", "provider_org"),
        ("treatment_admission", "level_of_care"), ("treatment_admission", "moud"),
        ("treatment_admission", "peer_support"),
        ("treatment_progress", "recorded_on"), ("treatment_progress", "status"),
        ("treatment_progress", "moud_adherence"), ("treatment_progress", "last_attended_on"),
        ("disengagement", "last_attended_on"), ("disengagement", "reason"), ("disengagement", "outreach_planned"),
        ("birth_event", "infant_toxicology"), ("birth_event", "parent_toxicology"),
        ("follow_up_contact", "notes"),
    }
    assert expected_treatment == TREATMENT_FIELDS
    assert {("plan_of_safe_care", "infant_services"), ("meeting_schedule", "location"),
            ("birth_event", "withdrawal_signs"), ("discharge", "discharged_to")} <= PLAN_FIELDS
    assert all(tier == S for f, tier in FORM_TIERS["identification"].items() if tier != T and f != "identified_by")
    assert FORM_TIERS["identification"]["identified_by"] == P  # it could name a Part 2 program
    assert {"substances", "on_moud", "moud", "infant_toxicology", "last_attended_on"} <= ONLY_TREATMENT_KEYS
    assert {"participants", "infant_services", "discharge_arrangement", "location"} <= ONLY_PLAN_KEYS


#: Who sees each action's events (docs/who-sees-what.md, "Minimum necessary"), written out here by hand: a tier,
#: or the party the reader's organisation plays on the case.
EVENT_AUDIENCE: dict[str, set[str]] = {
    "open_case": {S}, "record_consent": {P, T}, "revoke_consent": {P, T}, "refer_to_treatment": {T},
    "record_interim_services": {T}, "admit_to_treatment": {T}, "record_treatment_progress": {T},
    "record_disengagement": {T},
    "schedule_planning_meeting": {P}, "record_planning_meeting": {P}, "record_follow_up": {P},
    "record_birth": {P, "party:hospital"}, "notify_cps": {P, "party:hospital"}, "discharge": {P, "party:hospital"},
}
#: The party each role's organisation plays on every case of this module (county-cps leads, city-hospital delivers).
PARTY = {"cps": "party:cps", "hospital": "party:hospital"}


def sees_event(action: str, role: str, tiers: list[str]) -> bool:
    audience = EVENT_AUDIENCE[action]
    return bool(audience & set(tiers)) or PARTY.get(role) in audience


# --- cases in known situations, and exactly what was submitted to them -------------------------------------------


@dataclass
class Story:
    """A case driven over HTTP, with every submission in event order (event seq = index + 1)."""

    api: Api
    id: str
    opening: dict[str, Any]
    submitted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @classmethod
    def open(cls, api: Api, role: str = "prenatal", **changes: Any) -> Story:
        data = identification(api.today(), **changes)
        response = api.post("/cases", role, {"workflow": "charm-posc", "data": data})
        assert response.status_code == 201, response.text
        return cls(api, response.json()["id"], data, [("open_case", data)])

    def do(self, action: str, role: str | None = None, **changes: Any) -> dict[str, Any]:
        due = date.fromisoformat(self.opening["due_date"])
        data = {**action_data(action, self.api.clock.now(), due), **changes}
        response = self.api.post(f"/cases/{self.id}/actions/{action}", role or ACTION_ROLE[action], {"data": data})
        assert response.status_code == 200, f"{action}: {response.text}"
        self.submitted.append((action, data))
        found: dict[str, Any] = response.json()
        return found

    def path(self, suffix: str = "") -> str:
        return f"/cases/{self.id}{suffix}"


CONSENTED = [("record_consent", "prenatal"), ("admit_to_treatment", "treatment")]
PLANNED = [*CONSENTED, ("schedule_planning_meeting", "cps"), ("record_planning_meeting", "cps")]
SITUATIONS: dict[str, list[tuple[str, str]]] = {
    # (a) opened by prenatal, no consent: opened_by prenatal-clinic, cps county-cps, hospital city-hospital
    "fresh": [],
    "consented": CONSENTED,  # (b) consent (all demo orgs; status+plan), admitted: treatment recovery-clinic
    "planned": PLANNED,  # (c) plan agreed
    "revoked": [*PLANNED, ("revoke_consent", "cps")],  # (d) (c) after the consent was revoked
}


class Cell(NamedTuple):
    """One role on one case: its tiers (None: may not know the case exists) and the status of every endpoint.
    `listed` is "yes"/"no" for presence in GET /cases, or the status when the listing itself is refused. `act` is
    POST .../actions/record_birth with empty data, which never changes anything: 404 when the caller may not know
    the case, 403 when the role may not record a birth, 422 when it may and the (empty) form is checked."""

    tiers: list[str] | None
    view: int
    events: int
    actions: int
    disclosures: int
    document: int
    listed: str | int
    act: int


NOBODY = Cell(None, 404, 404, 404, 404, 404, "no", 404)
NO_CASE_DATA = Cell(None, 404, 404, 404, 404, 404, 403, 404)  # analyst, admin: no case data at all
# fmt: off
MATRIX: dict[str, dict[str, Cell]] = {
    "fresh": {
        #                 tiers         view events actions disc  document listed act
        "cps":       Cell([S, P],       200, 200,   200,    200,  404,     "yes", 403),  # lead; no plan yet
        "treatment": NOBODY,                                                             # not on the case yet
        "peer":      NOBODY,                                                             # not a party, no consent
        "prenatal":  Cell([S],          200, 200,   200,    403,  403,     "yes", 403),  # opened_by
        "hospital":  Cell([S],          200, 200,   200,    403,  403,     "yes", 422),  # delivery hospital
        "analyst":   NO_CASE_DATA,
        "admin":     NO_CASE_DATA,
    },
    "consented": {
        "cps":       Cell([S, P],       200, 200,   200,    200,  404,     "yes", 403),
        "treatment": Cell([S, P, T],    200, 200,   200,    403,  404,     "yes", 403),  # treating org + consent
        "peer":      Cell([S, P],       200, 200,   200,    403,  404,     "yes", 403),  # consent only
        "prenatal":  Cell([S, P],       200, 200,   200,    403,  404,     "yes", 403),
        "hospital":  Cell([S, P],       200, 200,   200,    403,  404,     "yes", 422),
        "analyst":   NO_CASE_DATA,
        "admin":     NO_CASE_DATA,
    },
    "planned": {
        "cps":       Cell([S, P],       200, 200,   200,    200,  200,     "yes", 403),
        "treatment": Cell([S, P, T],    200, 200,   200,    403,  200,     "yes", 403),
        "peer":      Cell([S, P],       200, 200,   200,    403,  200,     "yes", 403),
        "prenatal":  Cell([S, P],       200, 200,   200,    403,  200,     "yes", 403),
        "hospital":  Cell([S, P],       200, 200,   200,    403,  200,     "yes", 422),
        "analyst":   NO_CASE_DATA,
        "admin":     NO_CASE_DATA,
    },
    "revoked": {
        "cps":       Cell([S, P],       200, 200,   200,    200,  200,     "yes", 403),  # lead: always
        "treatment": Cell([S, T],       200, 200,   200,    403,  403,     "yes", 403),  # party tiers only
        "peer":      NOBODY,                                                             # consent gone
        "prenatal":  Cell([S],          200, 200,   200,    403,  403,     "yes", 403),
        "hospital":  Cell([S],          200, 200,   200,    403,  403,     "yes", 422),
        "analyst":   NO_CASE_DATA,
        "admin":     NO_CASE_DATA,
    },
}
# fmt: on


# --- checking responses ------------------------------------------------------------------------------------------


def keys_in(value: Any) -> Iterator[str]:
    """Every dict key anywhere in a JSON value."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from keys_in(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from keys_in(inner)


class Findings:
    """Collects every wrong cell instead of stopping at the first, so a failure shows the whole picture."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def check(self, ok: bool, where: str, message: str) -> bool:
        if not ok:
            self.problems.append(f"{where}: {message}")
        return ok

    def status(self, response: Any, expected: int, where: str) -> bool:
        return self.check(
            response.status_code == expected, where, f"status {response.status_code}, expected {expected}: "
            f"{response.text[:300]}"
        )

    def refusal(self, response: Any, status: int, where: str) -> dict[str, Any] | None:
        """A refusal is an RFC 9457 problem that leaks no internals and no parent's name."""
        if not self.status(response, status, where):
            return None
        self.check(response.headers.get("content-type", "").startswith(PROBLEM), where,
                   f"content-type {response.headers.get('content-type')!r}")
        body: dict[str, Any] = response.json()
        self.check({"type", "title", "status", "detail"} <= body.keys(), where, f"not a problem: {body}")
        self.check(body.get("status") == status, where, f"problem status {body.get('status')}")
        lowered = response.text.lower()
        for bad in NEVER_IN_A_REFUSAL:
            self.check(bad.lower() not in lowered, where, f"refusal mentions {bad!r}: {response.text[:300]}")
        for name in PARENT_NAMES:
            self.check(name not in response.text, where, f"refusal names the parent ({name!r})")
        return body

    def no_leaks(self, body: Any, text: str, tiers: list[str], where: str) -> None:
        """Nothing of a tier the caller lacks, as a key anywhere in the JSON or as a known value in the text."""
        present = set(keys_in(body))
        if T not in tiers:
            self.check(not present & ONLY_TREATMENT_KEYS, where, f"treatment keys {present & ONLY_TREATMENT_KEYS}")
            self.check(not [v for v in TREATMENT_VALUES if v in text], where,
                       f"treatment values {[v for v in TREATMENT_VALUES if v in text]}")
        if P not in tiers:
            self.check(not present & ONLY_PLAN_KEYS, where, f"plan keys {present & ONLY_PLAN_KEYS}")
            self.check(not [v for v in PLAN_VALUES if v in text], where,
                       f"plan values {[v for v in PLAN_VALUES if v in text]}")

    def fields(self, form: str, submitted: dict[str, Any], shown: dict[str, Any], withheld: list[str],
               tiers: list[str], where: str) -> None:
        """Exactly the submitted fields of the caller's tiers are shown; exactly the others are listed withheld."""
        form_tiers = FORM_TIERS[form]
        expect_shown = {k for k in submitted if form_tiers[k] in tiers}
        expect_withheld = {k for k in submitted if form_tiers[k] not in tiers}
        self.check(set(shown) == expect_shown, where, f"shows {sorted(shown)}, expected {sorted(expect_shown)}")
        self.check(set(withheld) == expect_withheld and len(withheld) == len(set(withheld)), where,
                   f"withheld {withheld}, expected {sorted(expect_withheld)}")
        for key in set(shown) & expect_shown:
            if isinstance(submitted[key], str) and form_tiers[key] != S and not ISO_DATE.match(submitted[key]):
                self.check(shown[key] == submitted[key], where, f"{key} = {shown[key]!r}, not {submitted[key]!r}")

    def done(self) -> None:
        assert not self.problems, f"{len(self.problems)} wrong cell(s):\n" + "\n".join(self.problems)


def unknown_case_404(api: Api, role: str, suffix: str) -> dict[str, Any]:
    """The refusal for a case that does not exist, to compare with a hidden one (no existence oracle)."""
    body: dict[str, Any] = api.get(f"/cases/PC-ZZZZ-ZZZZ{suffix}", role).json()
    return body


def check_hidden_like_unknown(found: Findings, api: Api, story: Story, role: str, suffix: str, body: dict[str, Any],
                              where: str) -> None:
    unknown = unknown_case_404(api, role, suffix)
    same = {**body, "detail": str(body.get("detail", "")).replace(story.id, "PC-ZZZZ-ZZZZ")}
    found.check(same == unknown, where, f"a hidden case answers {body}, an unknown one {unknown}")


def check_role(found: Findings, story: Story, role: str, cell: Cell, situation: str) -> None:
    """Every read endpoint and the action probe, for one role on one case, against its expected cell."""
    api, tiers = story.api, cell.tiers
    at = f"[{situation}] {role}"

    view = api.get(story.path(), role)
    if cell.view == 200 and found.status(view, 200, f"{at} GET case") and tiers is not None:
        body = view.json()
        found.check(body["tiers"] == tiers, f"{at} GET case", f"tiers {body['tiers']}, expected {tiers}")
        found.fields("identification", story.opening, body["data"], body["withheld"], tiers, f"{at} GET case")
        found.no_leaks(body, view.text, tiers, f"{at} GET case")
    elif cell.view != 200 and (problem := found.refusal(view, cell.view, f"{at} GET case")):
        check_hidden_like_unknown(found, api, story, role, "", problem, f"{at} GET case")

    events = api.get(story.path("/events"), role)
    if cell.events == 200 and found.status(events, 200, f"{at} events") and tiers is not None:
        shown = events.json()
        visible = [(a, data) for a, data in story.submitted if sees_event(a, role, tiers)]
        found.check([e["action"] for e in shown] == [a for a, _ in visible], f"{at} events",
                    f"actions {[e['action'] for e in shown]}, expected {[a for a, _ in visible]}")
        for event, (action, data) in zip(shown, visible, strict=False):
            where = f"{at} event {event['seq']} {action}"
            found.check(event["form"] == FORM_OF[action], where, f"form {event['form']}")
            found.fields(FORM_OF[action], data, event["data"], event["withheld"], tiers, where)
        found.no_leaks(shown, events.text, tiers, f"{at} events")
    elif cell.events != 200 and (problem := found.refusal(events, cell.events, f"{at} events")):
        check_hidden_like_unknown(found, api, story, role, "/events", problem, f"{at} events")

    actions = api.get(story.path("/actions"), role)
    if cell.actions == 200 and found.status(actions, 200, f"{at} actions") and tiers is not None:
        found.no_leaks(actions.json(), actions.text, tiers, f"{at} actions")
    elif cell.actions != 200 and (problem := found.refusal(actions, cell.actions, f"{at} actions")):
        check_hidden_like_unknown(found, api, story, role, "/actions", problem, f"{at} actions")

    disclosures = api.get(story.path("/disclosures"), role)
    if cell.disclosures == 200:
        found.status(disclosures, 200, f"{at} disclosures")
    elif (problem := found.refusal(disclosures, cell.disclosures, f"{at} disclosures")) and tiers is None:
        check_hidden_like_unknown(found, api, story, role, "/disclosures", problem, f"{at} disclosures")

    document = api.get(story.path(f"/{DOCUMENT}"), role)
    if cell.document == 200 and found.status(document, 200, f"{at} document") and tiers is not None:
        where = f"{at} document"
        found.check(document.headers["content-type"].startswith("text/html"), where, "not HTML")
        if T in tiers:
            found.check(WITHHELD_NOTICE not in document.text and PART2_NOTICE in document.text, where,
                        "a reader with the treatment tier is told information is withheld, or gets no Part 2 notice")
        else:
            found.check(WITHHELD_NOTICE in document.text, where, f"no {WITHHELD_NOTICE!r} notice")
        found.no_leaks({}, document.text, tiers, where)
    elif (
        cell.document != 200 and (problem := found.refusal(document, cell.document, f"{at} document"))
        and tiers is None
    ):
        check_hidden_like_unknown(found, api, story, role, f"/{DOCUMENT}", problem, f"{at} document")

    listing = api.get("/cases?limit=200", role)
    if cell.listed == 403:
        found.refusal(listing, 403, f"{at} GET /cases")
    elif found.status(listing, 200, f"{at} GET /cases"):
        items = {item["id"]: item for item in listing.json()["items"]}
        found.check((story.id in items) == (cell.listed == "yes"), f"{at} GET /cases",
                    f"listed={story.id in items}, expected {cell.listed}")
        if story.id in items and tiers is not None:
            found.check(items[story.id]["tiers"] == tiers, f"{at} GET /cases", f"tiers {items[story.id]['tiers']}")
        found.no_leaks(listing.json(), listing.text, tiers or [], f"{at} GET /cases")
        found.check(not [n for n in PARENT_NAMES if n in listing.text], f"{at} GET /cases", "lists carry names")

    check_fhir(found, story, role, cell, at)

    before = story.api.get(story.path(), "cps").json()["version"]
    probe = api.post(story.path("/actions/record_birth"), role, {"data": {}})
    if (problem := found.refusal(probe, cell.act, f"{at} POST record_birth {{}}")) and tiers is None:
        check_hidden_like_unknown_post(found, api, story, role, problem, f"{at} POST record_birth {{}}")
    after = story.api.get(story.path(), "cps").json()["version"]
    found.check(before == after, f"{at} POST record_birth {{}}", "a refused action changed the case")


#: The FHIR reads of one case (docs/fhir.md): each follows the same decision as `GET /cases/{id}`.
FHIR_READS = ("CarePlan/{id}", "CarePlan/{id}/_history", "Patient/{id}")
FHIR_SEARCHES = {"Consent": "record_consent", "ServiceRequest": "refer_to_treatment", "Task": "refer_to_treatment"}


def check_fhir(found: Findings, story: Story, role: str, cell: Cell, at: str) -> None:
    """`/fhir` shows a role what `GET /cases/{id}` shows it and nothing more: a read is 200 exactly where the case view
    is, a hidden case is answered as an unknown one, a search finds one resource per event the role may see, and no
    value of a tier the role lacks is anywhere in a resource."""
    api, tiers = story.api, cell.tiers
    for template in FHIR_READS:
        path, where = "/fhir/" + template.format(id=story.id), f"{at} FHIR {template}"
        response = api.get(path, role)
        if not found.status(response, 200 if cell.view == 200 else 404, where):
            continue
        found.check(response.headers["content-type"].startswith("application/fhir+json"), where, "not FHIR JSON")
        if response.status_code == 200:
            found.no_leaks({}, response.text, tiers or [], where)
        else:
            unknown = api.get("/fhir/" + template.format(id="PC-ZZZZ-ZZZZ"), role).json()
            same = response.text.replace(story.id, "PC-ZZZZ-ZZZZ")  # the caller's own reference is echoed back
            found.check(json.loads(same) == unknown, where,
                        f"a hidden case answers {response.json()}, an unknown one {unknown}")
            found.check(not [n for n in PARENT_NAMES if n in response.text], where, "a refusal names the parent")
    for resource, action in FHIR_SEARCHES.items():
        where = f"{at} FHIR {resource}?patient="
        response = api.get(f"/fhir/{resource}", role, params={"patient": f"Patient/{story.id}"})
        if not found.status(response, 200, where):
            continue
        entries = response.json().get("entry", [])
        seen = [a for a, _ in story.submitted if a == action and tiers is not None and sees_event(a, role, tiers)]
        found.check(len(entries) == len(seen), where, f"{len(entries)} resources, expected {len(seen)}")
        found.no_leaks({}, response.text, tiers or [], where)


def check_hidden_like_unknown_post(found: Findings, api: Api, story: Story, role: str, body: dict[str, Any],
                                   where: str) -> None:
    unknown = api.post("/cases/PC-ZZZZ-ZZZZ/actions/record_birth", role, {"data": {}}).json()
    same = {**body, "detail": str(body.get("detail", "")).replace(story.id, "PC-ZZZZ-ZZZZ")}
    found.check(same == unknown, where, f"a hidden case answers {body}, an unknown one {unknown}")


# --- the matrix --------------------------------------------------------------------------------------------------


def test_the_matrix_covers_every_role_and_situation() -> None:
    assert set(MATRIX) == set(SITUATIONS)
    assert all(set(row) == set(ROLES) for row in MATRIX.values())


@pytest.mark.parametrize("situation", list(SITUATIONS))
def test_who_sees_what(api: Api, situation: str) -> None:
    story = Story.open(api)
    for action, role in SITUATIONS[situation]:
        story.do(action, role)
    found = Findings()
    for role in ROLES:
        check_role(found, story, role, MATRIX[situation][role], situation)
    found.done()


# --- field by field, over a case that went through every treatment-tier form ------------------------------------

HISTORY_BEFORE_REVOCATION = {
    "cps": [S, P], "treatment": [S, P, T], "peer": [S, P, T], "prenatal": [S, P], "hospital": [S, P],
    "analyst": None, "admin": None,
}
HISTORY_AFTER_REVOCATION = {
    "cps": [S, P], "treatment": [S, T], "peer": None, "prenatal": [S], "hospital": [S],
    "analyst": None, "admin": None,
}


def cell_for(tiers: list[str] | None, role: str, has_plan: bool = True) -> Cell:
    """The statuses for a post-birth case with a plan, given the tiers (written from CONTRACT.md's codes)."""
    if role in ("analyst", "admin"):
        return NO_CASE_DATA
    if tiers is None:
        return NOBODY
    lead = role == "cps"
    document = (200 if has_plan else 404) if P in tiers else 403
    # record_birth is not available after birth: the hospital gets 409 (state) - other roles 403 (role) first.
    return Cell(tiers, 200, 200, 200, 200 if lead else 403, document, "yes", 409 if role == "hospital" else 403)


def full_history(api: Api) -> Story:
    story = Story.open(api, phone="555-0199")
    story.do("record_consent", "prenatal")  # every demo organisation, status and plan
    story.do("record_consent", "peer", organisations=["peer-network"], categories=[S, T])  # the peer network: +T
    story.do("refer_to_treatment", "prenatal")
    story.do("record_interim_services", "treatment")
    story.do("admit_to_treatment", "treatment")
    story.do("record_disengagement", "treatment", reason="SENTINEL-T-disengagement-reason")
    story.do("admit_to_treatment", "treatment")
    story.do("record_treatment_progress", "treatment", status="attending", moud_adherence="yes")
    story.do("schedule_planning_meeting", "cps", location="SENTINEL-P-meeting-location")
    story.do("record_planning_meeting", "cps", safety_considerations="SENTINEL-P-safety-considerations")
    story.do("record_birth", "hospital", infant_toxicology="positive", parent_toxicology="negative")
    story.do("notify_cps", "hospital")
    story.do("discharge", "hospital")
    story.do("record_follow_up", "peer", notes="SENTINEL-T-follow-up-notes")
    return story


def test_every_treatment_and_plan_field_is_withheld_from_callers_without_the_tier(api: Api) -> None:
    story = full_history(api)
    used = {(FORM_OF[a], k) for a, data in story.submitted for k in data}
    assert used >= TREATMENT_FIELDS, TREATMENT_FIELDS - used  # the story submits every treatment-tier field
    found = Findings()
    for role in ROLES:
        check_role(found, story, role, cell_for(HISTORY_BEFORE_REVOCATION[role], role), "history")
    story.do("revoke_consent", "cps")
    for role in ROLES:
        check_role(found, story, role, cell_for(HISTORY_AFTER_REVOCATION[role], role), "history, revoked")
    found.done()


def test_callers_with_the_tier_receive_the_fields(api: Api) -> None:
    story = full_history(api)
    for role in ("treatment", "peer"):  # the treating organisation; the peer network by its treatment consent
        view = api.get(story.path(), role).json()
        assert view["data"]["substances"] == ["opioids"] and view["data"]["on_moud"] == "yes"
        assert view["withheld"] == []
        events = {e["action"]: e for e in api.get(story.path("/events"), role).json()}
        assert events["record_disengagement"]["data"]["reason"] == "SENTINEL-T-disengagement-reason"
        assert events["record_follow_up"]["data"]["notes"] == "SENTINEL-T-follow-up-notes"
        assert events["record_birth"]["data"]["infant_toxicology"] == "positive"
        assert events["admit_to_treatment"]["data"]["moud"] == "buprenorphine"
        assert events["record_interim_services"]["data"]["services"] == ["counselling"]
        assert events["record_planning_meeting"]["data"]["safety_considerations"] == "SENTINEL-P-safety-considerations"
        document = api.get(story.path(f"/{DOCUMENT}"), role)
        assert document.status_code == 200 and WITHHELD_NOTICE not in document.text
        referrals = api.get("/fhir/ServiceRequest", role, params={"patient": story.id}).json()
        assert [e["resource"]["status"] for e in referrals["entry"]] == ["completed"]  # admitted after the referral
        plan = api.get(f"/fhir/CarePlan/{story.id}", role)
        assert "SENTINEL-P-safety-considerations" in plan.text and "SUBSETTED" not in plan.text
        assert "tag" not in api.get(f"/fhir/Patient/{story.id}", role).json()["meta"]
    for role in ("cps", "prenatal", "hospital"):
        events = {e["action"]: e for e in api.get(story.path("/events"), role).json()}
        assert events["record_planning_meeting"]["data"]["safety_considerations"] == "SENTINEL-P-safety-considerations"
        assert events["record_birth"]["data"]["withdrawal_signs"] == "monitoring"
        assert events["record_birth"]["withheld"] == ["infant_toxicology", "parent_toxicology"]
        assert events["record_follow_up"]["withheld"] == ["notes"]
        document = api.get(story.path(f"/{DOCUMENT}"), role)
        assert "SENTINEL-P-safety-considerations" in document.text and WITHHELD_NOTICE in document.text
        plan = api.get(f"/fhir/CarePlan/{story.id}", role)
        assert "SENTINEL-P-safety-considerations" in plan.text  # the plan is theirs to read, whole
        parent = api.get(f"/fhir/Patient/{story.id}", role).json()  # but not the substances on the identification
        assert [t["code"] for t in parent["meta"]["tag"]] == ["SUBSETTED"]


# --- the accounting of disclosures -------------------------------------------------------------------------------


def accounting(api: Api, story: Story) -> list[tuple[str, str, str, str, list[str]]]:
    response = api.get(story.path("/disclosures"), "cps")
    assert response.status_code == 200, response.text
    return [(e["actor"], e["actor_role"], e["organisation"], e["what"], e["tiers"]) for e in response.json()]


def test_every_read_is_in_the_leads_accounting_of_disclosures(api: Api) -> None:
    story = Story.open(api, last_name="Okafor", date_of_birth="1990-05-06")
    for action, role in PLANNED:
        story.do(action, role)
    user = {role: api.get("/me", role).json()["id"] for role in ROLES}
    tiers = MATRIX["planned"]
    baseline = len(accounting(api, story))
    expected = []
    for role in ROLES:
        for suffix, what in (("", "view"), ("/events", "events"), (f"/{DOCUMENT}", "document")):
            response = api.get(story.path(suffix), role)
            assert response.status_code == (404 if tiers[role].tiers is None else 200), (role, suffix, response.text)
            if tiers[role].tiers is not None:
                expected.append((user[role], role, ORG[role], what, tiers[role].tiers))
    for role in ("hospital", "cps"):
        response = api.post("/lookup", role, {"last_name": "Okafor", "date_of_birth": "1990-05-06"})
        assert [m["id"] for m in response.json()["matches"]] == [story.id]
        expected.append((user[role], role, ORG[role], "lookup", [S]))
    for role in ("prenatal", "treatment", "peer", "analyst", "admin"):
        refused = api.post("/lookup", role, {"last_name": "Okafor", "date_of_birth": "1990-05-06"})
        assert refused.status_code == 403, refused.text
    expected.append((user["cps"], "cps", "county-cps", "disclosures", [S, P]))
    assert accounting(api, story)[baseline:] == expected


def test_refused_reads_are_not_recorded_as_disclosures(api: Api) -> None:
    """A refused request changes nothing (CONTRACT.md); reads that 404 for non-parties are not recorded."""
    story = Story.open(api)
    baseline = len(accounting(api, story))
    for role in ("peer", "treatment", "analyst", "admin"):
        for suffix in ("", "/events", f"/{DOCUMENT}", "/disclosures"):
            assert api.get(story.path(suffix), role).status_code == 404
    assert api.get(story.path("/disclosures"), "hospital").status_code == 403
    entries = accounting(api, story)
    assert [e[3] for e in entries[baseline:]] == ["disclosures"]


def test_a_refused_document_read_is_not_recorded_as_a_disclosure(api: Api) -> None:
    story = Story.open(api)
    baseline = len(accounting(api, story))
    assert api.get(story.path(f"/{DOCUMENT}"), "hospital").status_code == 403  # status tier only
    assert api.get(story.path(f"/{DOCUMENT}"), "cps").status_code == 404  # no plan yet
    entries = accounting(api, story)
    assert [e[3] for e in entries[baseline:]] == ["disclosures"], entries[baseline:]


# --- revocation, lookup, and the other endpoints -----------------------------------------------------------------


def test_revoking_consent_takes_effect_on_the_very_next_request(api: Api) -> None:
    story = Story.open(api)
    for action, role in PLANNED:
        story.do(action, role)
    assert api.get(story.path(), "peer").json()["tiers"] == [S, P]
    assert story.id in [c["id"] for c in api.get("/cases", "peer").json()["items"]]
    assert api.get(story.path(), "hospital").json()["tiers"] == [S, P]
    assert api.get(story.path(), "treatment").json()["tiers"] == [S, P, T]
    assert api.get(story.path(f"/{DOCUMENT}"), "hospital").status_code == 200

    story.do("revoke_consent", "peer")  # any case role may record the revocation, the peer network too

    found = Findings()
    found.refusal(api.get(story.path(), "peer"), 404, "peer view after revocation")
    found.refusal(api.get(story.path("/events"), "peer"), 404, "peer events after revocation")
    found.refusal(api.get(story.path(f"/{DOCUMENT}"), "peer"), 404, "peer document after revocation")
    found.refusal(api.post(story.path("/actions/record_declined"), "peer", {"data": {}}), 404, "peer act")
    found.check(story.id not in [c["id"] for c in api.get("/cases", "peer").json()["items"]], "peer list", "listed")
    found.check(api.get(story.path(), "hospital").json()["tiers"] == [S], "hospital", "still holds plan")
    found.refusal(api.get(story.path(f"/{DOCUMENT}"), "hospital"), 403, "hospital document after revocation")
    found.check(api.get(story.path(), "treatment").json()["tiers"] == [S, T], "treatment", "still holds plan")
    found.check(api.get(story.path(), "cps").json()["tiers"] == [S, P], "cps", "the lead lost its tiers")
    found.done()


def test_an_idempotent_replay_after_revocation_discloses_nothing(api: Api) -> None:
    story = Story.open(api)
    story.do("record_consent", "prenatal")
    due = date.fromisoformat(story.opening["due_date"])
    body = {"data": action_data("record_consent", api.clock.now(), due)}
    path = story.path("/actions/record_consent")
    first = api.post(path, "peer", body, headers={"Idempotency-Key": "peer-consent-1"})
    assert first.status_code == 200 and first.json()["tiers"] == [S, P]
    story.do("revoke_consent", "cps")
    assert api.get(story.path(), "peer").status_code == 404
    replay = api.post(path, "peer", body, headers={"Idempotency-Key": "peer-consent-1"})
    found = Findings()
    found.refusal(replay, 404, "peer replays its consent request after revocation")
    found.check("Rivera" not in replay.text, "peer replay", "the replayed answer names the parent")
    found.done()


def test_the_list_and_the_case_agree_on_consent_late_in_the_jurisdictions_day(api: Api) -> None:
    api.clock.set(datetime(2026, 11, 3, 2, 0, tzinfo=UTC))  # 21:00 on 2 November in New York
    story = Story.open(api)
    assert api.today() == date(2026, 11, 2)
    story.do("record_consent", "prenatal", expires_on="2026-11-03")
    assert api.get(story.path(), "peer").json()["tiers"] == [S, P]
    listed = {c["id"]: c for c in api.get("/cases", "peer").json()["items"]}
    assert story.id in listed and listed[story.id]["tiers"] == [S, P]


def test_the_lookup_returns_only_reference_plan_in_place_and_lead_contact(api: Api) -> None:
    story = Story.open(api, last_name="Okafor", date_of_birth="1990-05-06")
    story.do("record_consent", "prenatal")
    story.do("admit_to_treatment", "treatment")
    found = api.post("/lookup", "hospital", {"last_name": "Okafor", "date_of_birth": "1990-05-06"}).json()
    [match] = found["matches"]
    # Not the state: in_treatment (or investigation) would tell any hospital, party or not, what only the
    # treatment (or plan) tier may know.
    assert set(match) == {"id", "plan_in_place", "lead_contact"}, match
    assert match["id"] == story.id and match["plan_in_place"] is False


def test_roles_without_case_data_and_case_roles_that_may_not_open_or_look_up(api: Api) -> None:
    found = Findings()
    story = Story.open(api)
    for role in ("analyst", "admin"):
        found.refusal(api.get("/cases", role), 403, f"{role} GET /cases")
        found.refusal(api.get("/worklist", role), 403, f"{role} GET /worklist")
    for role in ("hospital", "analyst", "admin"):
        opened = api.post("/cases", role, {"workflow": "charm-posc", "data": identification(api.today())})
        found.refusal(opened, 403, f"{role} POST /cases")
    for role in ("prenatal", "treatment", "peer", "analyst", "admin"):
        body = {"last_name": "Rivera", "date_of_birth": "1996-04-12"}
        found.refusal(api.post("/lookup", role, body), 403, f"{role} POST /lookup")
    for role in ("cps", "treatment", "peer", "prenatal", "hospital"):
        response = api.get("/worklist", role)
        found.status(response, 200, f"{role} GET /worklist")
        found.check(not re.search(r"Rivera|Alex|1996-04-12", response.text), f"{role} worklist", "identifying data")
    found.check(api.get(story.path(), "cps").json()["version"] == 1, "case", "a refusal changed the case")
    found.done()
