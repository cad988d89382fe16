"""The oracle of the adversary test (`test_adversary.py`): who may see what, written from `docs/who-sees-what.md` and
PATHWAY.md ("Decisions (2026-12-01)"), never from the engine's code.

What it reads from the definitions is data the rules point to: each form field's `tier` and `type` (forms/*.yaml),
and the pathway's states, phases, action roles and forms, and its ways in with their roles (workflows/charm-posc.yaml,
`open` and `open: variants:`). Who holds which tier, which state and which event a reader may see, the role ceilings
and consent first are written out here by hand, in the words of the rules page, so that the engine's own reading of
its `disclosure`/`minimum_necessary`/`ceilings` sections is what is being tested, not what is doing the testing.

Every free-text value the test submits carries a unique marker (`MK<n>X`); the registry knows which case, event,
form, field and tier each marker belongs to, so any response text can be searched for markers and each one found
judged against the rules for the reader who received it. (The one value given twice, the parent's last name on a
second case for the same parent, belongs to both cases: a reader of either may see it.)
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

REPO = Path(__file__).resolve().parents[2]
S, P, T = "status", "plan", "treatment"
TIER_ORDER = (S, P, T)
CASE_ROLES = ("cps", "treatment", "peer", "prenatal", "hospital")
#: The organisation kind each role belongs to (who-sees-what.md, "Organisations and their kinds").
ROLE_KIND = {"cps": "cps", "treatment": "treatment", "peer": "peer", "prenatal": "prenatal", "hospital": "hospital",
             "analyst": "state", "admin": "admin"}
PARTY_KINDS = ("cps", "treatment", "hospital", "prenatal", "peer")
#: Who looks parents up at delivery (who-sees-what.md: "POST /lookup by hospital staff or a CPS worker").
LOOKUP_ROLES = ("hospital", "cps")
OPEN_EVENT = "open_case"
MISSED_EVENT = "deadline_missed"


# --- the definitions: form fields (tier, type) and the pathway's shape --------------------------------------------


@dataclass(frozen=True)
class FieldDef:
    id: str
    type: str
    tier: str
    required: bool
    spec: Mapping[str, Any]
    fields: tuple[FieldDef, ...] = ()


@dataclass(frozen=True)
class FormDef:
    id: str
    tier: str
    fields: Mapping[str, FieldDef]


def _field(spec: Mapping[str, Any], tier: str) -> FieldDef:
    own = spec.get("tier", tier)
    return FieldDef(spec["id"], spec.get("type", "text"), own, spec.get("required", True), spec,
                    tuple(_field(s, own) for s in spec.get("fields") or []))


def load_forms() -> dict[str, FormDef]:
    forms = {}
    for path in sorted((REPO / "forms").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        tier = spec.get("tier", S)
        forms[spec["id"]] = FormDef(spec["id"], tier, {f["id"]: _field(f, tier) for f in spec["fields"]})
    return forms


FORMS = load_forms()
WORKFLOW = yaml.safe_load((REPO / "workflows" / "charm-posc.yaml").read_text(encoding="utf-8"))
ZONE = ZoneInfo(WORKFLOW.get("timezone", "America/New_York"))
PHASE = {name: spec["phase"] for name, spec in WORKFLOW["states"].items()}
DESCRIPTION = {name: spec.get("description", "") for name, spec in WORKFLOW["states"].items()}
STATES = tuple(PHASE)
ACTION_FORM = {OPEN_EVENT: WORKFLOW["open"]["form"], **{n: a["form"] for n, a in WORKFLOW["actions"].items()}}
ACTION_TITLE = {n: a.get("title", n) for n, a in WORKFLOW["actions"].items()}
#: Each deadline's title and the party role that owns it (the lead CPS office where that party is not on the case).
DEADLINES = {n: (d.get("title", n), d.get("owner", "cps")) for n, d in (WORKFLOW.get("deadlines") or {}).items()}


def _roles(roles: list[str]) -> frozenset[str]:
    return frozenset(CASE_ROLES if "*case" in roles else roles)


ACTION_ROLES = {n: _roles(a["roles"]) for n, a in WORKFLOW["actions"].items()}
#: Who opens a case with the opening form alone (prenatal identification).
OPEN_ROLES = _roles(WORKFLOW["open"]["roles"])
#: The other ways in (`open: variants:`): identification at birth, where hospital staff open a case at delivery and
#: the birth is recorded in the same step (`"birth": {...}` beside `"data"`), with the values the way in sets.
VARIANTS: Mapping[str, Any] = WORKFLOW["open"].get("variants") or {}
BIRTH = "birth"
BIRTH_ROLES = _roles(VARIANTS[BIRTH]["roles"])
BIRTH_ACTION: str = VARIANTS[BIRTH]["then"]
BIRTH_SET: Mapping[str, Any] = VARIANTS[BIRTH].get("set") or {}


def _reserved() -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for spec in VARIANTS.values():
        for key, value in (spec.get("set") or {}).items():
            found.setdefault(key, set()).add(str(value))
    return {key: frozenset(values) for key, values in found.items()}


#: Opening values a way in sets, which a plain opening may not claim (identified_by: hospital).
RESERVED = _reserved()


def local_date(now: datetime) -> date:
    return now.astimezone(ZONE).date()


def tier_of(form: str, field_id: str) -> str:
    return FORMS[form].fields[field_id].tier


# --- the pathway (PATHWAY.md "Actions", amended by "Decisions"): where each action goes ---------------------------

PRENATAL = ("identified", "referred", "in_treatment", "disengaged", "declined", "meeting_scheduled", "plan_agreed")
OPEN_STATES = tuple(s for s in STATES if s != "closed")


def next_state(action: str, state: str, data: Mapping[str, Any]) -> str | None:
    """The state `action` leads to from `state` with `data`; None where the pathway does not offer it."""
    same = {
        "record_consent": PRENATAL, "revoke_consent": OPEN_STATES, "record_interim_services": ("referred",),
        "update_plan": ("plan_agreed", "cps_assessment", "follow_up", "investigation"),
        "record_plan_at_birth": ("cps_assessment",),
        "record_referral": ("born_with_plan", "born_without_plan", "notified", "cps_assessment", "follow_up",
                            "investigation"),
        "record_follow_up": ("follow_up", "investigation"),
    }
    moves: dict[str, tuple[tuple[str, ...], str]] = {
        "refer_to_treatment": (("identified", "declined"), "referred"),
        "record_disengagement": (("in_treatment",), "disengaged"),
        "record_declined": (("identified", "referred", "disengaged"), "declined"),
        "schedule_planning_meeting": (("identified", "referred", "in_treatment", "disengaged", "declined"),
                                      "meeting_scheduled"),
        "record_planning_meeting": (("meeting_scheduled",), "plan_agreed"),
        "discharge": (("notified", "cps_assessment"), "follow_up"),
        "report_safety_concern": (("follow_up",), "investigation"),
        "record_pregnancy_loss": (PRENATAL, "closed"),
        "transfer_out": (OPEN_STATES, "closed"),
        "close_case": (("follow_up", "declined"), "closed"),
    }
    if action in same:
        return state if state in same[action] else None
    if action in moves:
        sources, target = moves[action]
        return target if state in sources else None
    if action == "admit_to_treatment":  # Decisions: every prenatal state; keeps meeting_scheduled and plan_agreed
        if state not in PRENATAL:
            return None
        return state if state in ("meeting_scheduled", "plan_agreed") else "in_treatment"
    if action == "record_birth":
        if state not in PRENATAL:
            return None
        return "born_with_plan" if state == "plan_agreed" else "born_without_plan"
    if action == "notify_cps":
        if state not in ("born_with_plan", "born_without_plan"):
            return None
        calm = data.get("safety_concern") == "no" and not data.get("_birth_safety_concern")
        return "notified" if state == "born_with_plan" and calm else "cps_assessment"
    if action == "conclude_investigation":
        if state != "investigation":
            return None
        return "closed" if data.get("ends_case") == "yes" else "follow_up"
    return None


PLAN_VERSION_ACTIONS = ("record_planning_meeting", "update_plan", "record_plan_at_birth")
#: The actions the test takes: those of the workflow whose way through the pathway `next_state` knows.
KNOWN_ACTIONS = tuple(a for a in WORKFLOW["actions"] if any(next_state(a, s, {}) for s in STATES))


# --- the world and each case, as the test knows them --------------------------------------------------------------


@dataclass(frozen=True)
class Org:
    id: str
    kind: str
    name: str


@dataclass(repr=False)
class User:
    role: str
    org: Org
    key: str
    id: str = ""

    def __str__(self) -> str:
        return f"the {self.role} user of {self.org.id}"

    __repr__ = __str__


@dataclass
class Consent:
    seq: int
    organisations: frozenset[str]
    categories: frozenset[str]
    signed_on: date
    expires_on: date
    revoked: bool = False

    def active(self, today: date) -> bool:
        """Active from its signing date until the day before its expiry date, unless revoked."""
        return not self.revoked and self.signed_on <= today < self.expires_on

    def __str__(self) -> str:
        return (f"consent #{self.seq} naming {sorted(self.organisations)} for {sorted(self.categories)}, "
                f"{self.signed_on}..{self.expires_on - timedelta(days=1)}{' (revoked)' if self.revoked else ''}")


@dataclass
class Event:
    seq: int
    action: str
    form: str | None
    from_state: str | None
    to_state: str
    organisation: str
    data: dict[str, Any]


@dataclass
class CaseModel:
    id: str
    opener: Org
    lead: str
    hospital: str
    identification: dict[str, Any]
    state: str = "identified"
    treatment_org: str | None = None
    treatment_orgs: set[str] = field(default_factory=set)  # every program that has been the treating one
    events: list[Event] = field(default_factory=list)
    consents: list[Consent] = field(default_factory=list)
    plan_versions: int = 0
    at_birth: bool = False  # opened at delivery by the hospital (identification at birth)

    @property
    def phase(self) -> str:
        return PHASE[self.state]

    @property
    def last_name(self) -> str:
        return str(self.identification["last_name"])

    @property
    def date_of_birth(self) -> str:
        return str(self.identification["date_of_birth"])

    @property
    def parent(self) -> tuple[str, str]:
        """Who the parent is, as the delivery lookup and the one-open-case-per-pregnancy rule match: the last name
        (case and surrounding spaces aside) and the date of birth."""
        return self.last_name.strip().casefold(), self.date_of_birth

    def history_states(self) -> set[str]:
        found = {self.state}
        for e in self.events:
            found |= {s for s in (e.from_state, e.to_state) if s}
        return found

    def describe(self, today: date) -> str:
        active = [str(c) for c in self.consents if c.active(today)]
        how = " at delivery" if self.at_birth else ""
        return (f"case {self.id} (opened{how} by {self.opener.id}, a {self.opener.kind} organisation; lead CPS "
                f"{self.lead}; delivery hospital {self.hospital}; treating program {self.treatment_org or 'none'}; "
                f"state {self.state}; active consents: {'; '.join(active) or 'none'})")


# --- the rules (docs/who-sees-what.md), by hand -------------------------------------------------------------------

READER, LEAD, DELIVERY = "every reader", "the lead CPS office", "the delivery hospital"
#: "Minimum necessary": which readers see each specific state.
STATE_AUDIENCE: dict[str, tuple[str, ...]] = {
    "identified": (READER,), "closed": (READER,),
    "referred": (T,), "in_treatment": (T,), "disengaged": (T,), "declined": (T,),
    "meeting_scheduled": (P,), "plan_agreed": (P,),
    "born_with_plan": (P, DELIVERY), "born_without_plan": (P, DELIVERY),
    "notified": (P,), "follow_up": (P,),
    "cps_assessment": (LEAD,), "investigation": (LEAD,),
}
#: "Minimum necessary": which readers see the events of each action.
EVENT_AUDIENCE: dict[str, tuple[str, ...]] = {
    OPEN_EVENT: (READER,),
    "record_consent": (P, T), "revoke_consent": (P, T),
    "refer_to_treatment": (T,), "record_interim_services": (T,), "admit_to_treatment": (T,),
    "record_treatment_progress": (T,), "record_disengagement": (T,), "record_declined": (T,),
    "schedule_planning_meeting": (P,), "record_planning_meeting": (P,), "update_plan": (P,),
    "record_plan_at_birth": (P,), "record_referral": (P,), "record_follow_up": (P,), "record_pregnancy_loss": (P,),
    "transfer_out": (P,), "close_case": (P,),
    "record_birth": (P, DELIVERY), "notify_cps": (P, DELIVERY), "discharge": (P, DELIVERY),
    "report_safety_concern": (LEAD,), "conclude_investigation": (LEAD,), MISSED_EVENT: (LEAD,),
}
#: "Role ceilings": what a hospital never sees, whatever a consent says.
HOSPITAL_STATES = frozenset({"notified", "cps_assessment", "follow_up", "investigation"})
HOSPITAL_EVENTS = frozenset({"report_safety_concern", "conclude_investigation", MISSED_EVENT})
HOSPITAL_FIELDS = frozenset({("follow_up_contact", "notes"), ("disengagement", "reason"), ("declination", "reason")})
NO_CASE_DATA_KINDS = frozenset({"state", "admin"})


@dataclass(frozen=True)
class Holding:
    """The tiers an organisation holds on a case, and why (for failure messages)."""

    tiers: tuple[str, ...]
    because: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.tiers)

    def __str__(self) -> str:
        held = ", ".join(self.tiers) if self.tiers else "no tier"
        return f"holds {held} ({'; '.join(self.because) or 'no part in the case and no consent'})"


def ordered(tiers: Iterable[str]) -> tuple[str, ...]:
    held = set(tiers)
    return tuple(t for t in TIER_ORDER if t in held)


class Oracle:
    """Who may see what of a case, for an organisation, on a day (docs/who-sees-what.md)."""

    def holding(self, org: Org, case: CaseModel, today: date) -> Holding:
        if org.kind in NO_CASE_DATA_KINDS:
            return Holding((), ("analysts and administrators never see case data",))
        tiers: set[str] = set()
        because = []
        if org.id == case.opener.id:
            tiers.add(S)
            because.append("identified the parent (status)")
        if org.id == case.lead:
            tiers |= {S, P}
            because.append("lead CPS office (status, plan)")
        if org.id == case.hospital:
            tiers.add(S)
            because.append("planned delivery hospital (status)")
        if org.id == case.treatment_org:
            tiers |= {S, T}
            because.append("treating program (status, treatment)")
        named = False
        for consent in case.consents:
            if consent.active(today) and org.id in consent.organisations:
                named = True
                tiers |= {S, *consent.categories}
                because.append(f"named in active {consent}")
        if case.opener.kind == "treatment" and org.id != case.opener.id and not named:
            return Holding((), ("consent first: the case was opened by a treatment program and no active consent "
                                "names this organisation",))
        return Holding(ordered(tiers), tuple(because))

    def sees_state(self, org: Org, case: CaseModel, state: str | None, holding: Holding) -> bool:
        if state is None or not holding:
            return False
        if org.kind == "hospital" and state in HOSPITAL_STATES:
            return False
        return self._reaches(org, case, STATE_AUDIENCE[state], holding)

    def sees_event(self, org: Org, case: CaseModel, event: Event, holding: Holding) -> bool:
        if not holding:
            return False
        if org.kind == "hospital" and event.action in HOSPITAL_EVENTS:
            return False
        return self._reaches(org, case, EVENT_AUDIENCE.get(event.action, (LEAD,)), holding)

    def sees_field(self, org: Org, form: str, field_id: str, holding: Holding) -> bool:
        if org.kind == "hospital" and (form, field_id) in HOSPITAL_FIELDS:
            return False
        return tier_of(form, field_id) in holding.tiers

    def findable(self, org: Org, case: CaseModel, today: date) -> bool:
        """Whether the delivery check (`POST /lookup`, hospital staff and CPS workers) finds the case for this
        organisation: a parent may give birth anywhere, so any hospital or CPS office; but never a treatment
        program's case for an organisation no active consent names, and never CPS history (a closed case) for
        hospital staff."""
        named = any(c.active(today) and org.id in c.organisations for c in case.consents)
        part2_closed = case.opener.kind == "treatment" and org.id != case.opener.id and not named
        history = org.kind == "hospital" and case.state == "closed"
        return not part2_closed and not history

    def names_open_case(self, user: User, case: CaseModel, today: date) -> bool:
        """Opening a second case for the same parent: refused with this case's reference only while the case is
        open and the opener holds a tier on it, or is hospital staff or a CPS worker whom the delivery check would
        answer; anyone else is told nothing, and its case opens."""
        if case.state not in OPEN_STATES:
            return False
        return bool(self.holding(user.org, case, today)) or (user.role in LOOKUP_ROLES
                                                            and self.findable(user.org, case, today))

    def may_hide(self, org: Org, case: CaseModel) -> bool:
        """Where the rules are silent on whether hiding more is required (a hospital and a closed case: CPS
        history), answering as if the case were unknown is accepted too."""
        return org.kind == "hospital" and case.state == "closed"

    @staticmethod
    def _reaches(org: Org, case: CaseModel, audience: Iterable[str], holding: Holding) -> bool:
        for who in audience:
            if who == READER or who in holding.tiers:
                return True
            if who == LEAD and org.id == case.lead:
                return True
            if who == DELIVERY and org.id == case.hospital:
                return True
        return False

    def why_not_state(self, org: Org, case: CaseModel, state: str) -> str:
        if org.kind == "hospital" and state in HOSPITAL_STATES:
            return f"hospital staff never see the state {state} (role ceiling)"
        return f"the state {state} is shown only to {' or '.join(STATE_AUDIENCE[state])}"

    def why_not_event(self, org: Org, event: Event) -> str:
        if org.kind == "hospital" and event.action in HOSPITAL_EVENTS:
            return f"hospital staff never see {event.action} events (role ceiling)"
        return f"{event.action} events are shown only to {' or '.join(EVENT_AUDIENCE.get(event.action, (LEAD,)))}"

    def why_not_field(self, org: Org, form: str, field_id: str) -> str:
        if org.kind == "hospital" and (form, field_id) in HOSPITAL_FIELDS:
            return f"hospital staff never see {form}.{field_id} (contact notes and reasons: role ceiling)"
        return f"{form}.{field_id} is {tier_of(form, field_id)} tier"


# --- markers ------------------------------------------------------------------------------------------------------

MARKER = re.compile(r"MK(\d+)X", re.IGNORECASE)


@dataclass(frozen=True)
class MarkerInfo:
    case_id: str
    seq: int
    action: str
    form: str
    field: str  # the top-level field of the form (a record's sub-field is marked at its record's field)

    def __str__(self) -> str:
        return f"{self.form}.{self.field} of event {self.seq} ({self.action}) of case {self.case_id}"


class Markers:
    """Unique marker strings, and where each submitted one went (a value given again, the parent's last name on a
    second case for the same parent, goes to each place it was given: `also`)."""

    def __init__(self) -> None:
        self.count = 0
        self.known: dict[str, MarkerInfo] = {}
        self.others: dict[str, list[MarkerInfo]] = {}

    def new(self) -> str:
        """A value to plant: `MK00001X`, `MK00002X`... Long enough that a random token on a page (a form's proof,
        a session's) does not hold one by chance, as `mk8x` once did."""
        self.count += 1
        return f"MK{self.count:05d}X"

    def register(self, marker: str, info: MarkerInfo) -> None:
        self.known[marker.upper()] = info

    def also(self, marker: str, info: MarkerInfo) -> None:
        """The value carrying this marker was given again, elsewhere."""
        self.others.setdefault(marker.upper(), []).append(info)

    def owners(self, marker: str) -> list[MarkerInfo]:
        """Every place the value carrying this marker was given."""
        first = self.known.get(marker.upper())
        return ([first] if first else []) + self.others.get(marker.upper(), [])

    def found(self, text: str) -> Iterator[tuple[str, MarkerInfo]]:
        seen = set()
        squeezed = re.sub(r"\s+", "", text)
        for source in (text, squeezed):
            for m in MARKER.finditer(source):
                marker = f"MK{m.group(1)}X"
                if marker not in seen and marker in self.known:
                    seen.add(marker)
                    yield marker, self.known[marker]


# --- checking answers ---------------------------------------------------------------------------------------------


@dataclass
class Answer:
    """One HTTP answer as the checker needs it (real or fabricated by a self-test)."""

    status: int
    headers: Mapping[str, str]
    text: str
    request: str = ""  # method, path and body: an id the caller sent may come back to it

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Expected:
    """A read that must appear in the lead's accounting of disclosures."""

    user: User
    what: str | None
    tiers: tuple[str, ...] | None
    where: str


STATE_KEYS = ("state", "from_state", "to_state")
#: Multi-word states whose label can be recognised on a page (single words are ordinary English or choice values).
LABELLED_STATES = ("cps_assessment", "in_treatment", "meeting_scheduled", "plan_agreed", "born_with_plan",
                   "born_without_plan", "follow_up")


class Checker:
    """Holds every answer against the oracle; collects problems in domain words instead of stopping at the first."""

    def __init__(self, oracle: Oracle, cases: Mapping[str, CaseModel], markers: Markers,
                 today: Callable[[], date]) -> None:
        self.oracle = oracle
        self.cases = cases
        self.markers = markers
        self.today = today
        self.problems: list[str] = []

    # --- reporting ---

    def problem(self, user: User, where: str, what: str, why: str, case: CaseModel | None = None) -> None:
        about = f"\n    {case.describe(self.today())}" if case else ""
        held = f"\n    {user.org.id} {self.oracle.holding(user.org, case, self.today())}" if case else ""
        self.problems.append(f"{user} at {where}: {what}; {why}{about}{held}")

    def raise_if_any(self, context: str = "") -> None:
        if self.problems:
            found, self.problems = self.problems, []
            shown = found[:25]
            more = f"\n... and {len(found) - len(shown)} more" if len(found) > len(shown) else ""
            raise AssertionError(f"{len(found)} disclosure problem(s){' after ' + context if context else ''}:\n- "
                                 + "\n- ".join(shown) + more)

    def holding(self, user: User, case: CaseModel) -> Holding:
        return self.oracle.holding(user.org, case, self.today())

    # --- every answer ---

    def common(self, user: User, where: str, answer: Answer, *, values: bool = True, ids: bool = True) -> None:
        """Headers, markers anywhere in the text (`values=False`: lists, worklists, lookups, action lists and the
        accounting carry no form values at all), and (`ids`) references of cases the reader may not know (lists,
        worklists and lookups check their items one by one instead)."""
        if "no-store" not in answer.headers.get("cache-control", "").lower():
            self.problems.append(f"{user} at {where}: answer {answer.status} without Cache-Control: no-store "
                                 f"(got {answer.headers.get('cache-control')!r}); every answer carrying case data "
                                 "must not be stored")
        searched = answer.text
        if "json" in answer.headers.get("content-type", ""):
            with contextlib.suppress(ValueError):  # keys and values, decoded (JSON escapes cannot hide a marker)
                searched += "\n" + "\n".join(f"{k}\n{v}" for k, v in _leaves(answer.json()))
        self.marker_text(user, where, searched, none_allowed=not values)
        for case in self.cases.values() if ids else ():
            if case.id in answer.text and case.id not in answer.request:
                holding = self.holding(user, case)
                if not holding and not self.oracle.may_hide(user.org, case):
                    self.problem(user, where, f"the answer names case {case.id}",
                                 "an organisation that holds no tier on a case cannot learn that it exists", case)

    def marker_text(self, user: User, where: str, text: str, *, none_allowed: bool = False) -> None:
        for marker, info in self.markers.found(text):
            case = self.cases.get(info.case_id)
            if case is None:
                continue
            if none_allowed:
                self.problem(user, where, f"the answer carries the value {marker} of {info}",
                             "lists, worklists, lookups, action lists and the accounting carry no form values", case)
                continue
            reason = self.forbidden_marker(user, case, info)
            if reason and all(self.forbidden_marker(user, self.cases[other.case_id], other)
                              for other in self.markers.owners(marker)[1:] if other.case_id in self.cases):
                self.problem(user, where, f"the answer carries the value {marker} of {info}", reason, case)

    def forbidden_marker(self, user: User, case: CaseModel, info: MarkerInfo) -> str | None:
        """Why the reader may not see this value, or None if it may."""
        holding = self.holding(user, case)
        if not holding:
            return "its organisation may not know the case exists"
        event = next((e for e in case.events if e.seq == info.seq), None)
        if event is None:
            return None
        if not self.oracle.sees_event(user.org, case, event, holding):
            return self.oracle.why_not_event(user.org, event)
        if not self.oracle.sees_field(user.org, info.form, info.field, holding):
            return self.oracle.why_not_field(user.org, info.form, info.field) + f" and {user.org.id} {holding}"
        return None

    def state_keys(self, user: User, case: CaseModel, where: str, value: Any) -> None:
        """Any `state`/`from_state`/`to_state` anywhere in an answer about this case names only states the reader
        may see."""
        holding = self.holding(user, case)
        for key, found in _items(value):
            if (key in STATE_KEYS and isinstance(found, str) and found in PHASE
                    and not self.oracle.sees_state(user.org, case, found, holding)):
                self.problem(user, where, f"the answer names the state {found} (as {key})",
                             self.oracle.why_not_state(user.org, case, found), case)

    def hidden_state_in_text(self, user: User, case: CaseModel, where: str, text: str, *, html: bool) -> None:
        """The current state, where the reader may not see it, is named nowhere in a text (refusals, pages)."""
        holding = self.holding(user, case)
        state = case.state
        if not holding or self.oracle.sees_state(user.org, case, state, holding):
            return
        cleaned = text
        for title in ACTION_TITLE.values():
            cleaned = re.sub(re.escape(title), " ", cleaned, flags=re.IGNORECASE)
        patterns = [re.escape(DESCRIPTION[state])] if DESCRIPTION[state] else []
        patterns.append(rf"\b(?:state|stage)\W+{state}\b")
        if "_" in state:
            patterns.append(rf"(?<![a-z_]){state}(?![a-z_])")
        if html and state in LABELLED_STATES:
            label = re.escape(state.replace("_", " "))
            patterns += [rf">\s*{label}\s*<", rf"→\s*{label}\b", rf"\b{label}\s*→"]
        for pattern in patterns:
            if re.search(pattern, cleaned, flags=re.IGNORECASE):
                self.problem(user, where, f"the answer names the current state {state} (matched {pattern!r})",
                             self.oracle.why_not_state(user.org, case, state), case)
                return

    # --- one case ---

    def hidden(self, user: User, case: CaseModel, where: str, answer: Answer, unknown: Answer | None) -> bool:
        """A case the reader may not know answers exactly as a reference never issued. True if checked as hidden."""
        holding = self.holding(user, case)
        if holding:
            return False
        if answer.status != 404:
            self.problem(user, where, f"answered {answer.status}, not 404: {answer.text[:200]}",
                         "an organisation that holds no tier on a case cannot learn that it exists", case)
            return True
        if unknown is not None and unknown.status == 404:
            try:
                same = answer.json()
                other = unknown.json()
            except ValueError:
                return True
            if isinstance(same, dict) and isinstance(other, dict):
                same = {k: (v.replace(case.id, "PC-ZZZZ-ZZZZ") if isinstance(v, str) else v)
                        for k, v in same.items()}
                if same != other:
                    self.problem(user, where, f"its 404 ({same}) differs from the 404 for a case that was never "
                                 f"issued ({other})", "a hidden case must answer exactly as an unknown one", case)
        return True

    def view(self, user: User, case: CaseModel, where: str, body: Any, *, replay_states: Iterable[str] = ()) -> None:
        """A case view (GET /cases/{id}, an action's answer, a replay, the opening answer)."""
        holding = self.holding(user, case)
        if not isinstance(body, dict):
            self.problem(user, where, f"the answer is not a case view: {str(body)[:200]}", "", case)
            return
        if not holding:  # its own action just ended its access (it revoked the consent that named it)
            for key in ("data", "deadlines"):
                if body.get(key):
                    self.problem(user, where, f"the answer still carries {key}: {str(body[key])[:200]}",
                                 "its organisation no longer holds any tier on the case", case)
            if body.get("state"):
                self.problem(user, where, f"the answer shows the state {body['state']}",
                             "its organisation no longer holds any tier on the case", case)
            return
        if tuple(body.get("tiers") or ()) != holding.tiers:
            self.problem(user, where, f"the view says the organisation holds {body.get('tiers')}",
                         f"by the rules {user.org.id} {holding}", case)
        shown_state = body.get("state")
        allowed_states = {case.state, *replay_states}
        if shown_state is not None:
            if shown_state not in PHASE or not self.oracle.sees_state(user.org, case, shown_state, holding):
                self.problem(user, where, f"the view shows the state {shown_state!r}",
                             self.oracle.why_not_state(user.org, case, shown_state if shown_state in PHASE
                                                       else case.state), case)
            elif shown_state not in allowed_states:
                self.problem(user, where, f"the view shows the state {shown_state!r}, not {case.state}",
                             "a reader who may see the state sees the case's actual state", case)
        elif self.oracle.sees_state(user.org, case, case.state, holding) and not replay_states:
            self.problem(user, where, f"the view withholds the state {case.state}",
                         f"{user.org.id} {holding} and may see it (withheld too much)", case)
        if "phase" in body and body["phase"] not in {PHASE[s] for s in allowed_states}:
            self.problem(user, where, f"the view shows the phase {body['phase']!r}, not {case.phase}",
                         "every reader of a case sees its phase", case)
        self.fields(user, case, where, "identification", case.identification, body.get("data") or {},
                    "the opening form (identification)")
        if user.org.id != case.lead:
            for deadline in body.get("deadlines") or []:
                if isinstance(deadline, dict) and deadline.get("owner") != user.org.id:
                    self.problem(user, where, f"the view shows the deadline {deadline.get('deadline')!r} owned by "
                                 f"{deadline.get('owner')}", "each reader sees only the open deadlines its own "
                                 "organisation owns; only the lead CPS office sees all of them", case)
        self.state_keys(user, case, where, {k: v for k, v in body.items() if k != "state"})

    def fields(self, user: User, case: CaseModel, where: str, form: str, submitted: Mapping[str, Any],
               shown: Mapping[str, Any], what: str) -> None:
        holding = self.holding(user, case)
        expected = {k for k in submitted if not k.startswith("_") and self.oracle.sees_field(user.org, form, k,
                                                                                                holding)}
        for key in sorted(set(shown) - expected):
            if key in FORMS[form].fields:
                self.problem(user, where, f"{what} shows the field {form}.{key} = {str(shown[key])[:80]!r}",
                             self.oracle.why_not_field(user.org, form, key) + f", and {user.org.id} {holding}", case)
            else:
                self.problem(user, where, f"{what} shows {key!r}, which is no field of the form {form}", "", case)
        for key in sorted(expected - set(shown)):
            self.problem(user, where, f"{what} withholds the field {form}.{key}",
                         f"it is {tier_of(form, key)} tier and {user.org.id} {holding} (withheld too much)", case)
        for key in sorted(expected & set(shown)):
            value = submitted[key]
            if FORMS[form].fields[key].type == "text" and shown[key] != value:
                self.problem(user, where, f"{what} shows {form}.{key} = {shown[key]!r}, not {value!r}", "", case)

    def events(self, user: User, case: CaseModel, where: str, body: Any) -> None:
        holding = self.holding(user, case)
        if not isinstance(body, list):
            self.problem(user, where, f"the history is not a list: {str(body)[:200]}", "", case)
            return
        model = {e.seq: e for e in case.events}
        expected = [e.seq for e in case.events if self.oracle.sees_event(user.org, case, e, holding)]
        shown = [int(e.get("seq") or 0) for e in body if isinstance(e, dict)]
        for event in body:
            seq = event.get("seq")
            known = model.get(seq)
            if known is None:
                self.problem(user, where, f"the history shows an event {seq} ({event.get('action')}) the test "
                             "never caused", "every event the case has is known to the test", case)
                continue
            if seq not in expected:
                self.problem(user, where, f"the history shows event {seq} ({known.action})",
                             self.oracle.why_not_event(user.org, known) + f", and {user.org.id} {holding}", case)
                continue
            self.event(user, case, where, event, known, holding)
        missing = [model[s] for s in expected if s not in shown]
        for event in missing:
            self.problem(user, where, f"the history leaves out event {event.seq} ({event.action})",
                         f"{event.action} events are shown to {' or '.join(EVENT_AUDIENCE.get(event.action, ()))} "
                         f"and {user.org.id} {holding} (withheld too much)", case)
        if shown != sorted(shown):
            self.problem(user, where, f"the history is not oldest first: {shown}", "", case)

    def event(self, user: User, case: CaseModel, where: str, shown: Mapping[str, Any], known: Event,
              holding: Holding) -> None:
        at = f"{where} event {known.seq} ({known.action})"
        if shown.get("action") != known.action:
            self.problem(user, at, f"the event is {shown.get('action')!r}", "", case)
        for key, state in (("from_state", known.from_state), ("to_state", known.to_state)):
            value = shown.get(key)
            if state is not None and self.oracle.sees_state(user.org, case, state, holding):
                if value != state:
                    self.problem(user, at, f"{key} is {value!r}, not {state}", "the reader may see that state",
                                 case)
            elif value is not None:
                self.problem(user, at, f"{key} shows {value!r}",
                             self.oracle.why_not_state(user.org, case, value if value in PHASE else str(state)),
                             case)
        if known.form is not None:
            self.fields(user, case, at, known.form, known.data, shown.get("data") or {}, "the event")

    def actions(self, user: User, case: CaseModel, where: str, body: Any) -> None:
        if not isinstance(body, list):
            self.problem(user, where, f"the actions are not a list: {str(body)[:200]}", "", case)
            return
        holding = self.holding(user, case)
        hidden = not self.oracle.sees_state(user.org, case, case.state, holding)
        for option in body:
            name = option.get("action")
            if name in ACTION_ROLES and user.role not in ACTION_ROLES[name]:
                self.problem(user, where, f"the action list names {name}",
                             f"the list names only what the reader's role may do ({name}: "
                             f"{', '.join(sorted(ACTION_ROLES[name]))})", case)
            if hidden:
                named = [t for t in [option.get("target"), *(option.get("targets") or [])] if t == case.state]
                if named:
                    self.problem(user, where, f"{name} names the current state {case.state} as its target",
                                 self.oracle.why_not_state(user.org, case, case.state), case)
                self.hidden_state_in_text(user, case, f"{where} ({name} reasons)",
                                          " ".join(option.get("reasons") or []), html=False)

    def refusal(self, user: User, case: CaseModel, where: str, answer: Answer) -> None:
        """A refused action by a reader of the case: no state it may not see, no value it may not see."""
        self.hidden_state_in_text(user, case, where, answer.text, html=False)
        with contextlib.suppress(ValueError):
            self.state_keys(user, case, where, answer.json())

    def page(self, user: User, case: CaseModel, where: str, text: str, *,
             contacts: Mapping[str, str] | None = None) -> None:
        """An HTML page or document about one case (markers are checked by `common`): the current state where the
        reader may not see it; deadlines other organisations own; in documents, the treating program's contact
        for a reader without the treatment tier (`contacts`: organisation id → its contact line)."""
        self.hidden_state_in_text(user, case, where, text, html=True)
        holding = self.holding(user, case)
        if user.org.id != case.lead:
            for name, (title, owner) in DEADLINES.items():
                owners = {"hospital": {case.hospital}, "treatment": case.treatment_orgs}.get(owner, set())
                if user.org.id not in owners and re.search(re.escape(title), text, flags=re.IGNORECASE):
                    self.problem(user, where, f"the page shows the deadline {title!r} ({name}, owned by the "
                                 f"{owner} party)", "each reader sees only the deadlines its own organisation owns; "
                                 "only the lead CPS office sees all of them", case)
        if contacts and case.treatment_org and T not in holding.tiers and case.treatment_org != user.org.id:
            line = contacts.get(case.treatment_org)
            if line and line in text:
                self.problem(user, where, f"the document gives the treating program's contact ({line!r})",
                             f"who treats the parent is treatment tier (treatment_referral/treatment_admission."
                             f"provider_org) and {user.org.id} {holding}", case)

    def diagram(self, user: User, case: CaseModel, where: str, text: str) -> None:
        """The case's diagram highlights the current state only for a reader who may see it."""
        holding = self.holding(user, case)
        found = re.search(r"\bclass\s+(\S+)\s+current\b", text)
        if found and not self.oracle.sees_state(user.org, case, case.state, holding):
            self.problem(user, where, f"the diagram highlights {found.group(1)}",
                         self.oracle.why_not_state(user.org, case, case.state), case)

    # --- many cases ---

    def case_list(self, user: User, where: str, body: Any, *, state: str | None = None,
                  phase: str | None = None, subset: bool = False) -> list[str]:
        """GET /cases (optionally filtered): exactly the cases the reader may know (whose state, for ?state=, the
        reader may see and is that state); tiers and state as on the case. With `subset` (a filter the model does not
        know the answer to, ?overdue=true), only cases the reader may know, nothing about the ones left out. Returns
        the ids listed."""
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            self.problems.append(f"{user} at {where}: not a case list: {str(body)[:200]}")
            return []
        listed = {}
        for item in items:
            case = self.cases.get(item.get("id"))
            if case is None:
                self.problems.append(f"{user} at {where}: lists {item.get('id')}, a case the test never opened")
                continue
            listed[case.id] = item
            holding = self.holding(user, case)
            if not holding:
                if not self.oracle.may_hide(user.org, case):
                    self.problem(user, where, "the list shows the case",
                                 "an organisation that holds no tier on a case cannot learn that it exists", case)
                continue
            sees = self.oracle.sees_state(user.org, case, case.state, holding)
            if state is not None and not (sees and case.state == state):
                why = (self.oracle.why_not_state(user.org, case, case.state) if not sees
                       else f"the case is in {case.state}")
                self.problem(user, where, f"the filter ?state={state} matches the case", why, case)
            if phase is not None and case.phase != phase:
                self.problem(user, where, f"the filter ?phase={phase} matches the case", f"it is in {case.phase}",
                             case)
            if tuple(item.get("tiers") or ()) != holding.tiers:
                self.problem(user, where, f"the list says the organisation holds {item.get('tiers')}",
                             f"by the rules {user.org.id} {holding}", case)
            shown_state = item.get("state")
            if sees and shown_state != case.state:
                self.problem(user, where, f"the list shows the state {shown_state!r}, not {case.state}", "", case)
            if not sees and shown_state is not None:
                self.problem(user, where, f"the list shows the state {shown_state!r}",
                             self.oracle.why_not_state(user.org, case, case.state), case)
            if item.get("phase") not in (None, case.phase):
                self.problem(user, where, f"the list shows the phase {item.get('phase')!r}, not {case.phase}", "",
                             case)
        for case in [] if subset else self.cases.values():
            holding = self.holding(user, case)
            if not holding or case.id in listed or self.oracle.may_hide(user.org, case):
                continue
            if state is not None and not (case.state == state
                                          and self.oracle.sees_state(user.org, case, case.state, holding)):
                continue
            if phase is not None and case.phase != phase:
                continue
            self.problem(user, where, "the list leaves the case out",
                         f"{user.org.id} {holding} (the list shows every case the organisation may see)", case)
        return list(listed)

    def worklist(self, user: User, where: str, body: Any, *, state: str | None = None) -> None:
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            self.problems.append(f"{user} at {where}: not a worklist: {str(body)[:200]}")
            return
        for item in items:
            case = self.cases.get(item.get("case"))
            if case is None:
                self.problems.append(f"{user} at {where}: a work item for {item.get('case')}, a case the test "
                                     "never opened")
                continue
            holding = self.holding(user, case)
            if not holding:
                if not self.oracle.may_hide(user.org, case):
                    self.problem(user, where, f"the worklist has the item {item.get('deadline')!r} for the case",
                                 "an organisation that holds no tier on a case cannot learn that it exists", case)
                continue
            if item.get("owner") not in (None, user.org.id):
                self.problem(user, where, f"the worklist has {item.get('deadline')!r} owned by {item.get('owner')}",
                             "a worklist holds the organisation's own deadlines", case)
            sees = self.oracle.sees_state(user.org, case, case.state, holding)
            shown_state = item.get("state")
            if shown_state is not None and (not sees or shown_state != case.state):
                self.problem(user, where, f"the work item {item.get('deadline')!r} shows the state {shown_state!r}",
                             self.oracle.why_not_state(user.org, case, case.state) if not sees else
                             f"the case is in {case.state}", case)
            if state is not None and not (sees and case.state == state):
                self.problem(user, where, f"the filter ?state={state} matches the work item "
                             f"{item.get('deadline')!r}", self.oracle.why_not_state(user.org, case, case.state)
                             if not sees else f"the case is in {case.state}", case)

    def lookup(self, user: User, where: str, body: Any, case: CaseModel) -> list[str]:
        """POST /lookup for this case's parent: exactly the case if the reader may know it (hospitals: only while
        it is open), with the reference, whether a plan is in place and the lead contact only."""
        matches = body.get("matches") if isinstance(body, dict) else None
        if not isinstance(matches, list):
            self.problem(user, where, f"not a lookup answer: {str(body)[:200]}", "", case)
            return []
        ids = [m.get("id") for m in matches]
        # The delivery check finds a parent's case for any hospital or CPS office (a parent may give birth anywhere),
        # with the minimal answer; but never a treatment program's case for an organisation no active consent
        # names, and never CPS history (a closed case) for hospital staff.
        expect = self.oracle.findable(user.org, case, self.today())
        history = user.org.kind == "hospital" and case.state == "closed"
        holding = self.holding(user, case)
        if case.id in ids and not expect:
            why = ("hospital staff never see CPS history: the lookup finds only open cases" if history else
                   "consent first: a treatment program's case is found only by organisations a consent names")
            self.problem(user, where, "the lookup finds the case", why, case)
        if expect and case.id not in ids:
            self.problem(user, where, "the lookup does not find the case",
                         f"{user.org.id} {holding} (withheld too much)", case)
        for match in matches:
            extra = set(match) - {"id", "plan_in_place", "lead_contact"}
            if extra:
                self.problem(user, where, f"the lookup answer carries {sorted(extra)}",
                             "a lookup returns only the reference, whether a plan is in place, and the lead contact",
                             case)
            if match.get("id") == case.id and match.get("plan_in_place") != (case.plan_versions >= 1):
                self.problem(user, where, f"plan_in_place is {match.get('plan_in_place')}", "", case)
        return [i for i in ids if i == case.id]

    # --- the accounting of disclosures ---

    def accounting(self, lead: User, case: CaseModel, where: str, entries: list[Mapping[str, Any]],
                   expected: list[Expected]) -> None:
        """Every read in `expected` has its entry among `entries` (the new ones since the last look): by that user,
        preferably with the same `what` and tiers, else the same `what` (the tiers are then reported), else any.
        The names of `what` are the engine's; only the reader and, for a named read, the tiers are the rules'."""
        left = list(entries)

        def take(want: Expected, *, what: bool, tiers: bool) -> Mapping[str, Any] | None:
            for entry in left:
                if entry.get("actor") != want.user.id or (what and entry.get("what") != want.what):
                    continue
                if tiers and tuple(entry.get("tiers") or ()) != want.tiers:
                    continue
                left.remove(entry)
                return entry
            return None

        waiting = [w for w in expected if w.what is None or w.tiers is None or take(w, what=True, tiers=True) is None]
        named = [w for w in waiting if w.what is not None]
        for want in named:
            entry = take(want, what=True, tiers=False)
            if entry is not None:
                waiting.remove(want)
                if want.tiers is not None:
                    self.problem(want.user, want.where, f"the accounting records tiers {entry.get('tiers')}",
                                 f"the reader held {list(want.tiers)} when it read", case)
        for want in waiting:
            if take(want, what=False, tiers=False) is None:
                self.problem(want.user, want.where, "the read is missing from the lead's accounting of disclosures "
                             f"({where})", "every answer that carries case data is recorded before it leaves", case)


def _leaves(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every (key, leaf) pair of a JSON value, leaves as text."""
    if isinstance(value, dict):
        for inner_key, inner in value.items():
            yield from _leaves(inner, str(inner_key))
    elif isinstance(value, list):
        for inner in value:
            yield from _leaves(inner, key)
    else:
        yield key, "" if value is None else str(value)


def _items(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair anywhere in a JSON value."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key, inner
            yield from _items(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _items(inner)


# --- form data, with a marker in every free-text value ------------------------------------------------------------

OMIT = object()


class Filler:
    """Valid data for a form from its definition (so a field added to a form is filled too), every text value
    carrying a new marker; `overrides` fix what the pathway's guards need."""

    def __init__(self, markers: Markers, draw: Callable[[Any], Any], orgs: Mapping[str, Org], today: date,
                 now: datetime) -> None:
        import hypothesis.strategies as st

        self.st = st
        self.markers = markers
        self.draw = draw
        self.orgs = orgs
        self.today = today
        self.now = now
        self.pending: list[tuple[str, str, str]] = []  # (marker, form, top-level field)

    def text(self, form: str, field_id: str, prefix: str = "", limit: int = 200) -> str:
        marker = self.markers.new()
        self.pending.append((marker, form, field_id))
        return f"{prefix}{marker}"[: max(limit, len(marker))]

    def form(self, form: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        overrides = overrides or {}
        data: dict[str, Any] = {}
        for spec in FORMS[form].fields.values():
            value = overrides[spec.id] if spec.id in overrides else self.value(form, spec.id, spec)
            if value is not OMIT:
                data[spec.id] = value
        return data

    def value(self, form: str, top: str, spec: FieldDef) -> Any:
        st, draw = self.st, self.draw
        kind = spec.type
        if kind == "text":
            return self.text(form, top, f"{spec.id[:4]} ", int(spec.spec.get("max_length", 200)))
        if kind == "date":
            return self.today.isoformat()
        if kind == "datetime":
            return (self.now - timedelta(hours=1)).isoformat()
        if kind == "number":
            low, high = int(spec.spec.get("min", 0)), int(spec.spec.get("max", 100))
            return draw(st.integers(low, high))
        if kind == "choice":
            return draw(st.sampled_from([str(c) for c in spec.spec["choices"]]))
        if kind == "yes_no":
            return draw(st.sampled_from(["yes", "no"]))
        if kind == "multi_choice":
            least = int(spec.spec.get("min_items", 1))
            return draw(st.lists(st.sampled_from([str(c) for c in spec.spec["choices"]]), unique=True,
                                 min_size=least, max_size=3))
        if kind == "organisation":
            kinds = spec.spec.get("kinds") or list(PARTY_KINDS)
            choices = sorted(o.id for o in self.orgs.values() if o.kind in kinds)
            if spec.spec.get("many"):
                return draw(st.lists(st.sampled_from(choices), unique=True, min_size=1, max_size=3))
            if not spec.required and draw(st.booleans()):
                return OMIT
            return draw(st.sampled_from(choices))
        if kind == "records":
            least = int(spec.spec.get("min_items", 1))
            rows = draw(st.integers(least, max(least, 2)))
            out = []
            for _ in range(rows):
                row = {}
                for sub in spec.fields:
                    value = self.value(form, top, sub)
                    if value is not OMIT:
                        row[sub.id] = value
                out.append(row)
            return out
        raise AssertionError(f"form {form}: no test data for field type {kind!r} ({spec.id})")
