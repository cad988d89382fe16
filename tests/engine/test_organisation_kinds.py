"""Organisations have a kind: forms declare the kinds each organisation field accepts (checked when definitions
load), the engine refuses an organisation of another kind and leaves everything as it was, a treatment program
admits only to itself, a user's role must suit its organisation's kind, and migration 0005 backfills the kinds of
an existing database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from engine import (
    ORGANISATION_KINDS,
    Actor,
    Cases,
    Database,
    FixedClock,
    InvalidForm,
    OrganisationRecord,
    SchemaOutOfDate,
    ensure_organisation,
    list_organisations,
    load_catalogue,
)
from engine.cases import CASES, DEADLINES, EVENTS, PARTIES
from engine.definitions.forms import PARTY_KINDS
from engine.organisations import ORGANISATIONS, kinds_of
from engine.users import USERS, add_user
from tests.engine.test_definitions import FORMS_DIR, WORKFLOW_TEXT, assert_reported, line_of, problems_of, replace
from tests.factories import ACTORS, KINDS, action_data, taken
from tests.pathway import drive, open_case, take

# --- the definitions ----------------------------------------------------------------------------------------------

#: form → organisation field (a `.` path inside a list of records) → the kinds it accepts (PATHWAY, Decisions).
DECLARED = {
    "identification": {"lead_cps_org": ["cps"], "delivery_hospital": ["hospital"]},
    "identification_amendment": {"delivery_hospital": ["hospital"], "lead_cps_org": ["cps"]},
    "treatment_referral": {"provider_org": ["treatment"]},
    "treatment_admission": {"provider_org": ["treatment"]},
    "universal_consent": {"organisations": list(PARTY_KINDS)},
    "meeting_schedule": {"invitees.organisation": list(PARTY_KINDS)},
}


def test_the_kinds() -> None:
    assert ORGANISATION_KINDS == ("cps", "treatment", "hospital", "prenatal", "peer", "state", "admin")
    assert PARTY_KINDS == ("cps", "treatment", "hospital", "prenatal", "peer")


def test_every_organisation_field_declares_its_kinds() -> None:
    catalogue = load_catalogue()
    found = {
        form_id: {".".join(path): list(kinds) for path, kinds in form.organisation_fields}
        for form_id, form in catalogue.forms.items() if form.organisation_fields
    }
    assert found == DECLARED


def test_the_json_schema_names_the_kinds_of_each_organisation_field() -> None:
    catalogue = load_catalogue()
    identification = catalogue.form("identification").json_schema()
    assert identification["properties"]["lead_cps_org"]["x-organisation-kinds"] == ["cps"]
    assert identification["properties"]["delivery_hospital"]["x-organisation-kinds"] == ["hospital"]
    assert "x-organisation-kinds" not in identification["properties"]["last_name"]
    meeting = catalogue.form("meeting_schedule").json_schema()
    record = meeting["$defs"]["meeting_schedule__invitees"]["properties"]
    assert record["organisation"]["x-organisation-kinds"] == list(PARTY_KINDS)


def test_the_admission_must_name_the_treatment_programs_own_organisation() -> None:
    workflow = load_catalogue().workflow("charm-posc")
    assert workflow.spec.actions["admit_to_treatment"].own_organisation == ["provider_org"]
    assert [a for a, spec in workflow.spec.actions.items() if spec.own_organisation] == ["admit_to_treatment"]


BROKEN_FORMS = {
    "an organisation field without kinds": (
        "treatment_admission", "    kinds: [treatment]\n", "", "- id: provider_org",
        "fields.1: an organisation field needs `kinds`: the organisation kinds it accepts (cps, treatment,",
    ),
    "an unknown kind": (
        "identification", "    kinds: [hospital]\n", "    kinds: [hopsital]\n", "kinds: [hopsital]",
        "fields.10.kinds: unknown organisation kind 'hopsital' (kinds: cps, treatment, hospital,",
    ),
    "no kinds at all": (
        "identification", "    kinds: [cps]\n", "    kinds: []\n", "kinds: []",
        "fields.11.kinds: `kinds` must name at least one organisation kind",
    ),
    "kinds on a text field": (
        "transfer", "    max_length: 200\n    help: The state,",
        "    max_length: 200\n    kinds: [cps]\n    help: The state,",
        "- id: receiving_jurisdiction", "fields.1: `kinds` applies only to organisation fields, not text",
    ),
    "an organisation field in a list of records without kinds": (
        "meeting_schedule", "        kinds: [cps, treatment, hospital, prenatal, peer]\n", "", "- id: organisation",
        "fields.2.fields.1: an organisation field needs `kinds`",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_FORMS.values()), ids=list(BROKEN_FORMS))
def test_a_form_with_wrong_kinds_is_reported_at_the_line_that_broke(tmp_path: Path, case: tuple[str, ...]) -> None:
    form, old, new, at, message = case
    text = replace((FORMS_DIR / f"{form}.yaml").read_text(encoding="utf-8"), old, new)
    path = tmp_path / f"{form}.yaml"
    path.write_text(text, encoding="utf-8")
    assert_reported(problems_of([path]), path, line_of(text, at), message)


@pytest.mark.parametrize(("fields", "message"), [
    ("[provider_organisation]", "own_organisation: form treatment_admission has no field 'provider_organisation'"),
    ("[level_of_care]", "own_organisation: treatment_admission.level_of_care is not an organisation field"),
])
def test_own_organisation_must_name_an_organisation_field_of_the_form(
    tmp_path: Path, fields: str, message: str
) -> None:
    text = replace(WORKFLOW_TEXT, "own_organisation: [provider_org]", f"own_organisation: {fields}")
    path = tmp_path / "charm-posc.yaml"
    path.write_text(text, encoding="utf-8")
    assert_reported(problems_of([path]), path, line_of(text, f"own_organisation: {fields}"),
                    f"action admit_to_treatment: {message}")


# --- organisations ---------------------------------------------------------------------------------------------


def test_a_new_organisation_needs_a_known_kind(db: Database, clock: FixedClock) -> None:
    for kind, message in ((None, "is required for a new organisation"), ("clinic", "unknown organisation kind")):
        with pytest.raises(InvalidForm) as refused:
            ensure_organisation(db, clock, "new-place", "New Place", kind=kind)
        [error] = refused.value.errors
        assert error.field == "org_kind" and message in error.message
    assert list_organisations(db) == []


def test_an_organisation_keeps_its_kind(db: Database, clock: FixedClock) -> None:
    made = ensure_organisation(db, clock, "county-cps", "County CPS", "555-0100", kind="cps")
    assert made == OrganisationRecord("county-cps", "County CPS", "555-0100", "cps")
    assert ensure_organisation(db, clock, "county-cps") == made
    assert ensure_organisation(db, clock, "county-cps", kind="cps") == made
    with pytest.raises(InvalidForm) as refused:
        ensure_organisation(db, clock, "county-cps", kind="hospital")
    [error] = refused.value.errors
    assert (error.field, error.message) == (
        "org_kind", "the organisation county-cps is already of kind cps; an organisation's kind never changes"
    )
    assert list_organisations(db) == [made]


def test_organisations_by_kind(db: Database, clock: FixedClock) -> None:
    ensure_organisation(db, clock, "valley-hospital", "Valley Hospital", kind="hospital")
    ensure_organisation(db, clock, "county-cps", "County CPS", kind="cps")
    ensure_organisation(db, clock, "city-hospital", "City Hospital", kind="hospital")
    assert [o.id for o in list_organisations(db)] == ["city-hospital", "county-cps", "valley-hospital"]
    assert [o.id for o in list_organisations(db, "hospital")] == ["city-hospital", "valley-hospital"]
    assert [o.id for o in list_organisations(db, ["cps", "hospital"])] == ["city-hospital", "county-cps",
                                                                           "valley-hospital"]
    assert list_organisations(db, "state") == []
    with pytest.raises(InvalidForm) as refused:
        list_organisations(db, "clinic")
    assert [e.field for e in refused.value.errors] == ["kind"]
    with db.read() as conn:
        assert kinds_of(conn, ["county-cps", "city-hospital", "nowhere"]) == {"county-cps": "cps",
                                                                              "city-hospital": "hospital"}
        assert kinds_of(conn, []) == {}


@pytest.mark.parametrize(("role", "kind"), [
    ("cps", "cps"), ("treatment", "treatment"), ("hospital", "hospital"), ("prenatal", "prenatal"), ("peer", "peer"),
    ("analyst", "state"), ("admin", "admin"),
])
def test_a_new_organisation_takes_the_kind_of_its_first_users_role(
    db: Database, clock: FixedClock, role: str, kind: str
) -> None:
    user, _ = add_user(db, clock, name="Someone", role=role, organisation=f"{role}-office")
    assert user.organisation == f"{role}-office"
    assert [(o.id, o.kind) for o in list_organisations(db)] == [(f"{role}-office", kind)]


def test_a_role_must_suit_its_organisations_kind(db: Database, clock: FixedClock) -> None:
    ensure_organisation(db, clock, "city-hospital", "City Hospital", kind="hospital")
    attempts: list[tuple[dict[str, Any], str, str]] = [
        ({"role": "cps", "organisation": "city-hospital"}, "role",
         "a cps user cannot belong to city-hospital, a hospital organisation"),
        ({"role": "analyst", "organisation": "new-office", "organisation_kind": "cps"}, "role",
         "an analyst user cannot belong to new-office, a cps organisation (an analyst user belongs to a state "
         "organisation)"),
        ({"role": "hospital", "organisation": "city-hospital", "organisation_kind": "cps"}, "org_kind",
         "already of kind hospital"),
        ({"role": "cps", "organisation": "new-office", "organisation_kind": "clinic"}, "org_kind",
         "unknown organisation kind 'clinic'"),
    ]
    for changes, field, message in attempts:
        with pytest.raises(InvalidForm) as refused:
            add_user(db, clock, name="Someone", **changes)
        [error] = refused.value.errors
        assert error.field == field and message in error.message, (changes, error)
    assert [o.id for o in list_organisations(db)] == ["city-hospital"]  # a refused user leaves no organisation
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(USERS)).scalar() == 0
    user, _ = add_user(
        db, clock, name="Nurse", role="hospital", organisation="city-hospital", organisation_kind="hospital"
    )
    assert user.organisation == "city-hospital"


# --- the engine refuses a wrong kind -------------------------------------------------------------------------------


def snapshot(cases: Cases) -> dict[str, Any]:
    with cases.db.read() as conn:
        return {
            "cases": [dict(r) for r in conn.execute(select(CASES).order_by(CASES.c.id)).mappings()],
            "events": conn.execute(select(func.count()).select_from(EVENTS)).scalar(),
            "deadlines": conn.execute(select(func.count()).select_from(DEADLINES)).scalar(),
            "parties": conn.execute(select(func.count()).select_from(PARTIES)).scalar(),
        }


def refused(attempt: Any) -> dict[str, str]:
    with pytest.raises(InvalidForm) as raised:
        attempt()
    return {e.field: e.message for e in raised.value.errors}


def test_a_hospital_cannot_lead_as_cps_and_nothing_is_stored(cases: Cases, clock: FixedClock) -> None:
    before = snapshot(cases)
    errors = refused(lambda: open_case(cases, clock, lead_cps_org="city-hospital", delivery_hospital="county-cps"))
    assert errors == {
        "lead_cps_org": "city-hospital is a hospital organisation; this field takes a cps organisation",
        "delivery_hospital": "county-cps is a cps organisation; this field takes a hospital organisation",
    }
    assert snapshot(cases) == before
    assert "unknown organisation 'nowhere'" in refused(lambda: open_case(cases, clock, lead_cps_org="nowhere"))[
        "lead_cps_org"]
    assert snapshot(cases) == before


def test_a_referral_names_a_treatment_program(cases: Cases, clock: FixedClock) -> None:
    case = open_case(cases, clock)
    before = snapshot(cases)
    errors = refused(lambda: take(cases, clock, case, "refer_to_treatment", provider_org="peer-network"))
    assert errors == {"provider_org": "peer-network is a peer organisation; this field takes a treatment organisation"}
    assert snapshot(cases) == before


def test_a_treatment_program_admits_only_to_itself(db: Database, cases: Cases, clock: FixedClock) -> None:
    ensure_organisation(db, clock, "harbor-recovery", "Harbor Recovery", kind="treatment")
    case = drive(cases, clock, open_case(cases, clock), "referred")
    before = snapshot(cases)
    errors = refused(lambda: take(cases, clock, case, "admit_to_treatment", provider_org="harbor-recovery"))
    assert errors == {"provider_org": "a treatment program records a treatment admission only for itself "
                                      "(your organisation is recovery-clinic)"}
    # Another kind of organisation is named as such; an unknown one as unknown (one error per field).
    assert "city-hospital is a hospital organisation" in refused(
        lambda: take(cases, clock, case, "admit_to_treatment", provider_org="city-hospital"))["provider_org"]
    assert refused(lambda: take(cases, clock, case, "admit_to_treatment", provider_org="nowhere")) == {
        "provider_org": "unknown organisation 'nowhere'"
    }
    assert snapshot(cases) == before
    assert take(cases, clock, case, "admit_to_treatment").state == "in_treatment"


def test_another_treatment_program_admits_to_itself(db: Database, cases: Cases, clock: FixedClock) -> None:
    ensure_organisation(db, clock, "harbor-recovery", "Harbor Recovery", kind="treatment")
    case = drive(cases, clock, open_case(cases, clock), "in_treatment")  # consent names every standard organisation
    harbor = Actor("harbor-user", "treatment", "harbor-recovery")
    data = {**action_data("admit_to_treatment", clock.now(), clock.now().date()), "provider_org": "harbor-recovery"}
    take(cases, clock, case, "record_disengagement")
    consent = {**action_data("record_consent", clock.now(), clock.now().date()),
               "organisations": ["county-cps", "harbor-recovery"], "categories": ["status", "plan", "treatment"]}
    taken(cases, ACTORS["prenatal"], case.id, "record_consent", consent)
    assert taken(cases, harbor, case.id, "admit_to_treatment", data).facts["treatment_org"] == "harbor-recovery"


@pytest.mark.parametrize(("org_id", "kind"), [("state-analytics", "state"), ("posc-admin", "admin")])
def test_a_consent_names_only_organisations_that_take_part_in_cases(
    db: Database, cases: Cases, clock: FixedClock, org_id: str, kind: str
) -> None:
    ensure_organisation(db, clock, org_id, kind=kind)
    case = open_case(cases, clock)
    before = snapshot(cases)
    errors = refused(lambda: take(cases, clock, case, "record_consent", organisations=["county-cps", org_id]))
    assert errors == {"organisations[1]": f"{org_id} is {'an' if kind == 'admin' else 'a'} {kind} organisation; "
                                          "this field takes a cps, treatment, hospital, prenatal or peer organisation"}
    assert snapshot(cases) == before
    assert take(cases, clock, case, "record_consent").version == 2


def test_meeting_invitees_name_organisations_that_take_part_in_cases(
    db: Database, cases: Cases, clock: FixedClock
) -> None:
    ensure_organisation(db, clock, "state-analytics", kind="state")
    case = drive(cases, clock, open_case(cases, clock), "in_treatment")
    invitees = [{"role": "parent"}, {"role": "cps", "organisation": "county-cps"},
                {"role": "other", "organisation": "state-analytics"}]
    before = snapshot(cases)
    errors = refused(lambda: take(cases, clock, case, "schedule_planning_meeting", invitees=invitees))
    assert list(errors) == ["invitees[2].organisation"]
    assert snapshot(cases) == before
    assert take(cases, clock, case, "schedule_planning_meeting", invitees=invitees[:2]).state == "meeting_scheduled"


# --- migration 0005 ----------------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


#: organisation → (its users' roles, oldest first; the party roles it plays on cases) → the kind 0005 gives it.
OLD_ORGANISATIONS: dict[str, tuple[list[str], list[str], str]] = {
    "county-cps": (["cps"], ["cps"], "cps"),
    "state-analytics": (["analyst"], [], "state"),
    "posc-admin": (["admin"], [], "admin"),
    "recovery-clinic": (["treatment", "treatment"], ["treatment", "opened_by"], "treatment"),
    "first-user-wins": (["hospital", "cps"], [], "hospital"),
    "lead-without-users": ([], ["cps"], "cps"),
    "hospital-without-users": ([], ["hospital", "opened_by"], "hospital"),
    "opener-without-users": ([], ["opened_by", "consent:x"], "prenatal"),
    "treating-without-users": ([], ["opened_by", "treatment"], "treatment"),
    "nothing-known": ([], [], "prenatal"),
}


def test_migration_0005_backfills_the_kinds_of_an_existing_database(empty_database: Database) -> None:
    database = empty_database
    database.upgrade("0004")
    with database.engine.begin() as conn:
        conn.execute(insert(ORGANISATIONS), [
            {"id": org, "name": org.title(), "contact": None, "created_at": T0} for org in OLD_ORGANISATIONS
        ])
        users = []
        for org, (roles, _, _) in OLD_ORGANISATIONS.items():
            for index, role in enumerate(roles):
                users.append({"id": f"u-{org}-{index}", "name": "Someone", "role": role, "organisation": org,
                              "key_id": f"k-{org}-{index}", "key_hash": "0" * 64,
                              "created_at": T0.replace(minute=index), "revoked_at": None})
        conn.execute(insert(USERS), users)
        parties = [(org, party) for org, (_, played, _) in OLD_ORGANISATIONS.items() for party in played]
        for index, (org, party) in enumerate(parties):
            conn.execute(insert(CASES), {
                "id": f"PC-OLD-{index:04d}", "workflow_id": "charm-posc", "workflow_version": 1, "state": "identified",
                "phase": "prenatal", "version": 1, "data": {}, "facts": {}, "parties": {party: org},
                "last_hash": "0" * 64, "lookup_key": None, "opened_at": T0, "updated_at": T0,
            })
            conn.execute(insert(PARTIES), {"case_id": f"PC-OLD-{index:04d}", "party": party, "organisation": org})
    with pytest.raises(SchemaOutOfDate, match="run `posc db upgrade`"):
        database.ensure_schema()

    database.upgrade()
    database.ensure_schema()
    assert database.current_revision() == database.head_revision()
    found = {o.id: o.kind for o in list_organisations(database)}
    assert found == {org: kind for org, (_, _, kind) in OLD_ORGANISATIONS.items()}
    with pytest.raises(IntegrityError), database.engine.begin() as conn:  # the kind is NOT NULL
        conn.execute(insert(ORGANISATIONS), {"id": "no-kind", "name": "No kind", "kind": None, "created_at": T0})

    with database.engine.begin() as conn:  # and the migration goes back down, and up again
        command.downgrade(database.alembic_config(conn), "0004")
    assert database.current_revision() == "0004"
    database.upgrade()
    assert {o.id: o.kind for o in list_organisations(database)} == found


def test_a_fresh_database_has_the_kind_column(db: Database, clock: FixedClock) -> None:
    for org_id, kind in KINDS.items():
        ensure_organisation(db, clock, org_id, kind=kind)
    with db.read() as conn:
        assert dict(conn.execute(select(ORGANISATIONS.c.id, ORGANISATIONS.c.kind)).all()) == KINDS
