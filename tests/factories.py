"""Valid form data for every action of the CHARM pathway, relative to the clock, and the standard actors.

Tests, benchmarks and property tests build on these so that each of them states only what it changes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine import Actor

ORGANISATIONS = {
    "county-cps": "County Child Protective Services",
    "recovery-clinic": "Recovery Clinic (treatment)",
    "peer-network": "Peer Recovery Network",
    "prenatal-clinic": "Prenatal Clinic",
    "city-hospital": "City Hospital",
    "valley-hospital": "Valley Hospital",
}
ROLE_ORGANISATION = {
    "cps": "county-cps",
    "treatment": "recovery-clinic",
    "peer": "peer-network",
    "prenatal": "prenatal-clinic",
    "hospital": "city-hospital",
}
ACTORS = {role: Actor(f"{role}-user", role, org) for role, org in ROLE_ORGANISATION.items()}
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
        "due_date": (today + timedelta(days=120)).isoformat(),
        "gestational_weeks": 22,
        "identified_by": "prenatal_screening",
        "substances": ["opioids"],
        "on_moud": "yes",
        "delivery_hospital": "city-hospital",
        "lead_cps_org": "county-cps",
    }
    data.update(changes)
    return data


def _service(name: str) -> dict[str, Any]:
    return {"service": name, "provider": "Provider", "status": "referred", "responsible": "Case worker"}


def plan(day: date) -> dict[str, Any]:
    return {
        "meeting_date": day.isoformat(),
        "participants": [
            {"name": "Alex Rivera", "role": "parent"},
            {"name": "Sam Lee", "role": "cps", "organisation": "county-cps"},
        ],
        "parent_participated": "yes",
        "infant_services": [_service("pediatric care")],
        "caregiver_services": [_service("substance use treatment")],
        "family_services": [],
        "discharge_arrangement": "Home with parent; pediatric visit within 48 hours.",
    }


def action_data(action: str, now: datetime, due_date: date) -> dict[str, Any]:
    """Valid data for `action` taken at `now` on a case due on `due_date`."""
    today = local_date(now)
    iso = today.isoformat()
    forms: dict[str, dict[str, Any]] = {
        "record_consent": {
            "signed_on": iso, "organisations": sorted(ORGANISATIONS), "categories": ["status", "plan", "treatment"],
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
            "born_at": (now - timedelta(hours=1)).isoformat(), "gestational_weeks": 39,
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


#: Who normally takes each action (the first role allowed by PATHWAY.md that fits).
ACTION_ROLE = {
    "record_consent": "prenatal", "revoke_consent": "cps", "refer_to_treatment": "prenatal",
    "record_interim_services": "treatment", "admit_to_treatment": "treatment", "record_disengagement": "treatment",
    "record_declined": "cps", "schedule_planning_meeting": "cps", "record_planning_meeting": "cps",
    "update_plan": "cps", "record_birth": "hospital", "notify_cps": "hospital", "record_plan_at_birth": "cps",
    "record_referral": "cps", "discharge": "hospital", "record_follow_up": "peer",
    "report_safety_concern": "cps", "conclude_investigation": "cps", "record_pregnancy_loss": "prenatal",
    "transfer_out": "cps", "close_case": "cps",
}
