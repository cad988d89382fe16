"""Demo data for `posc serve --demo`: organisations, one user per role, and a caseload spread over the pathway.

The valid form data of the demo's work lives here too; the test suite has its own (`tests/factories.py`), so the
demo can change for the people trying posc without changing what a test means.

The demo caseload is a history, not a snapshot: each case is opened and worked on at realistic moments over the
past months (on a clock that steps through them), with its data dated when the work was done, while the deadline
ticker runs as the server's would. Overdue work is therefore missed and escalated exactly as it would have been,
and loading the demo at any moment gives the same picture relative to that moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine import Actor, Cases, Catalogue, Clock, Database, FixedClock, add_user, ensure_organisation

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


@dataclass(frozen=True)
class Day:
    """A date of the demo, `offset` days from the day it is loaded (negative: before); with `time` (local, "HH:MM"),
    a date and time."""

    offset: int
    time: str | None = None


@dataclass(frozen=True)
class Step:
    """One piece of work on a demo case: `action` ("open_case" opens the case), entered into posc `day` days from
    the day the demo is loaded (negative: before) at local `time` ("HH:MM"), by the role that normally takes it
    (`role` otherwise). The work itself was done on day `done` (default: the day it was entered); every date of the
    form is that day, unless `data` says otherwise (`Day` values are resolved)."""

    day: int
    time: str
    action: str
    done: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    role: str | None = None


OPEN_CASE = "open_case"
#: Identification at birth: hospital staff open the case at delivery, the birth (`data["birth"]`) with it.
OPEN_AT_DELIVERY = "open_at_delivery"


def _prenatal(identified: int, at: str, due: int, *, admitted: int | None = None, **changes: Any) -> list[Step]:
    """Identified (and the case entered) on day `identified` at local `at`, due on day `due`; consent and a
    treatment referral the same day and, if `admitted` is given, admission that day (within the 48 hours of interim
    services). `changes` go into the identification."""
    steps = [
        Step(identified, at, OPEN_CASE, data={"due_date": Day(due), **changes}),
        Step(identified, _later(at, 20), "record_consent"),
        Step(identified, _later(at, 35), "refer_to_treatment"),
    ]
    if admitted is not None:
        steps.append(Step(admitted, "10:15", "admit_to_treatment"))
    return steps


def _planned(scheduled: int, meeting: int) -> list[Step]:
    """The planning meeting, scheduled on day `scheduled` for day `meeting`, held and recorded that day."""
    return [
        Step(scheduled, "09:40", "schedule_planning_meeting", data={"meeting_date": Day(meeting)}),
        Step(meeting, "16:30", "record_planning_meeting"),
    ]


def _born(day: int, at: str, *, entered: str, notified: str, **birth: Any) -> list[Step]:
    """Born on day `day` at local `at`, the birth entered at `entered`, CPS notified at `notified` (that day, or the
    next if `notified` is not later than `entered`), and the early-intervention referral the day after the birth."""
    notified_day = day if notified > entered else day + 1
    return [
        Step(day, entered, "record_birth", data={"born_at": Day(day, at), **birth}),
        Step(notified_day, notified, "notify_cps"),
        Step(day + 1, "11:00", "record_referral"),
    ]


def _later(at: str, minutes: int) -> str:
    moment = datetime.combine(date(2000, 1, 1), time.fromisoformat(at)) + timedelta(minutes=minutes)
    return moment.strftime("%H:%M")


#: Fictional parents, each at a different point of the pathway, with the history that brought them there (days are
#: counted from the day the demo is loaded). What the deadline ticker makes of it is noted for each.
DEMO_CASES: list[tuple[dict[str, Any], list[Step]]] = [
    # Identified 12 days ago; not admitted to treatment and no consent yet. The admission deadline (7 days) was
    # missed: escalated to county-cps. The consent deadline (14 days) is past its target.
    ({"first_name": "Jordan", "last_name": "Ellis", "date_of_birth": "1994-02-17"}, [
        Step(-12, "14:20", OPEN_CASE, data={"due_date": Day(68)}),
    ]),
    # In treatment: consent and referral the day of identification, admitted the next day.
    ({"first_name": "Maria", "last_name": "Santos", "date_of_birth": "1991-09-03"},
     _prenatal(-40, "11:05", 60, admitted=-39)),
    # In treatment since early on; the planning meeting is scheduled for 4 days from now, 16 days before the due date.
    ({"first_name": "Casey", "last_name": "Morgan", "date_of_birth": "1999-06-25"}, [
        *_prenatal(-75, "15:10", 20, admitted=-74, identified_by="self_referral"),
        Step(-6, "09:40", "schedule_planning_meeting", data={"meeting_date": Day(4)}),
    ]),
    # The plan was agreed 6 days ago; due in 12 days. The hospital's lookup finds a plan in place.
    ({"first_name": "Taylor", "last_name": "Brooks", "date_of_birth": "1997-12-01"}, [
        *_prenatal(-110, "10:30", 12, admitted=-109),
        *_planned(-20, -6),
    ]),
    # Plan agreed before birth; born 2 days ago, a day after the due date; CPS notified with no safety concern. The
    # early-intervention referral is still to be made (due in 5 days).
    ({"first_name": "Riley", "last_name": "Nguyen", "date_of_birth": "1993-03-30"}, [
        *_prenatal(-150, "09:20", -3, admitted=-149),
        *_planned(-35, -17),
        Step(-2, "07:45", "record_birth", data={"born_at": Day(-2, "04:20")}),
        Step(-2, "09:30", "notify_cps"),
    ]),
    # Identified 9 days ago, at 39 weeks; born 6 days ago with no plan, withdrawal signs monitored, and the
    # notification raised a safety concern: CPS is assessing. The plan before discharge (5 days) was missed and
    # escalated to county-cps.
    ({"first_name": "Avery", "last_name": "Clarke", "date_of_birth": "2000-07-14"}, [
        Step(-9, "15:45", OPEN_CASE, data={"due_date": Day(-4)}),
        Step(-6, "23:05", "record_birth", data={"born_at": Day(-6, "21:50")}),
        Step(-5, "08:15", "notify_cps", data={
            "safety_concern": "yes", "details": "No safe place for the infant to sleep at home yet.",
        }),
        Step(-4, "11:00", "record_referral"),
    ]),
    # Born 12 days ago with a plan, discharged 9 days ago, seen by the pediatrician the next day; the postpartum
    # contact is due in 9 days (its target in 2).
    ({"first_name": "Quinn", "last_name": "Patel", "date_of_birth": "1995-11-08"}, [
        *_prenatal(-160, "13:40", -10, admitted=-159),
        *_planned(-42, -28),
        *_born(-12, "13:05", entered="14:10", notified="15:30"),
        Step(-9, "11:00", "discharge", data={"pediatric_appointment_on": Day(-8)}),
        Step(-8, "15:20", "record_follow_up", data={"contact_type": "pediatric_visit"}),
    ]),
    # Identified 38 days ago at a prenatal visit but entered only 10 days ago: the admission and consent deadlines,
    # which run from the identification date, were already past and were escalated at once; consent and a referral
    # that day, interim counselling the next, admitted 7 days ago (which settles the escalations).
    ({"first_name": "Jesse", "last_name": "Romero", "date_of_birth": "1998-05-19"}, [
        Step(-10, "10:20", OPEN_CASE, done=-38, data={"due_date": Day(50)}),
        Step(-10, "10:40", "record_consent"),
        Step(-10, "10:50", "refer_to_treatment"),
        Step(-9, "09:30", "record_interim_services"),
        Step(-7, "09:00", "admit_to_treatment"),
    ]),
    # Identified by CPS 30 days ago; declined treatment and the planning meeting 3 days later and signed no consent:
    # the consent deadline was missed and escalated to county-cps.
    ({"first_name": "Dakota", "last_name": "Reyes", "date_of_birth": "2001-01-23"}, [
        Step(-30, "13:30", OPEN_CASE, data={"due_date": Day(45), "identified_by": "cps"}, role="cps"),
        Step(-27, "14:00", "record_declined", data={"reason": "Wants to wait until after the birth."}),
    ]),
    # Admitted 63 days ago; stopped attending 11 days ago, disengagement recorded 4 days ago: re-engagement is past
    # its target (3 days) and due in 3 days, on the treatment provider's worklist.
    ({"first_name": "Rowan", "last_name": "Hayes", "date_of_birth": "1992-10-06"}, [
        *_prenatal(-64, "14:50", 35, admitted=-63, identified_by="self_referral"),
        Step(-4, "16:00", "record_disengagement", data={"last_attended_on": Day(-11)}),
    ]),
    # Born 47 days ago with a plan; discharged, pediatric and postpartum visits on time, a home visit 16 days ago;
    # the 90-day follow-up is due in 2 months.
    ({"first_name": "Kendall", "last_name": "Price", "date_of_birth": "1990-08-15"}, [
        *_prenatal(-190, "10:05", -48, admitted=-189),
        *_planned(-75, -60),
        *_born(-47, "06:30", entered="08:20", notified="10:00"),
        Step(-44, "12:30", "discharge", data={"pediatric_appointment_on": Day(-43)}),
        Step(-43, "16:10", "record_follow_up", data={"contact_type": "pediatric_visit"}),
        Step(-40, "11:45", "record_follow_up", data={"contact_type": "postpartum_visit"}),
        Step(-16, "14:30", "record_follow_up", data={"contact_type": "home_visit"}),
    ]),
    # Not identified before birth: born yesterday at 03:40, withdrawal signs monitored and a positive toxicology;
    # hospital staff opened the case at delivery that morning and notified CPS on time. CPS is assessing; the plan
    # before discharge is due in 4 days, on county-cps's worklist. Counted in the figures as identified at birth.
    ({"first_name": "Harper", "last_name": "Lindqvist", "date_of_birth": "1998-08-21"}, [
        Step(-1, "06:10", OPEN_AT_DELIVERY, data={"due_date": Day(9), "birth": {
            "born_at": Day(-1, "03:40"), "withdrawal_signs": "monitoring", "infant_toxicology": "positive",
        }}),
        Step(-1, "09:00", "notify_cps"),
    ]),
    # The whole pathway: identified 300 days ago, born 152 days ago with a plan, followed up for 90 days and closed
    # with the plan completed 55 days ago.
    ({"first_name": "Emerson", "last_name": "Walsh", "date_of_birth": "1996-03-02"}, [
        *_prenatal(-300, "09:50", -150, admitted=-299),
        *_planned(-175, -165),
        *_born(-152, "02:10", entered="06:40", notified="09:00"),
        Step(-148, "10:30", "discharge", data={"pediatric_appointment_on": Day(-147)}),
        Step(-147, "15:00", "record_follow_up", data={"contact_type": "pediatric_visit"}),
        Step(-140, "10:20", "record_follow_up", data={"contact_type": "postpartum_visit"}),
        Step(-120, "13:15", "record_follow_up", data={"contact_type": "home_visit"}),
        Step(-58, "14:00", "record_follow_up", data={"contact_type": "home_visit"}),
        Step(-55, "11:30", "close_case", data={"reason": "plan_completed"}),
    ]),
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


def not_loaded(database_url: str) -> str:
    """The one line `posc serve --demo` prints when the database already holds data: why nothing was loaded, and
    how to start afresh (never the URL of a server database: it may hold a password)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        afresh = (f"to start afresh, stop the server and remove {url.database}, or set POSC_DATABASE_URL to a new "
                  "file such as sqlite:///./posc-demo.db")
    else:
        afresh = "to start afresh, set POSC_DATABASE_URL to an empty database, such as sqlite:///./posc-demo.db"
    return f"Demo data not loaded: the database is not empty (it already has users or cases); {afresh}."


def gestational_weeks(on: date, due: date) -> int:
    """Weeks of pregnancy on day `on` for a birth due on `due` (40 weeks on the due date), rounded."""
    return round(40 - (due - on).days / 7)


def load_demo(db: Database, cases: Cases, clock: Clock) -> list[DemoUser]:
    """Loads organisations, one user per role and the demo caseload; returns the users with their API keys.

    Each case's history is entered at the moments of `DEMO_CASES`, counted back from `clock.now()`, on a clock of
    its own; the deadline ticker runs in between as the server's background tick would (a minute after each
    deadline falls due), and once more at `clock.now()`. Nothing is dated after `clock.now()`."""
    from engine import tick

    now = clock.now()
    today = local_date(now)
    steps = sorted(
        ((_local(today, step.day, step.time), index, position, step)
         for index, (_, script) in enumerate(DEMO_CASES) for position, step in enumerate(script)),
        key=lambda entry: entry[:3],
    )
    late = [step for moment, _, _, step in steps if moment >= now]
    if late:
        raise ValueError(f"demo step {late[0]} is not in the past")
    # The organisations and their people were there before the first case.
    history = FixedClock(steps[0][0] - timedelta(hours=1) if steps else now)
    for org_id, name in ORGANISATIONS.items():
        ensure_organisation(db, history, org_id, name, CONTACTS.get(org_id), kind=KINDS[org_id])
    users = []
    actors: dict[str, Actor] = {}
    for role, person in DEMO_PEOPLE.items():
        org_id, org_name = _EXTRA_ORGANISATION.get(role, (ROLE_ORGANISATION.get(role, ""), None))
        user, key = add_user(
            db, history, name=person, role=role, organisation=org_id, organisation_name=org_name,
            organisation_kind=KINDS[org_id],
        )
        users.append(DemoUser(person, role, org_id, key))
        actors[role] = user.actor
    past = Cases(db, cases.catalogue, history)
    opened: dict[int, tuple[str, date]] = {}  # case index -> reference and due date
    for moment, index, _, step in steps:
        _tick_until(db, cases.catalogue, history.now(), moment)
        history.set(moment)
        parent = DEMO_CASES[index][0]
        if step.action == OPEN_CASE:
            data = _opening(parent, step, today)
            opened_case = past.open(actors[step.role or "prenatal"], "charm-posc", data).case
            opened[index] = (opened_case.id, date.fromisoformat(data["due_date"]))
        elif step.action == OPEN_AT_DELIVERY:
            data = _opening(parent, replace(step, data={k: v for k, v in step.data.items() if k != "birth"}), today)
            del data["identified_by"]  # the opening at delivery sets it
            due = date.fromisoformat(data["due_date"])
            birth = _action(parent, replace(step, action="record_birth", data=step.data["birth"]), today, due)
            at_delivery = past.open(actors["hospital"], "charm-posc", data, variant=("birth", birth)).case
            opened[index] = (at_delivery.id, due)
        else:
            case_id, due = opened[index]
            data = _action(parent, step, today, due)
            past.act(actors[step.role or ACTION_ROLE[step.action]], case_id, step.action, data)
    _tick_until(db, cases.catalogue, history.now(), now)
    tick(db, cases.catalogue, now)
    return users


def _local(today: date, offset: int, at: str) -> datetime:
    day = today + timedelta(days=offset)
    return datetime.combine(day, time.fromisoformat(at), tzinfo=JURISDICTION).astimezone(UTC)


def _resolve(today: date, data: Mapping[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Day):
            day = today + timedelta(days=value.offset)
            value = _local(today, value.offset, value.time).isoformat() if value.time else day.isoformat()
        resolved[key] = value
    return resolved


def _opening(person: Mapping[str, Any], step: Step, today: date) -> dict[str, Any]:
    identified = today + timedelta(days=step.day if step.done is None else step.done)
    changes = _resolve(today, step.data)
    due = date.fromisoformat(changes["due_date"])
    return identification(identified, **{"gestational_weeks": gestational_weeks(identified, due), **person, **changes})


def _action(person: Mapping[str, Any], step: Step, today: date, due: date) -> dict[str, Any]:
    done = _local(today, step.day if step.done is None else step.done, step.time)
    data = {**action_data(step.action, done, due), **_resolve(today, step.data)}
    if "participants" in data:  # the plan names this parent, not the sample one
        parent = f"{person['first_name']} {person['last_name']}"
        data["participants"] = [{**data["participants"][0], "name": parent}, *data["participants"][1:]]
    if step.action == "record_birth":
        data["gestational_weeks"] = gestational_weeks(local_date(datetime.fromisoformat(data["born_at"])), due)
    return data


def _tick_until(db: Database, catalogue: Catalogue, after: datetime, until: datetime) -> None:
    """What the server's background tick would have done between `after` and `until`: each deadline that fell due
    in between is marked missed and escalated a minute after its due time (a minute after `after` for one already
    past when its case was entered), never later than `until`."""
    from engine import next_due, tick

    while True:
        due = next_due(db, until)
        if due is None:
            return
        at = min(max(due, after) + timedelta(minutes=1), until)
        tick(db, catalogue, at)
        after = at
