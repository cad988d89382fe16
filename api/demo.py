"""Demo data for `posc serve --demo`: organisations, one user per role, and cases spread over the pathway.

The valid form data for every action lives here too (the test suite and the benchmarks build on it), so the demo
always exercises the same pathway the tests do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine import Actor, Cases, Clock, Database, ensure_organisation
from engine.users import add_user

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


def action_data(action: str, now: datetime, due_date: date) -> dict[str, Any]:
    """Valid data for `action` taken at `now` on a case due on `due_date`."""
    today = local_date(now)
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


# --- the demo itself -------------------------------------------------------------------------------------------

#: Fictional parents, each taken to a different point of the pathway (the route of actions from PATHWAY.md).
_PLAN = ["record_consent", "admit_to_treatment", "schedule_planning_meeting", "record_planning_meeting"]
DEMO_CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({"first_name": "Jordan", "last_name": "Ellis", "date_of_birth": "1994-02-17"}, []),
    ({"first_name": "Maria", "last_name": "Santos", "date_of_birth": "1991-09-03"},
     ["record_consent", "admit_to_treatment"]),
    ({"first_name": "Casey", "last_name": "Morgan", "date_of_birth": "1999-06-25", "days_to_due": 25}, _PLAN[:3]),
    ({"first_name": "Taylor", "last_name": "Brooks", "date_of_birth": "1997-12-01", "days_to_due": 12}, _PLAN),
    ({"first_name": "Riley", "last_name": "Nguyen", "date_of_birth": "1993-03-30", "days_to_due": 5},
     [*_PLAN, "record_birth", "notify_cps"]),
    ({"first_name": "Avery", "last_name": "Clarke", "date_of_birth": "2000-07-14", "days_to_due": 3},
     ["record_birth", "notify_cps"]),
    ({"first_name": "Quinn", "last_name": "Patel", "date_of_birth": "1995-11-08", "days_to_due": 8},
     [*_PLAN, "record_birth", "notify_cps", "discharge"]),
]


@dataclass(frozen=True)
class DemoUser:
    name: str
    role: str
    organisation: str
    api_key: str


DEMO_PEOPLE = {
    "cps": "Sam Lee", "treatment": "Dr. Robin Hart", "peer": "Chris Dale", "prenatal": "Pat Moreno",
    "hospital": "Nurse Kim Ito", "analyst": "Dana Fox", "admin": "Admin Ops",
}
_EXTRA_ORGANISATION = {
    "analyst": ("state-analytics", "State Outcomes Office"),
    "admin": ("posc-admin", "posc administration"),
}


def is_empty(db: Database) -> bool:
    from sqlalchemy import func, select

    from engine.store.tables import Case, User

    with db.read() as conn:
        users = conn.execute(select(func.count()).select_from(User.__table__)).scalar()  # type: ignore[attr-defined]
        cases = conn.execute(select(func.count()).select_from(Case.__table__)).scalar()  # type: ignore[attr-defined]
    return not users and not cases


def load_demo(db: Database, cases: Cases, clock: Clock) -> list[DemoUser]:
    """Loads organisations, one user per role and the demo cases; returns the users with their API keys."""
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(db, clock, org_id, name, CONTACTS.get(org_id), kind=KINDS[org_id])
    users = []
    actors: dict[str, Actor] = {}
    for role, person in DEMO_PEOPLE.items():
        org_id, org_name = _EXTRA_ORGANISATION.get(role, (ROLE_ORGANISATION.get(role, ""), None))
        user, key = add_user(
            db, clock, name=person, role=role, organisation=org_id, organisation_name=org_name,
            organisation_kind=KINDS[org_id],
        )
        users.append(DemoUser(person, role, org_id, key))
        actors[role] = user.actor
    for changes, route in DEMO_CASES:
        now = clock.now()
        today = local_date(now)
        days = int(changes.get("days_to_due", 100))
        data = identification(today, **{k: v for k, v in changes.items() if k != "days_to_due"},
                              due_date=(today + timedelta(days=days)).isoformat())
        case = cases.open_case(actors["prenatal"], "charm-posc", data)
        for action in route:
            role = ACTION_ROLE[action]
            extra = {"safety_concern": "yes"} if action == "notify_cps" and changes["last_name"] == "Clarke" else {}
            step = {**action_data(action, now, date.fromisoformat(data["due_date"])), **extra}
            if "participants" in step:  # the plan names this parent, not the sample one
                parent = f"{changes['first_name']} {changes['last_name']}"
                step["participants"] = [{**step["participants"][0], "name": parent}, *step["participants"][1:]]
            if action == "schedule_planning_meeting":
                step["meeting_date"] = max(today, date.fromisoformat(data["due_date"]) - timedelta(days=20)).isoformat()
            case = cases.take_action(actors[role], case.id, action, step)
    return users
