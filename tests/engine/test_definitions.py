"""The definition checker: the shipped pathway loads and matches PATHWAY.md, and every kind of broken definition is
reported as `file:line: message` at the line that broke it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.definitions import CompiledWorkflow, check_files, load_catalogue
from engine.definitions.workflow import Duration
from engine.errors import DefinitionError

REPO = Path(__file__).resolve().parents[2]
WORKFLOW_FILE = REPO / "workflows" / "charm-posc.yaml"
FORMS_DIR = REPO / "forms"
WORKFLOW_TEXT = WORKFLOW_FILE.read_text(encoding="utf-8")

# --- PATHWAY.md, transcribed ------------------------------------------------------------------------------------

STATES = {
    "identified": "prenatal",
    "referred": "prenatal",
    "in_treatment": "prenatal",
    "disengaged": "prenatal",
    "declined": "prenatal",
    "meeting_scheduled": "prenatal",
    "plan_agreed": "prenatal",
    "born_with_plan": "birth",
    "born_without_plan": "birth",
    "notified": "birth",
    "cps_assessment": "birth",
    "follow_up": "postnatal",
    "investigation": "postnatal",
    "closed": "closure",
}
PRENATAL = [s for s, phase in STATES.items() if phase == "prenatal"]
OPEN = [s for s in STATES if s != "closed"]
CASE_ROLES = {"cps", "treatment", "peer", "prenatal", "hospital"}

#: action → (source states, target: a state, "same", or None when the target depends on the data), roles, form.
ACTIONS: dict[str, tuple[list[str], str | None, set[str], str]] = {
    "record_consent": (PRENATAL, "same", {"prenatal", "treatment", "peer", "cps"}, "universal_consent"),
    "revoke_consent": (OPEN, "same", CASE_ROLES, "consent_revocation"),
    "refer_to_treatment": (["identified", "declined"], "referred", {"prenatal", "peer", "cps", "treatment"},
                           "treatment_referral"),
    "record_interim_services": (["referred"], "same", {"treatment"}, "interim_services"),
    # Decisions: treatment is its own track; in meeting_scheduled and plan_agreed the state stays.
    "admit_to_treatment": (PRENATAL, None, {"treatment"}, "treatment_admission"),
    "record_treatment_progress": (OPEN, "same", {"treatment"}, "treatment_progress"),
    # Decisions: corrections, by the lead CPS office or the organisation that identified the parent.
    "amend_identification": (OPEN, "same", {"cps", "prenatal", "treatment", "peer"}, "identification_amendment"),
    "record_disengagement": (["in_treatment"], "disengaged", {"treatment", "peer"}, "disengagement"),
    "record_declined": (["identified", "referred", "disengaged"], "declined", CASE_ROLES, "declination"),
    "schedule_planning_meeting": (["identified", "referred", "in_treatment", "disengaged", "declined"],
                                  "meeting_scheduled", {"cps", "treatment", "peer"}, "meeting_schedule"),
    "record_planning_meeting": (["meeting_scheduled"], "plan_agreed", {"cps"}, "plan_of_safe_care"),
    "update_plan": (["plan_agreed", "cps_assessment", "follow_up", "investigation"], "same", {"cps"},
                    "plan_of_safe_care"),
    "record_birth": (PRENATAL, None, {"hospital"}, "birth_event"),
    "notify_cps": (["born_with_plan", "born_without_plan"], None, {"hospital"}, "capta_notification"),
    "record_plan_at_birth": (["cps_assessment"], "same", {"cps"}, "plan_of_safe_care"),
    "record_referral": (["born_with_plan", "born_without_plan", "notified", "cps_assessment", "follow_up",
                         "investigation"], "same",
                        {"cps", "hospital", "peer", "treatment"}, "service_referral"),
    "discharge": (["notified", "cps_assessment"], "follow_up", {"hospital"}, "discharge"),
    "record_follow_up": (["follow_up", "investigation"], "same", {"cps", "peer", "treatment"}, "follow_up_contact"),
    "report_safety_concern": (["follow_up"], "investigation", {"cps", "hospital", "peer", "treatment"},
                              "safety_concern"),
    "conclude_investigation": (["investigation"], None, {"cps"}, "investigation_outcome"),
    "record_pregnancy_loss": (PRENATAL, "closed", {"prenatal", "hospital", "cps"}, "pregnancy_loss"),
    "transfer_out": (OPEN, "closed", {"cps"}, "transfer"),
    "close_case": (["follow_up", "declined"], "closed", {"cps"}, "closure"),
}

#: deadline → (target, due, met by); planning_meeting's spans count from its opening, due date minus 30 days.
DEADLINES = {
    "treatment_admission": ("72h", "7d", {"admit_to_treatment"}),
    "interim_services": ("24h", "48h", {"record_interim_services", "admit_to_treatment"}),
    "consent": ("7d", "14d", {"record_consent"}),
    "re_engagement": ("72h", "7d", {"admit_to_treatment"}),
    "planning_meeting": ("16d", "30d", {"record_planning_meeting"}),
    "capta_notification": ("24h", "48h", {"notify_cps"}),
    "plan_before_discharge": ("48h", "5d", {"record_plan_at_birth"}),
    "early_intervention_referral": ("3d", "7d", {"record_referral"}),
    "newborn_visit": ("48h", "72h", {"record_follow_up"}),
    "postpartum_contact": ("14d", "21d", {"record_follow_up"}),
    "follow_up_30": ("30d", "37d", {"record_follow_up"}),
    "follow_up_90": ("90d", "104d", {"record_follow_up"}),
    "monitoring_period": ("12mo", "12mo", {"close_case", "conclude_investigation"}),
}

#: form → its PATHWAY field ids; `?` marks an optional field.
FORM_FIELDS = {
    "identification": ["first_name", "last_name", "date_of_birth", "phone?", "identified_on", "due_date",
                       "gestational_weeks", "identified_by", "substances", "on_moud", "delivery_hospital",
                       "lead_cps_org"],
    "universal_consent": ["signed_on", "organisations", "categories", "purpose", "expires_on", "signature_method",
                          "witness?"],
    "consent_revocation": ["revoked_on", "communicated_by"],
    "treatment_referral": ["referred_on", "provider_org", "level_of_care", "priority_requested"],
    "interim_services": ["started_on", "services"],
    "treatment_admission": ["admitted_on", "provider_org", "level_of_care", "moud", "peer_support"],
    "treatment_progress": ["recorded_on", "status", "moud_adherence?", "last_attended_on?"],
    "identification_amendment": ["first_name?", "last_name?", "date_of_birth?", "phone?", "identified_on?",
                                 "due_date?", "delivery_hospital?", "lead_cps_org?", "reason"],
    "disengagement": ["last_attended_on", "reason?", "outreach_planned"],
    "declination": ["declined_on", "offered", "reason?"],
    "meeting_schedule": ["meeting_date", "location", "invitees"],
    "plan_of_safe_care": ["meeting_date", "participants", "parent_participated", "infant_services",
                          "caregiver_services", "family_services", "safety_considerations?", "discharge_arrangement"],
    "birth_event": ["born_at", "gestational_weeks", "birth_weight_grams", "withdrawal_signs", "infant_toxicology",
                    "parent_toxicology", "fasd_concern", "substance_affected", "safety_concern",
                    "safety_concern_details?"],
    "capta_notification": ["notified_on", "method", "safety_concern", "details?"],
    "service_referral": ["service", "provider", "referred_on", "status"],
    "discharge": ["discharged_on", "discharged_to", "pediatric_appointment_on", "referrals"],
    "follow_up_contact": ["contact_on", "contact_type", "concerns", "notes?"],
    "safety_concern": ["reported_on", "description"],
    "investigation_outcome": ["concluded_on", "outcome", "ends_case"],
    "pregnancy_loss": ["occurred_on", "notes?"],
    "transfer": ["transferred_on", "receiving_jurisdiction", "receiving_agency?"],
    "closure": ["closed_on", "reason", "notes?"],
}
SERVICE = ["service", "provider", "status", "responsible", "target_date?"]
RECORD_FIELDS = {
    ("meeting_schedule", "invitees"): ["role", "organisation"],
    ("plan_of_safe_care", "participants"): ["name", "role", "organisation"],
    ("plan_of_safe_care", "infant_services"): SERVICE,
    ("plan_of_safe_care", "caregiver_services"): SERVICE,
    ("plan_of_safe_care", "family_services"): SERVICE,
}
#: (form, field) → allowed values; `yes_no` for a yes/no field.
CHOICES = {
    ("identification", "identified_by"): ["prenatal_screening", "self_referral", "treatment_provider", "cps",
                                          "hospital", "other"],
    ("identification", "substances"): ["opioids", "stimulants", "alcohol", "cannabis", "sedatives", "tobacco",
                                       "other"],
    ("identification", "on_moud"): ["yes", "no", "unknown"],
    ("universal_consent", "categories"): ["status", "plan", "treatment"],
    ("universal_consent", "signature_method"): ["written", "electronic"],
    ("consent_revocation", "communicated_by"): ["written", "verbal", "electronic"],
    ("treatment_referral", "level_of_care"): ["outpatient", "intensive_outpatient", "residential",
                                              "opioid_treatment_program", "office_based"],
    ("treatment_referral", "priority_requested"): "yes_no",
    ("interim_services", "services"): ["counselling", "hiv_tb_education", "prenatal_care_referral", "other"],
    ("treatment_admission", "moud"): ["methadone", "buprenorphine", "naltrexone", "none"],
    ("treatment_admission", "peer_support"): "yes_no",
    ("disengagement", "outreach_planned"): "yes_no",
    ("plan_of_safe_care", "parent_participated"): "yes_no",
    ("birth_event", "withdrawal_signs"): ["none", "monitoring", "treated"],
    ("birth_event", "infant_toxicology"): ["not_done", "negative", "positive"],
    ("birth_event", "parent_toxicology"): ["not_done", "negative", "positive"],
    ("birth_event", "fasd_concern"): "yes_no",
    ("birth_event", "substance_affected"): "yes_no",
    ("birth_event", "safety_concern"): "yes_no",
    ("capta_notification", "method"): ["portal", "phone", "electronic", "other"],
    ("capta_notification", "safety_concern"): "yes_no",
    ("service_referral", "service"): ["early_intervention", "home_visiting", "pediatric_care", "treatment",
                                      "mental_health", "housing", "other"],
    ("service_referral", "status"): ["referred", "accepted", "engaged", "declined", "completed"],
    ("discharge", "discharged_to"): ["parent", "relative", "foster_care", "other"],
    ("discharge", "referrals"): ["early_intervention", "home_visiting", "other"],
    ("follow_up_contact", "contact_type"): ["home_visit", "phone", "pediatric_visit", "postpartum_visit",
                                            "treatment_check_in"],
    ("follow_up_contact", "concerns"): "yes_no",
    ("investigation_outcome", "outcome"): ["no_concern", "services_provided", "removal", "other"],
    ("investigation_outcome", "ends_case"): "yes_no",
    ("closure", "reason"): ["plan_completed", "transferred", "moved_away", "pregnancy_loss", "parent_declined",
                            "other"],
}


@pytest.fixture(scope="module")
def workflow() -> CompiledWorkflow:
    return load_catalogue().workflow("charm-posc", 1)


# --- the shipped definitions -------------------------------------------------------------------------------------


def test_shipped_definitions_load_without_problems() -> None:
    reports, catalogue = check_files()
    assert [p for r in reports for p in r.problems] == []
    assert sorted(r.path.name for r in reports if r.kind == "form") == sorted(f"{f}.yaml" for f in FORM_FIELDS)
    assert [r.path.name for r in reports if r.kind == "workflow"] == ["charm-posc.yaml"]
    assert set(catalogue.forms) == set(FORM_FIELDS)
    assert set(catalogue.workflows) == {("charm-posc", 1)}
    assert catalogue.workflow("charm-posc") is catalogue.workflow("charm-posc", 1)


def test_the_shipped_folders_check_the_same_as_the_default() -> None:
    reports, catalogue = check_files([FORMS_DIR, WORKFLOW_FILE.parent])
    assert [p for r in reports for p in r.problems] == []
    assert len(reports) == len(FORM_FIELDS) + 1
    assert set(catalogue.workflows) == {("charm-posc", 1)}


def test_states_and_their_phases(workflow: CompiledWorkflow) -> None:
    assert {s: workflow.phase(s) for s in workflow.states} == STATES
    assert [s for s in workflow.states if workflow.is_terminal(s)] == ["closed"]
    assert workflow.initial == "identified"
    assert list(workflow.spec.phases) == ["prenatal", "birth", "postnatal", "closure"]


def test_actions_are_the_pathway_actions(workflow: CompiledWorkflow) -> None:
    assert len(ACTIONS) == 23
    assert set(workflow.actions) == set(ACTIONS)


@pytest.mark.parametrize("name", list(ACTIONS))
def test_each_action_has_the_pathway_sources_roles_and_form(workflow: CompiledWorkflow, name: str) -> None:
    sources, target, roles, form = ACTIONS[name]
    action = workflow.actions[name]
    assert action.sources == frozenset(sources)
    assert action.roles == frozenset(roles)
    assert action.form.id == form
    if target is not None:
        for state in sources:
            expected = state if target == "same" else target
            assert action.targets_from(state) == [expected], state
            assert workflow.fire(name, state, {}) == expected, state


def test_opening_a_case(workflow: CompiledWorkflow) -> None:
    assert workflow.open.roles == frozenset({"prenatal", "treatment", "peer", "cps"})
    assert workflow.open.form.id == "identification"
    assert workflow.open.branches[0].target == "identified"


@pytest.mark.parametrize("state", PRENATAL)
def test_record_birth_goes_with_plan_only_from_plan_agreed(workflow: CompiledWorkflow, state: str) -> None:
    expected = "born_with_plan" if state == "plan_agreed" else "born_without_plan"
    assert workflow.actions["record_birth"].targets_from(state) == [expected]
    for safety_concern in ("yes", "no"):
        assert workflow.fire("record_birth", state, {"safety_concern": safety_concern}) == expected


@pytest.mark.parametrize(
    ("state", "safety_concern", "expected"),
    [
        ("born_with_plan", "no", "notified"),
        ("born_with_plan", "yes", "cps_assessment"),
        ("born_without_plan", "no", "cps_assessment"),
        ("born_without_plan", "yes", "cps_assessment"),
    ],
)
def test_notify_cps_avoids_an_assessment_only_with_a_plan_and_no_concern(
    workflow: CompiledWorkflow, state: str, safety_concern: str, expected: str
) -> None:
    calm_birth = {"birth_safety_concern": "no"}
    assert workflow.fire("notify_cps", state, {"safety_concern": safety_concern}, calm_birth) == expected


def test_a_safety_concern_at_birth_leads_to_an_assessment_whatever_the_notification_says(
    workflow: CompiledWorkflow,
) -> None:
    worried_birth = {"birth_safety_concern": "yes"}
    assert workflow.fire("notify_cps", "born_with_plan", {"safety_concern": "no"}, worried_birth) == "cps_assessment"


def test_admission_after_the_meeting_is_scheduled_records_it_and_keeps_the_state(workflow: CompiledWorkflow) -> None:
    for state in ("meeting_scheduled", "plan_agreed"):
        assert workflow.fire("admit_to_treatment", state, {}) == state
    for state in ("identified", "referred", "in_treatment", "disengaged", "declined"):
        assert workflow.fire("admit_to_treatment", state, {}) == "in_treatment"


def test_notify_cps_targets(workflow: CompiledWorkflow) -> None:
    notify = workflow.actions["notify_cps"]
    assert notify.targets_from("born_with_plan") == ["notified", "cps_assessment"]
    assert notify.targets_from("born_without_plan") == ["cps_assessment"]
    assert notify.targets_from("plan_agreed") == []
    assert workflow.fire("notify_cps", "born_with_plan", {}) == "cps_assessment"


@pytest.mark.parametrize(("ends_case", "expected"), [("yes", "closed"), ("no", "follow_up")])
def test_conclude_investigation_closes_only_when_the_outcome_ends_the_case(
    workflow: CompiledWorkflow, ends_case: str, expected: str
) -> None:
    assert workflow.actions["conclude_investigation"].targets_from("investigation") == ["closed", "follow_up"]
    assert workflow.fire("conclude_investigation", "investigation", {"ends_case": ends_case}) == expected


def test_deadlines_are_the_pathway_deadlines(workflow: CompiledWorkflow) -> None:
    assert len(DEADLINES) == 13
    assert set(workflow.deadlines) == set(DEADLINES)


@pytest.mark.parametrize("name", list(DEADLINES))
def test_each_deadline_has_the_pathway_timing(workflow: CompiledWorkflow, name: str) -> None:
    target, due, met_by = DEADLINES[name]
    deadline = workflow.deadlines[name]
    assert deadline.target.approx_hours() == Duration.parse(target).approx_hours()
    assert deadline.due.approx_hours() == Duration.parse(due).approx_hours()
    assert {m.action for m in deadline.met_by} == met_by


def test_planning_meeting_deadline_opens_30_days_before_the_due_date(workflow: CompiledWorkflow) -> None:
    deadline = workflow.deadlines["planning_meeting"]
    assert (deadline.opens_date, deadline.offset.approx_hours()) == ("due_date", -30 * 24)


@pytest.mark.parametrize("form_id", list(FORM_FIELDS))
def test_each_form_has_the_pathway_fields(form_id: str) -> None:
    spec = load_catalogue().form(form_id).spec
    required = {f.id: f.required for f in spec.fields}
    for entry in FORM_FIELDS[form_id]:
        field_id = entry.rstrip("?")
        assert field_id in required, f"{form_id} has no field {field_id}"
        assert required[field_id] is not entry.endswith("?"), f"{form_id}.{field_id} required"
    listed = {e.rstrip("?") for e in FORM_FIELDS[form_id]}
    extra = [f for f, is_required in required.items() if f not in listed and is_required]
    assert extra == [], f"{form_id} adds required fields PATHWAY does not list"


@pytest.mark.parametrize(("form_id", "field_id"), list(RECORD_FIELDS))
def test_record_fields(form_id: str, field_id: str) -> None:
    spec = load_catalogue().form(form_id).spec.field(field_id)
    assert spec is not None and spec.type == "records"
    fields = {f.id: f.required for f in spec.fields or []}
    for entry in RECORD_FIELDS[(form_id, field_id)]:
        assert entry.rstrip("?") in fields, entry
        if entry.endswith("?"):
            assert fields[entry.rstrip("?")] is False, entry


@pytest.mark.parametrize(("form_id", "field_id"), list(CHOICES))
def test_allowed_values(form_id: str, field_id: str) -> None:
    spec = load_catalogue().form(form_id).spec.field(field_id)
    assert spec is not None
    if CHOICES[(form_id, field_id)] == "yes_no":
        assert spec.type == "yes_no"
    else:
        assert spec.type in ("choice", "multi_choice")
        assert spec.choices == CHOICES[(form_id, field_id)]


# --- broken workflows ------------------------------------------------------------------------------------------


def replace(text: str, old: str, new: str, *, within: str | None = None) -> str:
    """`text` with the first `old` (after `within`, when given) replaced; fails loudly if `old` is not there."""
    start = text.index(within) if within is not None else 0
    at = text.find(old, start)
    assert at >= 0, f"{old!r} not found"
    return text[:at] + new + text[at + len(old):]


def line_of(text: str, marker: str) -> int:
    """The 1-based line of the only line of `text` containing `marker` (starting with it, if it starts with ^)."""
    if marker.startswith("^"):
        lines = [n for n, line in enumerate(text.splitlines(), start=1) if line.startswith(marker[1:])]
    else:
        lines = [n for n, line in enumerate(text.splitlines(), start=1) if marker in line]
    assert len(lines) == 1, f"{marker!r} is on lines {lines}"
    return lines[0]


def problems_of(paths: list[Path]) -> list[str]:
    reports, _ = check_files(paths)
    return [p for r in reports for p in r.problems]


def assert_reported(problems: list[str], path: Path, line: int, message: str) -> None:
    assert any(p.startswith(f"{path}:{line}: ") and message in p for p in problems), (
        f"expected {path.name}:{line}: ...{message}..., got:\n" + "\n".join(problems)
    )


@dataclass(frozen=True)
class Breakage:
    """One small textual change to the shipped workflow, the line it breaks and the message naming the problem."""

    old: str
    new: str
    #: A text found only on the line the problem must be reported at, in the broken file.
    at: str
    message: str
    within: str | None = None


BREAKAGES = {
    "malformed YAML": Breakage(
        "    title: Record universal consent\n", "    title: Record: universal consent\n",
        at="title: Record: universal consent", message="malformed YAML: mapping values are not allowed here",
    ),
    "malformed YAML (tab)": Breakage(
        "    roles: [treatment]\n", "\troles: [treatment]\n",
        at="\troles: [treatment]", message="malformed YAML: found character '\\t' that cannot start any token",
    ),
    "unknown key": Breakage(
        "    title: Refer to treatment\n", "    title: Refer to treatment\n    colour: blue\n",
        at="colour: blue", message="actions.refer_to_treatment.colour: is not a known key here",
    ),
    "missing key": Breakage(
        "    title: Refer to treatment\n", "",
        at="^  refer_to_treatment:", message="actions.refer_to_treatment.title: is required",
    ),
    "unknown state in from": Breakage(
        "from: [identified, declined]", "from: [identified, declinde]",
        at="from: [identified, declinde]", message="action refer_to_treatment: unknown state 'declinde' in from",
    ),
    "unknown phase group in from": Breakage(
        'from: "*prenatal"\n    to: same', 'from: "*antenatal"\n    to: same',
        at='from: "*antenatal"', message="action record_consent: unknown state '*antenatal' in from",
    ),
    "unknown target state": Breakage(
        "    to: referred\n", "    to: refered\n",
        at="to: refered", message="action refer_to_treatment: unknown target state 'refered'",
    ),
    "unknown target state in a branch": Breakage(
        "to: follow_up}", "to: folow_up}",
        at="to: folow_up}", message="action conclude_investigation: unknown target state 'folow_up'",
    ),
    "unknown form": Breakage(
        "form: treatment_referral", "form: treatment_referal",
        at="form: treatment_referal", message="unknown form 'treatment_referal'",
    ),
    "unknown role": Breakage(
        "    roles: [treatment]\n", "    roles: [treatmnet]\n",
        at="roles: [treatmnet]", message="unknown role 'treatmnet' (roles: cps, treatment, peer, prenatal, hospital)",
        within="  record_interim_services:",
    ),
    "unknown guard": Breakage(
        "{guard: not_in_future, field: started_on}", "{guard: not_in_the_future, field: started_on}",
        at="not_in_the_future", message="unknown guard 'not_in_the_future' (known: actor_is_party, any_record,",
    ),
    "guard parameter of the wrong type": Breakage(
        "days_before: 30,", "days_before: soon,",
        at="days_before: soon", message="guard date_in_window: parameter days_before: Input should be a valid integer",
    ),
    "guard parameter missing": Breakage(
        "{guard: not_in_future, field: started_on}", "{guard: not_in_future}",
        at="{guard: not_in_future}", message="guard not_in_future: parameter field: is required",
    ),
    "guard parameter unknown": Breakage(
        "{guard: not_in_future, field: started_on}", "{guard: not_in_future, field: started_on, colour: red}",
        at="colour: red", message="guard not_in_future: parameter colour: is not a parameter of this guard",
    ),
    "guard parameter naming no form field": Breakage(
        "{guard: not_in_future, field: started_on}", "{guard: not_in_future, field: started}",
        at="field: started}", message="guard not_in_future: form interim_services has no field 'started'",
    ),
    "guard parameter naming no case value": Breakage(
        "after_case: discharged_on", "after_case: discharge_date",
        at="after_case: discharge_date", message="guard date_after: the case holds no value 'discharge_date'",
    ),
    "guard on an unknown deadline": Breakage(
        "{guard: deadline_met, deadline: follow_up_90,", "{guard: deadline_met, deadline: follow_up_60,",
        at="deadline: follow_up_60", message="guard deadline_met: unknown deadline 'follow_up_60'",
    ),
    "state no path reaches": Breakage(
        "  plan_agreed: {phase", "  limbo: {phase: prenatal}\n  plan_agreed: {phase",
        at="limbo:", message="state limbo: no path reaches it from identified",
    ),
    "deadline nothing can meet": Breakage(
        "met_by: [{action: admit_to_treatment, at: admitted_on}]", "met_by: [{action: record_interim_services}]",
        at="met_by: [{action: record_interim_services}]", within="  re_engagement:",
        message="deadline re_engagement: nothing can meet it (no met_by action can be taken in a state it applies in)",
    ),
    "deadline met by an unknown action": Breakage(
        "met_by: [{action: notify_cps, at: notified_on}]", "met_by: [{action: notify_hospital}]",
        at="notify_hospital", message="deadline capta_notification: unknown action 'notify_hospital' in met_by",
    ),
    "deadline opening on an unknown action": Breakage(
        "opens: {event: refer_to_treatment, at: referred_on}", "opens: {event: refer_treatment}",
        at="refer_treatment}", message="deadline interim_services: unknown action 'refer_treatment'",
    ),
    "deadline running where nothing can meet it": Breakage(
        "applies_in: [disengaged]", "applies_in: [disengaged, closed, follow_up]",
        at="applies_in: [disengaged, closed, follow_up]", within="  re_engagement:",
        message="deadline re_engagement: it keeps running in follow_up, where nothing can meet it",
    ),
    "deadline clock at a date the case does not hold": Breakage(
        "opens: {event: open_case, at: identified_on}", "opens: {event: open_case, at: identified_at}",
        at="at: identified_at", within="  treatment_admission:",
        message="deadline treatment_admission: neither the open_case form nor the case holds a date or time "
        "'identified_at'",
    ),
    "deadline met at a field that is not a date": Breakage(
        "met_by: [{action: admit_to_treatment, at: admitted_on}]",
        "met_by: [{action: admit_to_treatment, at: provider_org}]",
        at="at: provider_org", within="  re_engagement:",
        message="deadline re_engagement: form treatment_admission has no date or time 'provider_org'",
    ),
    "deadline due before its target": Breakage(
        "    due: 48h\n", "    due: 12h\n",
        at="due: 12h", within="  interim_services:",
        message="deadline interim_services: due (12h) is before target (24h)",
    ),
    "deadline with a duration that is not one": Breakage(
        "    target: 3d\n", "    target: three days\n",
        at="target: three days", message="deadline early_intervention_referral: target: 'three days' is not a duration",
    ),
    "conditional branch without an unconditional fallback": Breakage(
        "      - {from: [born_with_plan, born_without_plan], to: cps_assessment}\n", "",
        at="^  notify_cps:",
        message="action notify_cps: from born_with_plan no target applies when no `when` condition holds",
    ),
    "unknown effect": Breakage(
        "effects: [record_consent]", "effects: [record_consnt]",
        at="effects: [record_consnt]",
        message="action record_consent: unknown effect 'record_consnt' (known: new_plan_version, record_consent,",
    ),
    "`when` value that is not an allowed choice": Breakage(
        'when: {safety_concern: "no"}', 'when: {safety_concern: "maybe"}',
        at='"maybe"', message="notify_cps: 'maybe' is not a value of capta_notification.safety_concern",
    ),
    "`when` on a field the form does not have": Breakage(
        'when: {safety_concern: "no"}', 'when: {safety: "no"}',
        at='{safety: "no"}', message="notify_cps: form capta_notification has no field 'safety'",
    ),
    "`when` in met_by with a value that is not an allowed choice": Breakage(
        "when: {contact_type: pediatric_visit}", "when: {contact_type: paediatric_visit}",
        at="paediatric_visit",
        message="record_follow_up: 'paediatric_visit' is not a value of follow_up_contact.contact_type",
    ),
    "unknown initial state": Breakage(
        "initial: identified", "initial: identifed",
        at="initial: identifed", message="initial state 'identifed' is not a state of this workflow",
    ),
    "minimum necessary names an unknown state": Breakage(
        "    in_treatment: [treatment]\n", "    in_treatmnt: [treatment]\n",
        at="in_treatmnt: [treatment]", message="minimum_necessary: states: 'in_treatmnt' is not one of the",
    ),
    "minimum necessary names an unknown party": Breakage(
        '    cps_assessment: ["party:cps"]', '    cps_assessment: ["party:court"]',
        at='cps_assessment: ["party:court"]', message="minimum_necessary: 'party:court' is not one of the parties",
    ),
    "an event shown to nobody": Breakage(
        "    update_plan: [plan]", "    update_plan: []",
        at="update_plan: []", message="update_plan is shown to nobody",
    ),
    "a ceiling on an unknown form field": Breakage(
        "follow_up_contact.notes", "follow_up_contact.note",
        at="follow_up_contact.note,", message="ceilings: hospital: 'follow_up_contact.note' is not a form field",
    ),
    "consent first for a kind that takes no part in cases": Breakage(
        "consent_first: [treatment]", "consent_first: [state]",
        at="consent_first: [state]", message="consent_first: 'state' is not an organisation kind",
    ),
    "an opening variant taking an unknown action": Breakage(
        "      then: record_birth", "      then: record_delivery",
        at="then: record_delivery", message="open variant birth: unknown action 'record_delivery'",
    ),
    "an opening variant whose action cannot follow an opening": Breakage(
        "      then: record_birth", "      then: discharge",
        at="then: discharge", message="open variant birth: discharge cannot be taken from the initial state",
    ),
    "an opening variant for a role that may not take its action": Breakage(
        "roles: [hospital]  # hospital staff, at delivery", "roles: [cps]  # hospital staff, at delivery",
        at="roles: [cps]  # hospital staff", message="open variant birth: cps may not take record_birth",
    ),
    "an opening variant setting a value its field does not have": Breakage(
        "set: {identified_by: hospital}", "set: {identified_by: midwife}",
        at="set: {identified_by: midwife}", message="'midwife' is not a value of identification.identified_by",
    ),
    "a lookup role that is not a case role": Breakage(
        "lookup_roles: [hospital, cps]", "lookup_roles: [hospital, analyst]",
        at="lookup_roles: [hospital, analyst]", message="lookup_roles: 'analyst' is not a case role",
    ),
    "an unknown figure role": Breakage(
        "figure_roles: [analyst, cps, admin]", "figure_roles: [analyst, statistician]",
        at="figure_roles: [analyst, statistician]", message="figure_roles: unknown role 'statistician'",
    ),
    "state in an unknown phase": Breakage(
        "  closed: {phase: closure,", "  closed: {phase: closing,",
        at="closed: {phase: closing", message="state closed: unknown phase 'closing'",
    ),
}


def write_broken(tmp_path: Path, breakage: Breakage) -> tuple[Path, str]:
    text = replace(WORKFLOW_TEXT, breakage.old, breakage.new, within=breakage.within)
    assert text != WORKFLOW_TEXT
    path = tmp_path / "charm-posc.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


@pytest.mark.parametrize("breakage", list(BREAKAGES.values()), ids=list(BREAKAGES))
def test_a_broken_workflow_is_reported_at_the_line_that_broke(tmp_path: Path, breakage: Breakage) -> None:
    path, text = write_broken(tmp_path, breakage)
    reports, catalogue = check_files([path])
    problems = [p for r in reports for p in r.problems]
    assert_reported(problems, path, line_of(text, breakage.at), breakage.message)
    assert all(p.startswith(f"{path}:") for p in problems)
    assert catalogue.workflows == {}
    with pytest.raises(DefinitionError) as raised:
        load_catalogue([path])
    assert raised.value.problems == problems


def test_the_untouched_workflow_copied_elsewhere_has_no_problems(tmp_path: Path) -> None:
    path = tmp_path / "charm-posc.yaml"
    path.write_text(WORKFLOW_TEXT, encoding="utf-8")
    assert problems_of([path]) == []
    assert set(load_catalogue([path]).workflows) == {("charm-posc", 1)}


def test_a_state_no_action_leaves(tmp_path: Path) -> None:
    # Every open state can be left by transfer_out (`*open`), so a dead end needs it narrowed as well.
    text = replace(WORKFLOW_TEXT, "  closed: {phase", "  lost_contact: {phase: postnatal}\n  closed: {phase")
    text = replace(text, 'from: "*open"\n    to: closed', 'from: "*prenatal"\n    to: closed')
    text = replace(
        text, "  record_pregnancy_loss:\n",
        "  record_lost_contact:\n    title: Record lost contact\n    from: follow_up\n    to: lost_contact\n"
        "    roles: [cps]\n    form: follow_up_contact\n\n  record_pregnancy_loss:\n",
    )
    path = tmp_path / "charm-posc.yaml"
    path.write_text(text, encoding="utf-8")
    problems = problems_of([path])
    line = line_of(text, "lost_contact: {phase")
    assert_reported(problems, path, line, "state lost_contact is not terminal but no action leaves it")
    assert not any("no path reaches" in p for p in problems)


def test_a_workflow_without_a_terminal_state(tmp_path: Path) -> None:
    text = replace(WORKFLOW_TEXT, "{phase: closure, terminal: true,", "{phase: closure,")
    path = tmp_path / "charm-posc.yaml"
    path.write_text(text, encoding="utf-8")
    assert_reported(
        problems_of([path]), path, line_of(text, "^states:"), "no state is terminal: no case could ever be closed"
    )


def test_the_same_workflow_version_twice(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(WORKFLOW_TEXT, encoding="utf-8")
    second.write_text(WORKFLOW_TEXT, encoding="utf-8")
    reports, catalogue = check_files([first, second])
    line = line_of(WORKFLOW_TEXT, "^version:")
    assert [r.problems for r in reports] == [[], [f"{second}:{line}: charm-posc version 1 is defined twice"]]
    assert catalogue.workflow("charm-posc", 1).path == first
    with pytest.raises(DefinitionError) as raised:
        load_catalogue([first, second])
    assert raised.value.problems == reports[1].problems


def test_a_second_version_loads_beside_the_first(tmp_path: Path) -> None:
    first, second = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    first.write_text(WORKFLOW_TEXT, encoding="utf-8")
    second.write_text(replace(WORKFLOW_TEXT, "version: 1\n", "version: 2\n"), encoding="utf-8")
    catalogue = load_catalogue([first, second])
    assert set(catalogue.workflows) == {("charm-posc", 1), ("charm-posc", 2)}
    assert catalogue.workflow("charm-posc").version == 2


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = replace(WORKFLOW_TEXT, "form: treatment_referral", "form: treatment_referal")
    text = replace(text, "effects: [record_consent]", "effects: [record_consnt]")
    path = tmp_path / "charm-posc.yaml"
    path.write_text(text, encoding="utf-8")
    problems = problems_of([path])
    assert_reported(problems, path, line_of(text, "treatment_referal"), "unknown form 'treatment_referal'")
    assert_reported(problems, path, line_of(text, "record_consnt"), "unknown effect 'record_consnt'")


def test_an_action_defined_twice_is_reported(tmp_path: Path) -> None:
    # A second `record_interim_services:` silently replaces the first (here: only CPS may take it now).
    text = replace(
        WORKFLOW_TEXT, "  record_pregnancy_loss:\n",
        "  record_interim_services:\n    title: Record interim services\n    from: referred\n    to: same\n"
        "    roles: [cps]\n    form: interim_services\n\n  record_pregnancy_loss:\n",
    )
    path = tmp_path / "charm-posc.yaml"
    path.write_text(text, encoding="utf-8")
    second = [n for n, line in enumerate(text.splitlines(), 1) if line == "  record_interim_services:"][1]
    problems = problems_of([path])
    assert any(p.startswith(f"{path}:{second}: ") and "record_interim_services" in p for p in problems), problems


def test_an_unquoted_yes_in_when_names_the_key_only(tmp_path: Path) -> None:
    text = replace(WORKFLOW_TEXT, 'when: {ends_case: "yes"}', "when: {ends_case: yes}")
    path = tmp_path / "charm-posc.yaml"
    path.write_text(text, encoding="utf-8")
    problems = problems_of([path])
    assert problems
    assert not any("when.ends_case.str:" in p for p in problems), problems


def test_an_unquoted_yes_in_when_is_refused(tmp_path: Path) -> None:
    text = replace(WORKFLOW_TEXT, 'when: {ends_case: "yes"}', "when: {ends_case: yes}")
    path = tmp_path / "charm-posc.yaml"
    path.write_text(text, encoding="utf-8")
    assert_reported(
        problems_of([path]), path, line_of(text, "{ends_case: yes}"),
        "actions.conclude_investigation.transitions.0.when.ends_case",
    )


# --- broken forms --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormBreakage:
    form: str
    old: str
    new: str
    at: str
    message: str
    file_name: str | None = None


FORM_BREAKAGES = {
    "unknown field type": FormBreakage(
        "safety_concern", "    type: text\n", "    type: txt\n",
        at="type: txt", message="fields.1.type: Input should be 'text', 'date', 'datetime', 'number', 'yes_no',",
    ),
    "choice field without choices": FormBreakage(
        "investigation_outcome", "    choices: [no_concern, services_provided, removal, other]\n", "",
        at="- id: outcome", message="fields.1: a choice field needs a non-empty `choices` list",
    ),
    "choices on a yes/no field": FormBreakage(
        "capta_notification", "    type: yes_no\n", "    type: yes_no\n    choices: [maybe]\n",
        at="- id: safety_concern",
        message="fields.2: `choices` applies only to choice and multi_choice fields, not yes_no",
    ),
    "id not matching the file name": FormBreakage(
        "safety_concern", "id: safety_concern\n", "id: safety_concerns\n",
        at="id: safety_concerns", message="form id 'safety_concerns' does not match the file name",
    ),
    "file named differently from its id": FormBreakage(
        "safety_concern", "title: Safety concern\n", "title: Safety concern\n", file_name="safety_notice.yaml",
        at="id: safety_concern", message="form id 'safety_concern' does not match the file name",
    ),
    "unquoted yes in choices is a boolean": FormBreakage(
        "identification", 'choices: ["yes", "no", unknown]', "choices: [yes, no, unknown]",
        at="choices: [yes, no, unknown]", message="fields.9.choices.0: is true/false, not text: quote yes and no",
    ),
    "duplicate field ids": FormBreakage(
        "transfer", "  - id: receiving_agency\n", "  - id: receiving_jurisdiction  # again\n",
        at="# again", message="fields.2.id: field id 'receiving_jurisdiction' is used twice (first at line",
    ),
    "unknown key on a field": FormBreakage(
        "pregnancy_loss", "    type: date\n", "    type: date\n    colour: red\n",
        at="colour: red", message="fields.0.colour: is not a known key here",
    ),
    "malformed YAML": FormBreakage(
        "closure", "  - id: closed_on\n", "  - id: closed_on: today\n",
        at="closed_on: today", message="malformed YAML: mapping values are not allowed here",
    ),
}


@pytest.mark.parametrize("breakage", list(FORM_BREAKAGES.values()), ids=list(FORM_BREAKAGES))
def test_a_broken_form_is_reported_at_the_line_that_broke(tmp_path: Path, breakage: FormBreakage) -> None:
    original = (FORMS_DIR / f"{breakage.form}.yaml").read_text(encoding="utf-8")
    text = replace(original, breakage.old, breakage.new)
    path = tmp_path / (breakage.file_name or f"{breakage.form}.yaml")
    path.write_text(text, encoding="utf-8")
    problems = problems_of([path])
    assert_reported(problems, path, line_of(text, breakage.at), breakage.message)
    assert all(p.startswith(f"{path}:") for p in problems)
    with pytest.raises(DefinitionError) as raised:
        load_catalogue([path])
    assert raised.value.problems == problems


def test_a_workflow_using_a_broken_form_reports_both(tmp_path: Path) -> None:
    form_text = replace((FORMS_DIR / "safety_concern.yaml").read_text(encoding="utf-8"), "type: text", "type: txt")
    form = tmp_path / "safety_concern.yaml"
    form.write_text(form_text, encoding="utf-8")
    workflow = tmp_path / "charm-posc.yaml"
    workflow.write_text(WORKFLOW_TEXT, encoding="utf-8")
    problems = problems_of([form, workflow])
    assert_reported(problems, form, line_of(form_text, "type: txt"), "fields.1.type: Input should be")
    assert_reported(problems, workflow, line_of(WORKFLOW_TEXT, "form: safety_concern"), "unknown form 'safety_concern'")


def test_an_unreadable_or_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    missing = tmp_path / "missing.yaml"
    problems = problems_of([empty, missing])
    assert any(p.startswith(f"{empty}:1: ") for p in problems), problems
    assert f"{missing}:1: cannot read file: No such file or directory" in problems


def test_what_each_role_may_do_comes_from_the_pathway_declarations(tmp_path: Path) -> None:
    """The pages' menus ask the catalogue; it answers from the YAML (roles, open roles and ways in, lookup_roles,
    figure_roles), so a role added to `lookup_roles` gets the lookup without a change in Python."""
    catalogue = load_catalogue()
    may = {role: catalogue.abilities(role) for role in ("cps", "prenatal", "treatment", "hospital", "analyst")}
    assert (may["hospital"].look_up, may["hospital"].open_case, may["hospital"].ways_in) == (True, False, ("birth",))
    assert (may["cps"].look_up, may["cps"].open_case, may["cps"].read_figures) == (True, True, True)
    assert (may["treatment"].look_up, may["treatment"].work_on_cases, may["treatment"].ways_in) == (False, True, ())
    assert (may["analyst"].work_on_cases, may["analyst"].read_figures, may["analyst"].open_case) == (False, True, False)
    changed = WORKFLOW_FILE.read_text().replace("lookup_roles: [hospital, cps]", "lookup_roles: [treatment]")
    (tmp_path / WORKFLOW_FILE.name).write_text(changed)
    _, moved = check_files([FORMS_DIR, tmp_path])
    assert moved.abilities("treatment").look_up and not moved.abilities("hospital").look_up
