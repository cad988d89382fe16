"""The test suite's own world: organisations and their kinds, one actor per role, valid form data for every action,
and `opened`/`taken` for the engine's record of a case after a write.

Tests, benchmarks, property tests and the feature steps build on these so that each of them states only what it
changes. They are the tests' data, not the demo's (`api/demo.py` has its own, for people trying posc): changing the
demo never changes what a test means.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine import Actor, CaseRecord, Cases

ORGANISATIONS = {
    "county-cps": "County Child Protective Services",
    "recovery-clinic": "Recovery Clinic (treatment)",
    "peer-network": "Peer Recovery Network",
    "prenatal-clinic": "Prenatal Clinic",
    "city-hospital": "City Hospital",
    "valley-hospital": "Valley Hospital",
}
#: The kind of each organisation (`engine.ORGANISATION_KINDS`), the analysts' and administrators' included.
KINDS = {
    "county-cps": "cps",
    "recovery-clinic": "treatment",
    "peer-network": "peer",
    "prenatal-clinic": "prenatal",
    "city-hospital": "hospital",
    "valley-hospital": "hospital",
    "state-analytics": "state",
    "posc-admin": "admin",
}
ROLE_ORGANISATION = {
    "cps": "county-cps",
    "treatment": "recovery-clinic",
    "peer": "peer-network",
    "prenatal": "prenatal-clinic",
    "hospital": "city-hospital",
}
ACTORS = {role: Actor(f"{role}-user", role, org) for role, org in ROLE_ORGANISATION.items()}
CONTACTS = {
    "county-cps": "CPS intake line 555-0100 (24 hours)",
    "recovery-clinic": "Admissions 555-0110",
    "peer-network": "Recovery coaches 555-0120",
    "prenatal-clinic": "Nurse line 555-0130",
    "city-hospital": "Labour and delivery 555-0140",
    "valley-hospital": "Maternity unit 555-0150",
}
#: The CHARM workflow's jurisdiction: "today" in form data is a date there, not in UTC.
JURISDICTION = ZoneInfo("America/New_York")


def local_date(now: datetime) -> date:
    return now.astimezone(JURISDICTION).date()


def identification(today: date, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "first_name": "Alex",
        "last_name": "Rivera",
        "date_of_birth": "1996-04-12",
        "identified_on": today.isoformat(),
        # Due in 25 days: inside the planning window, so a plan can be agreed on the day the case is opened.
        "due_date": (today + timedelta(days=25)).isoformat(),
        "gestational_weeks": 36,
        "identified_by": "prenatal_screening",
        "substances": ["opioids"],
        "on_moud": "yes",
        "delivery_hospital": "city-hospital",
        "lead_cps_org": "county-cps",
    }
    data.update(changes)
    return data


def _service(name: str, provider: str, responsible: str) -> dict[str, Any]:
    return {"service": name, "provider": provider, "status": "referred", "responsible": responsible}


def plan(day: date) -> dict[str, Any]:
    return {
        "meeting_date": day.isoformat(),
        "participants": [
            {"name": "Alex Rivera", "role": "parent"},
            {"name": "Sam Lee", "role": "cps", "organisation": "county-cps"},
        ],
        "parent_participated": "yes",
        "infant_services": [_service("pediatric care", "City Pediatrics", "Sam Lee (CPS)")],
        "caregiver_services": [_service("substance use treatment", "Recovery Clinic", "Dr. Robin Hart")],
        "family_services": [],
        "discharge_arrangement": "Home with parent; pediatric visit within 48 hours.",
    }


def born_at(now: datetime) -> datetime:
    """A birth an hour before `now`, but on the same local day: a case identified today cannot record a birth
    before its identification date (a run in the first hour after midnight in the jurisdiction)."""
    midnight = datetime.combine(local_date(now), datetime.min.time(), JURISDICTION)
    return max(now - timedelta(hours=1), midnight.astimezone(now.tzinfo))


def action_data(action: str, now: datetime, due_date: date) -> dict[str, Any]:
    """Valid data for `action` taken at `now` on a case due on `due_date`."""
    today = local_date(now)
    if action == "record_treatment_progress":
        return {"recorded_on": today.isoformat(), "status": "attending", "moud_adherence": "yes",
                "last_attended_on": today.isoformat()}
    if action == "amend_identification":
        return {"phone": "555-0142", "reason": "the parent gave a new number"}
    iso = today.isoformat()
    forms: dict[str, dict[str, Any]] = {
        "record_consent": {
            "signed_on": iso, "organisations": sorted(ORGANISATIONS), "categories": ["status", "plan"],
            "purpose": "Plan of Safe Care", "expires_on": (today + timedelta(days=365)).isoformat(),
            "signature_method": "written",
        },
        "revoke_consent": {"revoked_on": iso, "communicated_by": "written"},
        "refer_to_treatment": {
            "referred_on": iso, "provider_org": "recovery-clinic", "level_of_care": "outpatient",
            "priority_requested": "yes",
        },
        "record_interim_services": {"started_on": iso, "services": ["counselling"]},
        "admit_to_treatment": {
            "admitted_on": iso, "provider_org": "recovery-clinic", "level_of_care": "opioid_treatment_program",
            "moud": "buprenorphine", "peer_support": "yes",
        },
        "record_disengagement": {"last_attended_on": iso, "outreach_planned": "yes"},
        "record_declined": {"declined_on": iso, "offered": "treatment referral and planning meeting"},
        "schedule_planning_meeting": {
            "meeting_date": (due_date - timedelta(days=20)).isoformat(), "location": "County office",
            "invitees": [{"role": "parent"}, {"role": "cps", "organisation": "county-cps"}],
        },
        "record_planning_meeting": plan(today),
        "update_plan": plan(today),
        "record_plan_at_birth": plan(today),
        "record_birth": {
            "born_at": born_at(now).isoformat(), "gestational_weeks": 39,
            "birth_weight_grams": 3200, "withdrawal_signs": "monitoring", "infant_toxicology": "not_done",
            "parent_toxicology": "not_done", "fasd_concern": "no", "substance_affected": "yes",
            "safety_concern": "no",
        },
        "notify_cps": {"notified_on": iso, "method": "portal", "safety_concern": "no"},
        "record_referral": {
            "service": "early_intervention", "provider": "Part C program", "referred_on": iso, "status": "referred",
        },
        "discharge": {
            "discharged_on": iso, "discharged_to": "parent", "pediatric_appointment_on": iso,
            "referrals": ["early_intervention"],
        },
        "record_follow_up": {"contact_on": iso, "contact_type": "home_visit", "concerns": "no"},
        "report_safety_concern": {"reported_on": iso, "description": "Missed two visits."},
        "conclude_investigation": {"concluded_on": iso, "outcome": "no_concern", "ends_case": "no"},
        "record_pregnancy_loss": {"occurred_on": iso},
        "transfer_out": {"transferred_on": iso, "receiving_jurisdiction": "Neighbouring County"},
        "close_case": {"closed_on": iso, "reason": "moved_away"},
    }
    return forms[action]


#: Who normally takes each action (the first role the workflow allows that fits).
ACTION_ROLE = {
    "record_consent": "prenatal", "revoke_consent": "cps", "refer_to_treatment": "prenatal",
    "record_interim_services": "treatment", "admit_to_treatment": "treatment", "record_disengagement": "treatment",
    "record_declined": "cps", "schedule_planning_meeting": "cps", "record_planning_meeting": "cps",
    "update_plan": "cps", "record_birth": "hospital", "notify_cps": "hospital", "record_plan_at_birth": "cps",
    "record_referral": "cps", "discharge": "hospital", "record_follow_up": "peer",
    "report_safety_concern": "cps", "conclude_investigation": "cps", "record_pregnancy_loss": "prenatal",
    "transfer_out": "cps", "close_case": "cps", "record_treatment_progress": "treatment",
    "amend_identification": "cps",
}



def opened(cases: Cases, actor: Actor, workflow: str, data: Any, **how: Any) -> CaseRecord:
    """Opens a case through the engine's one verb (`Cases.open`) and returns the engine's record of it, whatever the
    opener may see (tests check the state and facts that some openers are not shown)."""
    return cases.get(cases.open(actor, workflow, data, **how).case.id)


def taken(cases: Cases, actor: Actor, case_id: str, action: str, data: Any, **how: Any) -> CaseRecord:
    """Takes an action through `Cases.act` and returns the engine's record of the case after it."""
    cases.act(actor, case_id, action, data, **how)
    return cases.get(case_id)
