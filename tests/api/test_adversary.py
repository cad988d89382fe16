"""The adversary: a stateful property test (hypothesis) that plays every partner of the pathway at once, over HTTP,
and after every step asks, as every user of every organisation, for everything they could ask about every case
touched, holding each answer against an oracle written from docs/who-sees-what.md (tests/api/adversary_oracle.py),
not from the engine's code.

The world: two CPS offices, two treatment programs, two hospitals, a prenatal clinic, a peer network, the state's
analysts and the administrators, one user each. The steps (hypothesis rules): open a case as any opening role
(prenatal, treatment, peer, cps) with any lead CPS office and delivery hospital, or as hospital staff at delivery
(identification at birth: the opening and the birth in one step, the hospital's own organisation the delivery
hospital); take any action of the pathway as any user whose role allows it (and now and then as one who may not, or
on a case it may not know); sign consents naming random organisations and categories with random expiry; revoke
them; replay an earlier request with its Idempotency-Key; move the clock on by days (consents expire); run the
deadline tick (missed deadlines: CPS-only events and escalations); try organisations of the wrong kind, and the
opening at delivery out of turn (another role, another hospital, a plain opening claiming it); read a PDF now and
then.

After every step, for the cases the step touched (every case after the clock moved), every user reads the case
view, its history, its actions, its accounting of disclosures and both documents; every user reads the case list
and the worklist (half of them a step, in turn, also filtered by the state and phase of each touched case and by one
more state and phase in turn); hospital and CPS users look the parent up by name and date of birth; and three users
a step, in turn, read the case's web page (and now and then its diagram, the case list and the worklist pages).
Every free-text value and the parent's names carry a unique marker (`MK<n>X`), so a value that reaches a reader
who may not see its field, on that case, anywhere in any answer, is found. Checked: values; who may know a case
exists (404 exactly as for a reference never issued, absent from lists, worklists and lookups); the state (shown
only where the rules let the reader see it, and `?state=` filters never matching a case whose state the reader may
not see); the history, event by event and field by field (role ceilings included); `Cache-Control: no-store`;
that every read of case data appears in the lead CPS office's accounting of disclosures; and that replays show
nothing the caller's tiers of that moment do not cover.

Profiles: by default (CI) a few short runs that take well under two minutes per database. A longer search:

    POSC_ADVERSARY_EXAMPLES=200 POSC_ADVERSARY_STEPS=40 POSC_ADVERSARY_PDFS=3 .venv/bin/python -m pytest \
        tests/api/test_adversary.py

(`POSC_ADVERSARY_EXAMPLES`: runs, each a fresh world; `POSC_ADVERSARY_STEPS`: steps per run; `POSC_ADVERSARY_PDFS`:
PDF reads per run, each a second or two; `POSC_ADVERSARY_SHRINK=1`: shrink a failure to the fewest steps, which
replays the sweep many times and can take minutes.) With `POSC_TEST_DATABASE_URL` set it runs on PostgreSQL too.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import inspect, text

from api.app import create_app
from engine import Catalogue, Database, FixedClock, Settings, ensure_organisation
from engine.cases import IDEMPOTENCY_TTL
from engine.users import add_user
from tests.api.adversary_oracle import (
    ACTION_FORM,
    ACTION_ROLES,
    BIRTH,
    BIRTH_ACTION,
    BIRTH_ROLES,
    BIRTH_SET,
    CASE_ROLES,
    FORMS,
    KNOWN_ACTIONS,
    MARKER,
    MISSED_EVENT,
    OMIT,
    OPEN_EVENT,
    OPEN_ROLES,
    PHASE,
    PLAN_VERSION_ACTIONS,
    RESERVED,
    ROLE_KIND,
    STATES,
    Answer,
    CaseModel,
    Checker,
    Consent,
    Event,
    Expected,
    Filler,
    MarkerInfo,
    Markers,
    Oracle,
    Org,
    User,
    local_date,
    next_state,
    tier_of,
)
from tests.factories import born_at

START = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
EXAMPLES = int(os.environ.get("POSC_ADVERSARY_EXAMPLES", "5"))
STEPS = int(os.environ.get("POSC_ADVERSARY_STEPS", "12"))
PDFS = int(os.environ.get("POSC_ADVERSARY_PDFS", "1"))
MAX_CASES = 4
#: Two or more organisations of each kind that takes part in cases; one of each other kind.
WORLD = (
    ("adv-cps-north", "cps", "North County CPS"),
    ("adv-cps-south", "cps", "South County CPS"),
    ("adv-tx-harbor", "treatment", "Harbor Recovery (treatment)"),
    ("adv-tx-ridge", "treatment", "Ridge OTP (treatment)"),
    ("adv-hosp-city", "hospital", "City Hospital"),
    ("adv-hosp-valley", "hospital", "Valley Hospital"),
    ("adv-prenatal", "prenatal", "Prenatal Clinic"),
    ("adv-peer", "peer", "Peer Recovery Network"),
    ("adv-state", "state", "State Outcomes Office"),
    ("adv-admin", "admin", "posc administration"),
)
KIND_ROLE = {kind: role for role, kind in ROLE_KIND.items()}
UNKNOWN_CASE = "PC-ZZZZ-ZZZZ"
CASE_ENDPOINTS = (
    ("", "view"), ("/events", "events"), ("/actions", "actions"), ("/disclosures", "disclosures"),
    ("/documents/plan-of-safe-care", "document"), ("/documents/hospital-summary", "document"),
)
#: The FHIR reads of one case: (path, whether it is a search).
FHIR_READS = (
    ("/fhir/Patient/{case}", False), ("/fhir/CarePlan/{case}", False), ("/fhir/CarePlan/{case}/_history", False),
    ("/fhir/Consent?patient=Patient/{case}", True), ("/fhir/ServiceRequest?patient=Patient/{case}", True),
    ("/fhir/Task?patient=Patient/{case}", True),
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PHASES = tuple(dict.fromkeys(PHASE.values()))


# --- the database and the world -----------------------------------------------------------------------------------


@dataclass
class Env:
    """What a run needs from pytest's fixtures: the database of this parametrisation and the catalogue."""

    db: Database
    catalogue: Catalogue
    clock: FixedClock
    folder: Path
    runs: int = 0

    def fresh_database(self) -> tuple[Database, bool]:
        """An empty database for one run: a new SQLite file, or the PostgreSQL schema truncated. Returns it and
        whether this run owns it (and must dispose of it)."""
        self.runs += 1
        if self.db.engine.dialect.name == "sqlite":
            database = Database(f"sqlite:///{self.folder / f'adversary-{self.runs}.db'}")
            database.ensure_schema()
            return database, True
        tables = [t for t in inspect(self.db.engine).get_table_names() if t != "alembic_version"]
        with self.db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        return self.db, False


def contact_of(org_id: str, name: str) -> str:
    """Each organisation's own contact line (documents show a party's contact only at that party's tier)."""
    return f"{name} desk 555-{WORLD.index(next(w for w in WORLD if w[0] == org_id)) + 100:04d}"


def build_world(db: Database, clock: FixedClock) -> tuple[dict[str, Org], list[User]]:
    orgs, users = {}, []
    for org_id, kind, name in WORLD:
        ensure_organisation(db, clock, org_id, name, contact_of(org_id, name), kind=kind)
        orgs[org_id] = Org(org_id, kind, name)
        role = KIND_ROLE[kind]
        record, key = add_user(db, clock, name=f"{role} at {org_id}", role=role, organisation=org_id)
        users.append(User(role, orgs[org_id], key, record.id))
    return orgs, users


# --- HTTP, as a partner and as a person at a browser ---------------------------------------------------------------


def answer_of(response: Any, request: str) -> Answer:
    return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.text, request)


class Browsers:
    """One signed-in browser (cookie jar) per user, signed in again when its session has ended."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.clients: dict[str, TestClient] = {}

    def _sign_in(self, user: User) -> TestClient:
        client = TestClient(self.app, follow_redirects=False, raise_server_exceptions=False)
        page = client.get("/ui/sign-in")
        token = _CSRF.search(page.text)
        assert token, f"no sign-in form: {page.status_code}"
        signed = client.post("/ui/sign-in", data={"api_key": user.key, "csrf_token": token.group(1), "next": ""})
        assert signed.status_code == 303, f"{user} cannot sign in to the pages: {signed.status_code}"
        self.clients[user.key] = client
        return client

    def get(self, user: User, path: str) -> Answer:
        client = self.clients.get(user.key) or self._sign_in(user)
        response = client.get(path)
        if response.status_code in (302, 303) and "/sign-in" in response.headers.get("location", ""):
            response = self._sign_in(user).get(path)
        return answer_of(response, f"GET {path}")

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


@dataclass
class Sent:
    """A request that succeeded, kept to be replayed with its Idempotency-Key."""

    user: User
    case_id: str
    path: str
    body: dict[str, Any]
    key: str
    what: str
    states: set[str] = field(default_factory=set)
    at: datetime | None = None  # when it was sent: a key is remembered for IDEMPOTENCY_TTL


# --- the machine --------------------------------------------------------------------------------------------------


class Adversary(RuleBasedStateMachine):
    cases = Bundle("cases")

    def __init__(self, env: Env) -> None:
        super().__init__()
        self.env = env
        self.db, self.owns_db = env.fresh_database()
        self.clock = env.clock  # the suite's FixedClock, back at the start for every run
        self.clock.set(START)
        self.orgs, self.users = build_world(self.db, self.clock)
        self.case_users = [u for u in self.users if u.role in CASE_ROLES]
        self.contacts = {o.id: contact_of(o.id, o.name) for o in self.orgs.values()}
        app = create_app(Settings(tick_seconds=0), clock=self.clock, catalogue=env.catalogue, db=self.db)
        self._unlimit_lookups(app)
        self.client = TestClient(app, raise_server_exceptions=False)
        self.client.__enter__()
        self.browsers = Browsers(app)
        self.model: dict[str, CaseModel] = {}
        self.markers = Markers()
        self.oracle = Oracle()
        self.check = Checker(self.oracle, self.model, self.markers, self.today)
        self.sent: list[Sent] = []
        self.touched: set[str] = set()
        self.everything = True
        self.pending: dict[str, list[Expected]] = {}
        self.seen_entries: dict[str, int] = {}
        self.unknown: dict[tuple[str, str], Answer] = {}
        self.page_turn = 0
        self.fhir_turn = 0
        self.fhir_checked: set[Any] = set()
        self.list_turn = 0
        self.pdfs_left = PDFS
        self.birth_concern: dict[str, bool] = {}
        self.refused_roles_checked = False

    @staticmethod
    def _unlimit_lookups(app: Any) -> None:
        """The lookup is rate-limited per user (30 a minute, real time); this test looks up far more often."""
        try:
            from api.limits import RateLimit

            app.state.services.lookups = RateLimit(count=1_000_000, seconds=60)
        except Exception:  # a renamed limiter: its 429s are then skipped, not failed
            pass

    def teardown(self) -> None:
        self.browsers.close()
        self.client.__exit__(None, None, None)
        if self.owns_db:
            self.db.dispose()

    # --- helpers ---

    def today(self) -> date:
        return local_date(self.clock.now())

    def get(self, user: User, path: str) -> Answer:
        response = self.client.get(path, headers={"Authorization": f"Bearer {user.key}"})
        return answer_of(response, f"GET {path}")

    def post(self, user: User, path: str, body: Any, key: str | None = None) -> Answer:
        headers = {"Authorization": f"Bearer {user.key}"}
        if key:
            headers["Idempotency-Key"] = key
        response = self.client.post(path, json=body, headers=headers)
        return answer_of(response, f"POST {path} {json.dumps(body)}")

    def holding(self, user: User, case: CaseModel) -> Any:
        return self.oracle.holding(user.org, case, self.today())

    def user_of(self, org_id: str) -> User:
        return next(u for u in self.users if u.org.id == org_id)

    def orgs_of(self, *kinds: str) -> list[Org]:
        return [o for o in self.orgs.values() if o.kind in kinds]

    def expect_read(self, user: User, case: CaseModel, what: str | None, where: str, *, tiers: bool = True) -> None:
        held = self.holding(user, case).tiers if tiers and what else None
        self.pending.setdefault(case.id, []).append(Expected(user, what, held, where))

    def filler(self, draw: Any) -> Filler:
        return Filler(self.markers, draw, self.orgs, self.today(), self.clock.now())

    def pick_user(self, draw: Any, roles: frozenset[str] | tuple[str, ...], case: CaseModel) -> User:
        """Mostly a user of an allowed role whose organisation may know the case; now and then anyone."""
        fitting = [u for u in self.case_users if u.role in roles and self.holding(u, case)]
        if fitting and draw(st.integers(0, 9), label="fitting user?") < 9:
            return draw(st.sampled_from(fitting), label="user")
        return draw(st.sampled_from(self.case_users), label="any user")

    # --- opening ---

    @initialize(target=cases, data=st.data())
    def first_case(self, data: Any) -> str:
        """Every run starts with a case (else a run could spend its steps moving the clock of an empty world)."""
        return self.opened(data)

    @precondition(lambda self: len(self.model) < MAX_CASES)
    @rule(target=cases, data=st.data())
    def open_case(self, data: Any) -> str:
        return self.opened(data)

    @precondition(lambda self: len(self.model) < MAX_CASES)
    @rule(target=cases, case=cases, data=st.data())
    def open_for_the_same_parent(self, case: str, data: Any) -> Any:
        """A second case for the parent of a case (the same last name and date of birth), mostly at delivery:
        refused with the reference of an open case of that parent the opener may know of, unless it says this is
        a new pregnancy; else opened, the opener told nothing of the cases it may not know."""
        draw = data.draw
        opener = self.draw_opener(draw, at_birth=draw(st.integers(0, 3), label="at delivery? (not 3)") < 3)
        new_pregnancy = draw(st.integers(0, 3), label="a new pregnancy? (3)") == 3
        opened = self.open_as(opener, draw, parent=self.model[case], new_pregnancy=new_pregnancy)
        return opened if opened is not None else multiple()

    def opened(self, data: Any) -> str:
        """Opens a case as any opening role, with any lead CPS office and delivery hospital; a third of the cases,
        hospital staff open at delivery (identification at birth)."""
        draw = data.draw
        opener = self.draw_opener(draw, at_birth=draw(st.integers(0, 2), label="opened at delivery? (2)") == 2)
        opened = self.open_as(opener, draw)
        assert opened is not None
        return opened

    def draw_opener(self, draw: Any, *, at_birth: bool) -> User:
        roles = BIRTH_ROLES if at_birth else OPEN_ROLES
        return draw(st.sampled_from([u for u in self.case_users if u.role in roles]), label="opener")

    @staticmethod
    def unreserved(draw: Any) -> dict[str, Any]:
        """A plain opening's values for the fields a way in sets (identified_by): any choice but those kept for
        that way in (identified_by "hospital" is for cases opened at delivery)."""
        return {key: draw(st.sampled_from([str(c) for c in FORMS["identification"].fields[key].spec["choices"]
                                           if str(c) not in values]), label=f"{key} (not {'/'.join(values)})")
                for key, values in RESERVED.items()}

    def prenatal(self, hospital: Org, lead: Org, fill: Filler, draw: Any,
                 parent: CaseModel | None = None) -> dict[str, Any]:
        """A plain (prenatal) opening: identified today, due in one to six weeks; the parent's names and phone
        marked (`parent`: that case's parent, by its last name and date of birth)."""
        today = self.today()
        due = today + timedelta(days=draw(st.integers(8, 45), label="days to due"))
        return fill.form("identification", {
            "first_name": fill.text("identification", "first_name", "Ann"),
            "last_name": parent.last_name if parent else fill.text("identification", "last_name", "Lee"),
            "phone": fill.text("identification", "phone", "555 ", 30),
            "date_of_birth": parent.date_of_birth if parent else (
                date(1985, 1, 1) + timedelta(days=97 * len(self.model) + draw(st.integers(0, 60)))).isoformat(),
            "identified_on": today.isoformat(), "due_date": due.isoformat(),
            "gestational_weeks": max(4, min(45, 40 - (due - today).days // 7)),
            "delivery_hospital": hospital.id, "lead_cps_org": lead.id, **self.unreserved(draw),
        })

    def delivery(self, hospital: Org, lead: Org, fill: Filler, draw: Any,
                 parent: CaseModel | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """An opening at delivery as hospital staff make it: the identification without identified_by (the way in
        sets it; now and then given as that same value) and a valid birth form, both marked. The birth was a few
        hours ago; the parent was identified on the day of birth or the day before; the due date lies well inside
        the range of a birth around it (guards of record_birth)."""
        born_at = self.clock.now() - timedelta(hours=draw(st.integers(1, 60), label="hours since the birth"))
        born_on = local_date(born_at)
        identified = born_on - timedelta(days=draw(st.integers(0, 1), label="identified days before the birth"))
        due = born_on + timedelta(days=draw(st.integers(-25, 120), label="days from the birth to the due date"))
        weeks = max(20, min(45, 40 - (due - born_on).days // 7))
        identification = fill.form("identification", {
            "first_name": fill.text("identification", "first_name", "Bea"),
            "last_name": parent.last_name if parent else fill.text("identification", "last_name", "Ray"),
            "phone": fill.text("identification", "phone", "555 ", 30),
            "date_of_birth": parent.date_of_birth if parent else (
                date(1984, 6, 1) + timedelta(days=97 * len(self.model) + draw(st.integers(0, 60)))).isoformat(),
            "identified_on": identified.isoformat(), "due_date": due.isoformat(), "gestational_weeks": weeks,
            "delivery_hospital": hospital.id, "lead_cps_org": lead.id,
            **{key: draw(st.sampled_from([OMIT, value]), label=f"{key} given?") for key, value in BIRTH_SET.items()},
        })
        birth = fill.form(ACTION_FORM[BIRTH_ACTION], {"born_at": born_at.isoformat(), "gestational_weeks": weeks})
        return identification, birth

    def open_as(self, opener: User, draw: Any, *, parent: CaseModel | None = None,
                new_pregnancy: bool = False) -> str | None:
        """Opens a case as `opener`: a plain opening with any delivery hospital, or (hospital staff) at delivery
        for its own hospital, the opening and the birth in one step; any lead CPS office. With `parent`, a case for
        that case's parent: None where it was refused as it must be (an open case of the parent the opener may
        know of)."""
        lead = draw(st.sampled_from(self.orgs_of("cps")), label="lead")
        fill = self.filler(draw)
        birth: dict[str, Any] | None = None
        if opener.role in OPEN_ROLES:
            hospital = draw(st.sampled_from(self.orgs_of("hospital")), label="hospital")
            identification = self.prenatal(hospital, lead, fill, draw, parent)
            body: dict[str, Any] = {"workflow": "charm-posc", "data": identification}
        else:
            hospital = opener.org
            identification, birth = self.delivery(hospital, lead, fill, draw, parent)
            body = {"workflow": "charm-posc", "data": identification, BIRTH: birth}
        if new_pregnancy:
            body["new_pregnancy"] = True
        same = [c for c in self.model.values() if parent is not None and c.parent == parent.parent]
        known = [c for c in same if not new_pregnancy and self.oracle.names_open_case(opener, c, self.today())]
        if known:
            self.second_case_refused(opener, body, known, same)
            return None
        way = "" if birth is None else " at delivery"
        where = f"POST /cases (the opener's answer{', opening at delivery' if birth else ''}" + (
            f", a second case for the parent of {parent.id})" if parent else ")")
        key = str(uuid.uuid4())
        answer = self.post(opener, "/cases", body, key)
        if parent is not None and answer.status != 201:
            self.check.common(opener, where, answer)
            self.check.problem(opener, where, f"answered {answer.status}: {answer.text[:300]}", (
                f"the parent has no open case {opener.org.id} may know of ({'; '.join(c.id for c in same)}): an "
                "opener that may not know of a case is told nothing, and its case opens" if not new_pregnancy else
                "a new pregnancy opens a second case for the parent"), parent)
            self.check.raise_if_any(f"a second case for the parent of {parent.id}")
        assert answer.status == 201, f"{opener} could not open a valid case{way}: {answer.status} {answer.text[:500]}"
        case_id = answer.json()["id"]
        case = self.model_opening(case_id, opener, lead, hospital, identification, birth)
        for marker, form, field_id in fill.pending:
            seq, action = (1, OPEN_EVENT) if form == "identification" else (2, BIRTH_ACTION)
            self.markers.register(marker, MarkerInfo(case_id, seq, action, form, field_id))
        if parent is not None:  # the parent's last name, given again
            for found in MARKER.finditer(parent.last_name):
                self.markers.also(found.group(0), MarkerInfo(case_id, 1, OPEN_EVENT, "identification", "last_name"))
        self.check.common(opener, where, answer)
        shown = answer.json()
        if shown.get("version") != len(case.events):
            self.check.problem(opener, where, f"the case is at version {shown.get('version')}, not "
                               f"{len(case.events)}", f"the opening{way} records {len(case.events)} event(s)", case)
        self.check.view(opener, case, where, shown)
        self.sent.append(Sent(opener, case_id, "/cases", body, key, f"opening the case{way}", {case.state},
                              self.clock.now()))
        self.touched.add(case_id)
        self.check.raise_if_any(f"opening {case_id}{way}")
        return case_id

    def model_opening(self, case_id: str, opener: User, lead: Org, hospital: Org, identification: dict[str, Any],
                      birth: dict[str, Any] | None) -> CaseModel:
        """The case as an opening leaves it: the opening event; at delivery the birth too, by the same hospital,
        the identification as recorded (the way in sets identified_by)."""
        if birth is None:
            case = CaseModel(case_id, opener.org, lead.id, hospital.id, identification)
            case.events.append(Event(1, OPEN_EVENT, "identification", None, "identified", opener.org.id,
                                     identification))
        else:
            opened = {**identification, **BIRTH_SET}
            target = next_state(BIRTH_ACTION, "identified", birth)
            assert target is not None
            case = CaseModel(case_id, opener.org, lead.id, hospital.id, opened, state=target, at_birth=True)
            case.events += [
                Event(1, OPEN_EVENT, "identification", None, "identified", opener.org.id, opened),
                Event(2, BIRTH_ACTION, ACTION_FORM[BIRTH_ACTION], "identified", target, opener.org.id, birth),
            ]
            self.birth_concern[case_id] = birth.get("safety_concern") == "yes"
        self.model[case_id] = case
        return case

    def second_case_refused(self, opener: User, body: dict[str, Any], known: list[CaseModel],
                            same: list[CaseModel]) -> None:
        """A second case for a parent with an open case the opener may know of: 409 naming such a case (and no
        other), nothing stored."""
        before = self.stored()
        answer = self.post(opener, "/cases", body)
        where = f"POST /cases (a second case for the parent of {known[0].id})"
        self.check.common(opener, where, answer, ids=False)  # the reference of a case it may know of is the answer
        if answer.status < 300:
            self.check.problem(opener, where, f"a second case was opened ({answer.status})",
                               "the parent has an open case the opener may know of and it did not say this is a "
                               "new pregnancy: one open case per pregnancy", known[0])
            self.check.raise_if_any("a second case for the same parent")
        if answer.status != 409:
            self.check.problem(opener, where, f"answered {answer.status}, not 409: {answer.text[:300]}",
                               "a parent with an open case the opener may know of is refused (409)", known[0])
        elif not any(c.id in answer.text for c in known):
            self.check.problem(opener, where, f"the refusal names none of {[c.id for c in known]}: "
                               f"{answer.text[:300]}", "it is refused with the open case's reference", known[0])
        for case in self.model.values():
            if case.id in answer.text and case.id not in {c.id for c in known}:
                why = ("an organisation that holds no tier on a case cannot learn that it exists"
                       if case.id not in {c.id for c in same} else "the refusal names only an open case of the "
                       "parent the opener may know of")
                self.check.problem(opener, where, f"the refusal names case {case.id}", why, case)
        for case in known:
            self.check.refusal(opener, case, where, answer)
        if self.stored() != before:
            self.check.problems.append(f"{opener} at {where}: a refused opening changed what is stored; a refusal "
                                       "leaves nothing behind")
        self.check.raise_if_any("a second case for the same parent")

    # --- acting ---

    def take(self, user: User, case: CaseModel, action: str, data: dict[str, Any], fill: Filler, *,
             must_refuse: str | None = None) -> Answer:
        """Posts the action; checks the answer; on success advances the model."""
        path = f"/cases/{case.id}/actions/{action}"
        key = str(uuid.uuid4())
        holding = self.holding(user, case)
        before = case.state
        answer = self.post(user, path, {"data": data}, key)
        where = f"POST {path}"
        self.touched.add(case.id)
        self.check.common(user, where, answer)
        if not holding:
            if answer.status < 300:
                self.check.problem(user, where, f"{action} was taken ({answer.status})",
                                   "an organisation that holds no tier on a case cannot act on it or learn it "
                                   "exists", case)
                self.check.raise_if_any(f"{action} on {case.id}")
            if not self.oracle.may_hide(user.org, case):
                unknown = self.post(user, f"/cases/{UNKNOWN_CASE}/actions/{action}", {"data": data})
                self.check.hidden(user, case, where, answer, unknown)
            return answer
        if answer.status >= 500:
            self.check.problem(user, where, f"server error {answer.status}: {answer.text[:300]}", "", case)
        if answer.status >= 300:
            self.check.refusal(user, case, where, answer)
            return answer
        # it was taken
        if must_refuse:
            self.check.problem(user, where, f"{action} was taken ({answer.status})", must_refuse, case)
            self.check.raise_if_any(f"{action} on {case.id}")
        if user.role not in ACTION_ROLES.get(action, frozenset()):
            self.check.problem(user, where, f"{action} was taken", f"the {user.role} role may not take it", case)
        target = next_state(action, before, {**data, "_birth_safety_concern": self.birth_concern.get(case.id)})
        if target is None:
            self.check.problem(user, where, f"{action} was taken from the state {before}",
                               "the pathway does not offer it there (the test's model cannot follow)", case)
            self.check.raise_if_any(f"{action} on {case.id}")
        assert target is not None
        seq = len(case.events) + 1
        case.events.append(Event(seq, action, ACTION_FORM[action], before, target, user.org.id, data))
        case.state = target
        for marker, form, field_id in fill.pending:
            self.markers.register(marker, MarkerInfo(case.id, seq, action, form, field_id))
        if action == "record_consent":
            case.consents.append(Consent(seq, frozenset(data["organisations"]), frozenset(data["categories"]),
                                         date.fromisoformat(data["signed_on"]),
                                         date.fromisoformat(data["expires_on"])))
        if action == "revoke_consent":
            for consent in case.consents:
                consent.revoked = True
        if action in ("refer_to_treatment", "admit_to_treatment"):
            case.treatment_org = data["provider_org"]
            case.treatment_orgs.add(data["provider_org"])
        if action in PLAN_VERSION_ACTIONS:
            case.plan_versions += 1
        if action == "record_birth":
            self.birth_concern[case.id] = data.get("safety_concern") == "yes"
        body = answer.json()
        if isinstance(body, dict) and body.get("version") not in (None, seq):
            self.check.problem(user, where, f"the case is at version {body.get('version')}, the test expected {seq}",
                               "every successful action appends exactly one event", case)
        self.check.view(user, case, f"{where} (its answer)", body)
        if self.holding(user, case):
            self.expect_read(user, case, None, f"{where} (its answer)", tiers=False)
        self.sent.append(Sent(user, case.id, path, {"data": data}, key, action, {before, target}, self.clock.now()))
        return answer

    def form_for(self, action: str, case: CaseModel, user: User, fill: Filler, draw: Any) -> dict[str, Any]:
        """Valid data for `action` on `case`, every free text marked; guards' needs fixed."""
        today, now = self.today(), self.clock.now()
        iso = today.isoformat()
        form = ACTION_FORM[action]
        due = date.fromisoformat(case.identification["due_date"])
        identified = date.fromisoformat(case.identification["identified_on"])
        overrides: dict[str, Any] = {}
        if action == "record_consent":
            overrides = {
                "signed_on": max(identified, today - timedelta(days=draw(st.integers(0, 2)))).isoformat(),
                "expires_on": (today + timedelta(days=draw(st.sampled_from([1, 2, 7, 20, 60, 120]),
                                                           label="consent days"))).isoformat(),
                "organisations": sorted(set(draw(st.lists(
                    st.sampled_from(sorted(o.id for o in self.orgs_of(*CASE_ROLES))), unique=True, min_size=1,
                    max_size=4), label="consent organisations")) | (  # often the case's own parties too
                    {case.lead, *([case.treatment_org] if case.treatment_org else [])}
                    if draw(st.booleans(), label="consent names the lead and the treating program") else set())),
                "categories": draw(st.lists(st.sampled_from(["status", "plan", "treatment"]), unique=True,
                                            min_size=1, max_size=3), label="consent categories"),
            }
        elif action == "revoke_consent":
            back = draw(st.integers(0, 3), label="revocation backdated")
            overrides = {"revoked_on": max(identified, today - timedelta(days=back)).isoformat()}
        elif action == "refer_to_treatment":
            overrides = {"provider_org": draw(st.sampled_from([o.id for o in self.orgs_of("treatment")]))}
        elif action == "admit_to_treatment":
            overrides = {"provider_org": user.org.id if user.org.kind == "treatment" else
                         draw(st.sampled_from([o.id for o in self.orgs_of("treatment")]))}
        elif action == "schedule_planning_meeting":
            overrides = {"meeting_date": min(due, max(today, due - timedelta(days=30))).isoformat()}
        elif action in PLAN_VERSION_ACTIONS:
            org_type = "organisation"

            def participant(role: str) -> dict[str, Any]:
                row: dict[str, Any] = {"name": fill.text(form, "participants", "Pat "), "role": role}
                sub = {f.id: f for f in fill_fields(form, "participants")}
                if "organisation" in sub:
                    row["organisation"] = (case.lead if sub["organisation"].type == org_type
                                           else fill.text(form, "participants", "Org "))
                return row

            overrides = {"meeting_date": iso, "participants": [participant("parent"), participant("cps")],
                         "parent_participated": "yes"}
            planned = fill.form(form, overrides)
            for services in ("infant_services", "caregiver_services"):  # the plan's guards: one of each at least
                if services in planned and not planned[services]:
                    spec = FORMS[form].fields[services]
                    planned[services] = [{s.id: fill.value(form, services, s) for s in spec.fields
                                          if s.required}]
            return planned
        elif action == "record_birth":
            overrides = {"born_at": born_at(now).isoformat(), "safety_concern": "no",
                         "gestational_weeks": 39}
        elif action == "discharge":
            overrides = {"pediatric_appointment_on": (today + timedelta(days=2)).isoformat()}
        elif action == "close_case":
            overrides = {"reason": draw(st.sampled_from(["transferred", "moved_away", "parent_declined", "other"]))}
        return fill.form(form, overrides)

    def ready(self, action: str, case: CaseModel) -> bool:
        """Whether the pathway's guards that do not depend on the form would let `action` through (the test still
        tries the others now and then: a refusal is checked as well)."""
        today = self.today()
        active = [c for c in case.consents if c.active(today)]
        if action in ("discharge", "update_plan"):
            return case.plan_versions >= 1
        if action == "revoke_consent":
            return bool(active)
        if action == "schedule_planning_meeting":
            wanted = {case.lead, *([case.treatment_org] if case.treatment_org else [])}
            return any(wanted <= c.organisations for c in active)
        return True

    @rule(case=cases, data=st.data())
    def act(self, case: str, data: Any) -> None:
        """A few actions of the pathway in a row: mostly ones the case's state offers (those that move the case on
        more often than those that record data), by a user whose role may take them."""
        draw = data.draw
        model = self.model[case]
        names = sorted(KNOWN_ACTIONS)
        for _ in range(draw(st.integers(1, 4), label="actions in a row")):
            goes = {a: next_state(a, model.state, {"ends_case": "no"}) for a in names}
            able = {u.role for u in self.case_users if self.holding(u, model)}  # roles some reader of it has
            offered = [a for a in names if goes[a] not in (None, "closed") and ACTION_ROLES[a] & able
                       and self.ready(a, model)]
            moving = [a for a in offered if goes[a] != model.state]
            # The planning meeting needs a consent naming the lead and the treating program first, and then loses
            # the race against the birth: it goes first when it can, or the plan-agreed states are never seen.
            planning = [a for a in ("schedule_planning_meeting", "record_planning_meeting") if a in offered]
            if not planning and goes["schedule_planning_meeting"] and "record_consent" in offered:
                planning = ["record_consent"]  # the consent the meeting needs
            pick = draw(st.integers(0, 19), label="which kind of action")
            if planning and pick < 10:
                action = draw(st.sampled_from(planning), label="planning action")
            elif moving and pick < 12:
                action = draw(st.sampled_from(moving), label="action moving the case on")
            elif offered and pick < 18:
                action = draw(st.sampled_from(offered), label="action")
            else:  # closing the case, or an action its state does not offer
                action = draw(st.sampled_from(names), label="any action")
            user = self.pick_user(draw, ACTION_ROLES[action], model)
            fill = self.filler(draw)
            self.take(user, model, action, self.form_for(action, model, user, fill, draw), fill)
            self.check.raise_if_any(f"{action} on {case}")

    @rule(case=cases, data=st.data())
    def act_again(self, case: str, data: Any) -> None:
        """The same as `act` (a second rule gives acting its due share of the steps)."""
        self.act(case, data)

    @rule(case=cases, data=st.data())
    def record_consent(self, case: str, data: Any) -> None:
        """The parent signs a universal consent naming random organisations and categories, expiring soon."""
        draw = data.draw
        model = self.model[case]
        user = self.pick_user(draw, ACTION_ROLES["record_consent"], model)
        fill = self.filler(draw)
        self.take(user, model, "record_consent", self.form_for("record_consent", model, user, fill, draw), fill)
        self.check.raise_if_any(f"record_consent on {case}")

    @rule(case=cases, data=st.data())
    def revoke_consent(self, case: str, data: Any) -> None:
        draw = data.draw
        model = self.model[case]
        user = self.pick_user(draw, ACTION_ROLES["revoke_consent"], model)
        fill = self.filler(draw)
        self.take(user, model, "revoke_consent", self.form_for("revoke_consent", model, user, fill, draw), fill)
        self.check.raise_if_any(f"revoke_consent on {case}")

    def remembered(self) -> list[Sent]:
        """The requests whose keys are still remembered (sent less than `IDEMPOTENCY_TTL` ago)."""
        return [s for s in self.sent if s.at is not None and self.clock.now() - s.at < IDEMPOTENCY_TTL]

    @precondition(lambda self: bool(self.remembered()))
    @rule(data=st.data())
    def replay(self, data: Any) -> None:
        """The same request again with its Idempotency-Key, by the same user, while the key is remembered:
        answered afresh at the caller's tiers of this moment (a revoked consent is honoured by a retry too)."""
        sent = data.draw(st.sampled_from(self.remembered()), label="replayed request")
        case = self.model[sent.case_id]
        answer = self.post(sent.user, sent.path, sent.body, sent.key)
        where = f"POST {sent.path} again (replay of {sent.what}, same Idempotency-Key)"
        self.touched.add(case.id)
        self.check.common(sent.user, where, answer)
        holding = self.holding(sent.user, case)
        if not holding:
            if not self.oracle.may_hide(sent.user.org, case):
                self.check.hidden(sent.user, case, where, answer, None)
        elif answer.status not in (200, 201):
            self.check.problem(sent.user, where, f"the replay answered {answer.status}: {answer.text[:300]}",
                               "a repeat returns the first result (rendered afresh) and changes nothing", case)
        else:
            self.check.view(sent.user, case, where, answer.json(), replay_states=sent.states)
            if answer.headers.get("idempotent-replayed") != "true":
                self.check.problem(sent.user, where, "the replay is not marked Idempotent-Replayed: true", "", case)
            self.expect_read(sent.user, case, None, where, tiers=False)
        self.check.raise_if_any("a replay")

    @precondition(lambda self: bool(self.model))
    @rule(days=st.integers(0, 21), hours=st.integers(0, 23))
    def advance_clock(self, days: int, hours: int) -> None:
        """Time passes: consents expire, deadlines fall due."""
        self.clock.advance(timedelta(days=days, hours=hours))
        self.everything = True

    @precondition(lambda self: bool(self.model))
    @rule()
    def tick(self) -> None:
        """The engine's deadline tick (`posc tick`): missed deadlines become CPS-only events and escalations."""
        from engine.ticker import tick

        for missed in tick(self.db, self.env.catalogue, self.clock.now()):
            case = self.model[missed.case_id]
            seq = len(case.events) + 1
            case.events.append(Event(seq, MISSED_EVENT, None, case.state, case.state, "system", {}))
            self.touched.add(case.id)

    @rule(case=cases, data=st.data())
    def wrong_kind(self, case: str, data: Any) -> None:
        """Organisations of the wrong kind, and an admission for another program: refused, nothing recorded. And
        the opening at delivery out of turn: by a role that may not open one, for another hospital, or claimed
        by a plain opening."""
        draw = data.draw
        model = self.model[case]
        trick = draw(st.sampled_from(["lead", "hospital", "refer", "admit", "consent", "birth by another role",
                                      "birth for another hospital", "claimed birth"]), label="trick")
        fill = self.filler(draw)
        if trick in ("lead", "hospital"):
            opener = draw(st.sampled_from([u for u in self.case_users if u.role in OPEN_ROLES]))
            wrong = draw(st.sampled_from(self.orgs_of("hospital", "treatment", "peer", "state") if trick == "lead"
                                         else self.orgs_of("cps", "prenatal", "treatment", "admin")))
            today = self.today()
            body = {"workflow": "charm-posc", "data": fill.form("identification", {
                "identified_on": today.isoformat(), "due_date": (today + timedelta(days=30)).isoformat(),
                "gestational_weeks": 36, "date_of_birth": "1990-01-01",
                "delivery_hospital": wrong.id if trick == "hospital" else model.hospital,
                "lead_cps_org": wrong.id if trick == "lead" else model.lead, **self.unreserved(draw),
            })}
            field_id = "lead_cps_org" if trick == "lead" else "delivery_hospital"
            self.refused_opening(opener, body, 422, field_id,
                                 f"a case was opened naming {wrong.id}, a {wrong.kind} organisation, as {field_id}",
                                 "a wrong kind is refused with an error naming the field, and nothing is recorded")
            self.check.raise_if_any(f"opening with a wrong {trick}")
            return
        if trick in ("birth by another role", "birth for another hospital"):
            others = trick == "birth by another role"
            opener = draw(st.sampled_from([u for u in self.case_users if (u.role in BIRTH_ROLES) != others]),
                          label="opener at delivery")
            hospital = (self.orgs[model.hospital] if others else
                        draw(st.sampled_from([o for o in self.orgs_of(*CASE_ROLES) if o.id != opener.org.id]),
                             label="not its own hospital"))
            identification, birth = self.delivery(hospital, self.orgs[model.lead], fill, draw)
            body = {"workflow": "charm-posc", "data": identification, BIRTH: birth}
            if others:
                self.refused_opening(opener, body, 403, None,
                                     f"a case was opened at delivery by the {opener.role} role",
                                     f"only {', '.join(sorted(BIRTH_ROLES))} staff open a case at delivery")
            else:
                self.refused_opening(opener, body, 422, "delivery_hospital",
                                     f"a case was opened at delivery naming {hospital.id} ({hospital.kind}) as the "
                                     "delivery hospital", "hospital staff open a case at delivery only for their own "
                                     "hospital, and nothing is recorded")
            self.check.raise_if_any(f"opening at delivery out of turn ({trick})")
            return
        if trick == "claimed birth":
            opener = draw(st.sampled_from([u for u in self.case_users if u.role in OPEN_ROLES]), label="opener")
            today = self.today()
            claimed = fill.form("identification", {
                "identified_on": today.isoformat(), "due_date": (today + timedelta(days=30)).isoformat(),
                "gestational_weeks": 36, "date_of_birth": "1990-01-01", "delivery_hospital": model.hospital,
                "lead_cps_org": model.lead, **BIRTH_SET,
            })
            for key, value in BIRTH_SET.items():
                self.refused_opening(opener, {"workflow": "charm-posc", "data": claimed}, 422, key,
                                     f"a plain opening was accepted with {key} = {value!r}",
                                     "that value is kept for cases opened at delivery, and nothing is recorded")
            self.check.raise_if_any("a plain opening claiming the opening at delivery")
            return
        if trick == "refer":
            user = self.pick_user(draw, ACTION_ROLES["refer_to_treatment"], model)
            wrong = draw(st.sampled_from(self.orgs_of("hospital", "peer", "cps", "prenatal")))
            data_ = self.form_for("refer_to_treatment", model, user, fill, draw) | {"provider_org": wrong.id}
            self.take(user, model, "refer_to_treatment", data_, fill,
                      must_refuse=f"provider_org names {wrong.id}, a {wrong.kind} organisation; a treatment provider "
                      "must be a treatment organisation")
        elif trick == "admit":
            user = self.pick_user(draw, ("treatment",), model)
            other = next(o for o in self.orgs_of("treatment") if o.id != user.org.id)
            data_ = self.form_for("admit_to_treatment", model, user, fill, draw) | {"provider_org": other.id}
            self.take(user, model, "admit_to_treatment", data_, fill,
                      must_refuse=f"a treatment program records an admission only for itself, not for {other.id}")
        else:
            user = self.pick_user(draw, ACTION_ROLES["record_consent"], model)
            wrong = draw(st.sampled_from(self.orgs_of("state", "admin")))
            data_ = self.form_for("record_consent", model, user, fill, draw)
            data_["organisations"] = [*data_["organisations"], wrong.id]
            self.take(user, model, "record_consent", data_, fill,
                      must_refuse=f"a consent names only organisations that take part in cases, not {wrong.id} "
                      f"({wrong.kind})")
        self.check.raise_if_any(f"wrong kind ({trick}) on {case}")

    def stored(self) -> dict[str, int]:
        """How many of each thing a refused opening must not add (cases, their events, parties and deadlines)."""
        with self.db.read() as conn:
            return {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                    for table in ("cases", "events", "case_parties", "deadlines")}

    def refused_opening(self, opener: User, body: dict[str, Any], status: int, field_id: str | None, done: str,
                        why: str) -> None:
        """POST /cases that must be refused with `status` (and, for a 422, an error naming `field_id`), changing
        nothing and echoing none of the values sent. `done`: what it would be to accept it; `why`: the rule."""
        before = self.stored()
        answer = self.post(opener, "/cases", body)
        where = "POST /cases"
        self.check.common(opener, where, answer)
        if answer.status < 300:
            self.check.problems.append(f"{opener} at {where}: {done}; {why}")
            self.check.raise_if_any("a refused opening")
        if answer.status != status:
            self.check.problems.append(f"{opener} at {where}: answered {answer.status}, not {status} ({why}): "
                                       f"{answer.text[:300]}")
        elif field_id is not None:
            with contextlib.suppress(ValueError, AttributeError):
                named = [e.get("field") for e in answer.json().get("errors") or []]
                if field_id not in named:
                    self.check.problems.append(f"{opener} at {where}: the refusal names {named}, not {field_id!r}: "
                                               f"{answer.text[:300]}")
        sent = {m.group(0).upper() for m in MARKER.finditer(json.dumps(body))}
        echoed = sorted({m.group(0).upper() for m in MARKER.finditer(answer.text)} & sent)
        if echoed:
            self.check.problems.append(f"{opener} at {where}: the refusal repeats the values it was sent "
                                       f"({', '.join(echoed)}); field values never appear in error messages")
        after = self.stored()
        if after != before:
            self.check.problems.append(f"{opener} at {where}: a refused opening changed what is stored ({before} -> "
                                       f"{after}); a refusal leaves nothing behind")

    @precondition(lambda self: self.pdfs_left > 0)
    @rule(case=cases, data=st.data())
    def read_pdf(self, case: str, data: Any) -> None:
        """A document as PDF (slow: a few a run), its text searched like the HTML."""
        from pypdf import PdfReader

        self.pdfs_left -= 1
        model = self.model[case]
        user = data.draw(st.sampled_from(self.case_users), label="pdf reader")
        document = data.draw(st.sampled_from(["plan-of-safe-care", "hospital-summary"]), label="document")
        path = f"/cases/{case}/documents/{document}?format=pdf"
        response = self.client.get(path, headers={"Authorization": f"Bearer {user.key}"})
        answer = answer_of(response, f"GET {path}")
        where = f"GET {path}"
        holding = self.holding(user, model)
        if answer.status == 200 and answer.headers.get("content-type", "").startswith("application/pdf"):
            extracted = "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(response.content)).pages)
            answer = Answer(answer.status, answer.headers, extracted, answer.request)
            if holding:
                self.expect_read(user, model, "document", where)
        self.check.common(user, where, answer)
        if not holding and not (self.oracle.may_hide(user.org, model) and answer.status == 404):
            self.check.hidden(user, model, where, answer, None)
        elif answer.status == 200:
            self.check.page(user, model, where, answer.text, contacts=self.contacts)
        self.check.raise_if_any("a PDF read")

    # --- after every step ---

    @invariant()
    def nobody_sees_what_the_rules_forbid(self) -> None:
        swept = list(self.model.values()) if self.everything else [self.model[c] for c in sorted(self.touched)]
        for case in swept:
            for user in self.users:
                self.read_case(user, case)
        self.list_turn += 1
        for index, user in enumerate(self.users):
            self.read_lists(user, swept, filters=(index + self.list_turn) % 2 == 0)
        for case in {c.parent: c for c in swept}.values():  # each parent once
            self.look_up(case)
        self.read_pages(swept)
        self.read_fhir(swept)
        self.read_accounting()
        self.read_figures(self.users[self.list_turn % len(self.users)])
        self.touched.clear()
        self.everything = False
        self.check.raise_if_any(f"the step (clock {self.clock.now().isoformat()})")

    def unknown_answer(self, user: User, suffix: str) -> Answer:
        key = (user.key, suffix)
        if key not in self.unknown:
            self.unknown[key] = self.get(user, f"/cases/{UNKNOWN_CASE}{suffix}")
        return self.unknown[key]

    def read_case(self, user: User, case: CaseModel) -> None:
        holding = self.holding(user, case)
        endpoints = CASE_ENDPOINTS if user.role in CASE_ROLES else CASE_ENDPOINTS[:2]
        for suffix, what in endpoints:
            path = f"/cases/{case.id}{suffix}"
            where = f"GET {path}"
            answer = self.get(user, path)
            self.check.common(user, where, answer, values=what not in ("actions", "disclosures"))
            if not holding or (self.oracle.may_hide(user.org, case) and answer.status == 404):
                if not holding:
                    self.check.hidden(user, case, where, answer, self.unknown_answer(user, suffix))
                continue
            expected = {200}
            if what == "disclosures" and user.org.id != case.lead:
                expected = {403}
            if suffix.endswith("plan-of-safe-care"):
                expected = ({200} if case.plan_versions else {404}) if "plan" in holding.tiers else {403, 404}
            if answer.status not in expected:
                self.check.problem(user, where, f"answered {answer.status}, expected {sorted(expected)}: "
                                   f"{answer.text[:200]}", f"{user.org.id} {holding}", case)
                continue
            if answer.status != 200:
                self.check.refusal(user, case, where, answer)
                continue
            if what == "view":
                self.check.view(user, case, where, answer.json())
            elif what == "events":
                self.check.events(user, case, where, answer.json())
            elif what == "actions":
                self.check.actions(user, case, where, answer.json())
            elif what == "document":
                self.check.page(user, case, where, answer.text, contacts=self.contacts)
            if what in ("view", "events", "document"):
                self.expect_read(user, case, what, where)

    def read_figures(self, user: User) -> None:
        """The outcome figures for the clock's month, as JSON and CSV (one user a step, in turn): for the figure
        roles only, and never a value, a name or a case reference, whoever asks."""
        first = self.clock.now().astimezone(ZoneInfo("America/New_York")).date().replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        for suffix in ("", "&format=csv"):
            where = f"GET /reports/capta?from={first}&to={last}{suffix}"
            answer = self.get(user, where.removeprefix("GET "))
            self.check.common(user, where, answer, values=False)
            expected = 200 if user.role in ("analyst", "cps", "admin") else 403
            if answer.status != expected:
                self.check.problems.append(f"{user} at {where}: answered {answer.status}, expected {expected}")
            named = [c.id for c in self.model.values() if c.id in answer.text]
            if named:
                self.check.problems.append(f"{user} at {where}: the figures name case(s) {named}")

    def read_lists(self, user: User, swept: list[CaseModel], *, filters: bool) -> None:
        """The case list and the worklist (every case checked in each); with `filters` (half the users a step, in
        turn) filtered by state and phase as well."""
        if user.role not in CASE_ROLES:
            for path in ("/cases", "/worklist"):
                answer = self.get(user, path)
                self.check.common(user, f"GET {path}", answer, values=False)
                if answer.status == 200 and (answer.json().get("items") or []):
                    self.check.problems.append(f"{user} at GET {path}: lists {len(answer.json()['items'])} item(s); "
                                               "analysts and administrators never see case data")
            return
        # The state and phase of each case the step touched, and one more of each in turn (a filter matching a case
        # in another state, or one whose state the reader may not see, shows up on either; every case is checked
        # against each filtered list, not only the touched ones).
        turn = STATES[self.list_turn % len(STATES)]
        states = sorted({c.state for c in swept} | {turn})
        phases = sorted({c.phase for c in swept} | {PHASES[self.list_turn % len(PHASES)]})
        queries: list[tuple[str, str | None, str | None]] = [("/cases?limit=200", None, None)]
        if filters:
            queries += [(f"/cases?state={s}&limit=200", s, None) for s in states]
            queries += [(f"/cases?phase={p}&limit=200", None, p) for p in phases]
        if filters:
            queries.append(("/cases?overdue=true&limit=200", None, None))
        whole: dict[str, list[str]] = {}
        for path, state, phase in queries:
            answer = self.get(user, path)
            where = f"GET {path}"
            self.check.common(user, where, answer, values=False, ids=False)
            if answer.status != 200:
                self.check.problems.append(f"{user} at {where}: answered {answer.status}: {answer.text[:200]}")
                continue
            whole[path] = self.check.case_list(user, where, answer.json(), state=state, phase=phase,
                                               subset="overdue" in path)
            for case_id in whole[path]:
                self.expect_read(user, self.model[case_id], None, f"{where} (a list)", tiers=False)
        if filters:  # the same lists in pages of two: no page ends early, no cursor points past what was shown
            for path in [p for p, state, _ in queries if state == turn or "overdue" in p]:
                if path in whole:
                    self.walk_pages(user, path.replace("limit=200", "limit=2"), whole[path])
        worklists = [("/worklist?limit=200", None)]
        if filters:
            worklists += [(f"/worklist?state={turn}&limit=200", turn)]
        for path, state in worklists:
            answer = self.get(user, path)
            where = f"GET {path}"
            self.check.common(user, where, answer, values=False, ids=False)
            if answer.status != 200:
                self.check.problems.append(f"{user} at {where}: answered {answer.status}: {answer.text[:200]}")
                continue
            self.check.worklist(user, where, answer.json(), state=state)

    def walk_pages(self, user: User, path: str, expected: list[str]) -> None:
        """A list walked page by page lists what it lists in one page, every page but the last full, and each cursor
        names the last case the page showed: a row the reader may not see (a case it holds nothing on, a state it may
        not know, overdue work that is not its own) never shapes a page, which would tell that it matched."""
        listed: list[str] = []
        cursor = ""
        for _ in range(len(expected) + 2):
            where = f"GET {path}{cursor}"
            answer = self.get(user, f"{path}{cursor}")
            self.check.common(user, where, answer, values=False, ids=False)
            if answer.status != 200:
                self.check.problems.append(f"{user} at {where}: answered {answer.status}: {answer.text[:200]}")
                return
            body = answer.json()
            page = [item["id"] for item in body["items"]]
            listed += page
            token = body.get("next_cursor")
            if token is None:
                break
            if len(page) != 2:
                self.check.problems.append(f"{user} at {where}: a page of {len(page)} with a next page")
            named = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            if named != page[-1:]:
                self.check.problems.append(f"{user} at {where}: the cursor names {named}, not the last case shown "
                                           f"({page[-1:]})")
            cursor = f"&cursor={token}"
        if listed != expected:
            self.check.problems.append(f"{user} at GET {path}: pages of two list {listed}, one page {expected}")

    def look_up(self, case: CaseModel) -> None:
        """The delivery check for this case's parent, as every user; every case of that parent held against the
        answer."""
        body = {"last_name": case.last_name, "date_of_birth": case.date_of_birth}
        same = [c for c in self.model.values() if c.parent == case.parent]
        for user in self.users:
            if user.role not in ("hospital", "cps") and self.refused_roles_checked:
                continue
            answer = self.post(user, "/lookup", body)
            where = "POST /lookup (the parent's last name and date of birth)"
            if answer.status == 429:
                continue
            self.check.common(user, where, answer, values=False, ids=user.role not in ("hospital", "cps"))
            if user.role not in ("hospital", "cps"):
                if answer.status != 403:
                    self.check.problems.append(f"{user} at {where}: answered {answer.status}; only hospital and CPS "
                                               "users look parents up")
                continue
            if answer.status != 200:
                self.check.problem(user, where, f"answered {answer.status}: {answer.text[:200]}", "", case)
                continue
            for other in same:
                for _ in self.check.lookup(user, where, answer.json(), other):
                    self.expect_read(user, other, "lookup", where, tiers=False)
        self.refused_roles_checked = True

    def read_fhir(self, swept: list[CaseModel]) -> None:
        """The FHIR interface, three users a step in turn: the parent, the plan and its history, the consents, the
        referrals and their tasks, each read and search held like the JSON view (values at the reader's tiers, a case
        it may not know as one never issued: 404 for a read, an empty searchset for a search), every read in the
        accounting; and the delivery check over FHIR, like POST /lookup."""
        for case in swept:
            for _ in range(3):
                user = self.users[self.fhir_turn % len(self.users)]
                self.fhir_turn += 1
                holding = self.holding(user, case)
                for path, search in FHIR_READS:
                    path = path.format(case=case.id)
                    where = f"GET {path} (FHIR)"
                    answer = self.get(user, path)
                    self.check.common(user, where, answer)
                    if not holding:
                        if search:
                            if answer.status != 200 or answer.json().get("entry"):
                                self.check.problem(user, where, f"answered {answer.status}: {answer.text[:200]}",
                                                   "a search for a case the reader may not know finds nothing",
                                                   case)
                        else:
                            unknown = self.get(user, path.replace(case.id, UNKNOWN_CASE))
                            if (answer.status, answer.text.replace(case.id, UNKNOWN_CASE)) != (404, unknown.text):
                                self.check.problem(user, where, f"answered {answer.status}: {answer.text[:200]}, "
                                                   f"not as for a case never issued: {unknown.text[:200]}",
                                                   "a hidden case must answer exactly as an unknown one", case)
                        continue
                    if answer.status != 200:
                        self.check.problem(user, where, f"answered {answer.status}: {answer.text[:200]}",
                                           f"{user.org.id} {holding}", case)
                        continue
                    self.expect_read(user, case, "fhir", where)
            if case.parent not in self.fhir_checked:  # each parent once a run: the lookup is rate-limited
                self.fhir_checked.add(case.parent)
                self.fhir_look_up(case)

    def fhir_look_up(self, case: CaseModel) -> None:
        body = {"family": case.last_name, "birthdate": case.date_of_birth}
        same = [c for c in self.model.values() if c.parent == case.parent]
        where = "POST /fhir/Patient/_search (the parent's family name and birth date)"
        for user in self.users:
            if user.role not in ("hospital", "cps"):
                continue
            answer = self.client.post("/fhir/Patient/_search", data=body,
                                      headers={"Authorization": f"Bearer {user.key}"})
            if answer.status_code == 429:
                continue
            found = answer_of(answer, "POST /fhir/Patient/_search")
            self.check.common(user, where, found, values=False, ids=False)
            if answer.status_code != 200:
                self.check.problem(user, where, f"answered {answer.status_code}: {answer.text[:200]}", "", case)
                continue
            entries = answer.json().get("entry") or []
            matched = {e["resource"]["id"] for e in entries}
            for other in same:
                findable = self.oracle.findable(user.org, other, self.today())
                if (other.id in matched) != findable:
                    self.check.problem(user, where, f"the delivery check {'finds' if other.id in matched else 'misses'}"
                                       f" case {other.id}", "it answers as POST /lookup does", other)
                elif findable:
                    self.expect_read(user, other, "lookup", where, tiers=False)
            for entry in entries:
                if set(entry["resource"]) - {"resourceType", "id", "identifier", "meta", "status", "intent",
                                             "category", "title", "subject", "contained", "author"}:
                    self.check.problem(user, where, f"the delivery check answers {sorted(entry['resource'])}",
                                       "only the reference, whether a plan is in place and the lead contact", case)

    def read_pages(self, swept: list[CaseModel]) -> None:
        """The web pages, three users a step in turn (a page costs several JSON reads)."""
        for case in swept:
            for _ in range(3):
                user = self.users[self.page_turn % len(self.users)]
                self.page_turn += 1
                path = f"/ui/cases/{case.id}"
                where = f"GET {path} (web page)"
                answer = self.browsers.get(user, path)
                self.check.common(user, where, answer)
                holding = self.holding(user, case)
                if not holding:
                    if answer.status not in (403, 404) or (user.role in CASE_ROLES and answer.status != 404):
                        self.check.problem(user, where, f"answered {answer.status}",
                                           "an organisation that holds no tier on a case cannot learn that it "
                                           "exists", case)
                    continue
                if answer.status == 404 and self.oracle.may_hide(user.org, case):
                    continue
                if answer.status != 200:
                    self.check.problem(user, where, f"answered {answer.status}", f"{user.org.id} {holding}", case)
                    continue
                self.check.page(user, case, where, answer.text)
                self.expect_read(user, case, "page", where)
                if self.page_turn % 3:
                    continue
                diagram = self.browsers.get(user, f"{path}/diagram")
                self.check.common(user, f"GET {path}/diagram (web page)", diagram)
                if diagram.status == 200:
                    self.check.diagram(user, case, f"GET {path}/diagram (web page)", diagram.text)
                    self.expect_read(user, case, None, f"GET {path}/diagram (web page)", tiers=False)
                if user.role in CASE_ROLES:
                    for listed in ("/ui/cases", "/ui/worklist"):
                        self.check.common(user, f"GET {listed} (web page)", self.browsers.get(user, listed))

    def read_accounting(self) -> None:
        """The lead CPS office's accounting of disclosures has every read the test made since it last looked."""
        for case_id, expected in list(self.pending.items()):
            case = self.model[case_id]
            lead = self.user_of(case.lead)
            if not expected or not self.holding(lead, case):
                continue
            path = f"/cases/{case_id}/disclosures"
            answer = self.get(lead, path)
            if answer.status != 200:
                self.check.problem(lead, f"GET {path}", f"answered {answer.status}: {answer.text[:200]}",
                                   "the lead CPS office lists a case's accounting of disclosures", case)
                continue
            entries = answer.json()
            new = entries[self.seen_entries.get(case_id, 0):]
            self.seen_entries[case_id] = len(entries)
            self.check.accounting(lead, case, f"GET {path}", new, expected)
            self.pending[case_id] = []


def fill_fields(form: str, field_id: str) -> tuple[Any, ...]:
    return FORMS[form].fields[field_id].fields


# --- the test -----------------------------------------------------------------------------------------------------

#: Shrinking replays the sweep hundreds of times (minutes); the failure message already says who saw what, and the
#: steps that led there are printed. `POSC_ADVERSARY_SHRINK=1` asks hypothesis for the smallest example.
SEARCH = tuple(Phase) if os.environ.get("POSC_ADVERSARY_SHRINK") else (Phase.explicit, Phase.reuse, Phase.generate)
SETTINGS = settings(
    max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, report_multiple_bugs=False, print_blob=True,
    suppress_health_check=list(HealthCheck), phases=SEARCH,
)


def test_nobody_sees_what_the_rules_forbid(
    db: Database, catalogue: Catalogue, clock: FixedClock, tmp_path: Path
) -> None:
    env = Env(db, catalogue, clock, tmp_path)

    class OnThisDatabase(Adversary):
        def __init__(self) -> None:
            super().__init__(env)

    run_state_machine_as_test(OnThisDatabase, settings=SETTINGS)


# --- the oracle can fail ------------------------------------------------------------------------------------------


@pytest.fixture
def fabricated() -> Iterator[tuple[Checker, dict[str, User], CaseModel, CaseModel, Markers]]:
    """A world on paper: a case opened by the prenatal clinic and treated by a program that recorded a
    disengagement reason (treatment tier), and a case opened by a treatment program with no consent yet."""
    kinds = {"cps": "c-cps", "hospital": "c-hosp", "treatment": "c-tx", "prenatal": "c-pn", "peer": "c-peer"}
    orgs = {role: Org(org_id, ROLE_KIND[role], org_id) for role, org_id in kinds.items()}
    users = {role: User(role, org, f"key-{role}", f"u-{role}") for role, org in orgs.items()}
    markers = Markers()
    reason, last = markers.new(), markers.new()
    identification = {"first_name": "Ann", "last_name": f"Lee{last}", "date_of_birth": "1990-01-01",
                      "identified_on": "2026-11-02", "due_date": "2026-12-20", "substances": ["opioids"],
                      "on_moud": "yes", "delivery_hospital": "c-hosp", "lead_cps_org": "c-cps"}
    treated = CaseModel("PC-AAAA-AAAA", orgs["prenatal"], "c-cps", "c-hosp", identification, state="disengaged",
                        treatment_org="c-tx", treatment_orgs={"c-tx"})
    treated.events = [
        Event(1, OPEN_EVENT, "identification", None, "identified", "c-pn", identification),
        Event(2, "admit_to_treatment", "treatment_admission", "identified", "in_treatment", "c-tx",
              {"admitted_on": "2026-11-02", "provider_org": "c-tx", "level_of_care": "outpatient",
               "moud": "none", "peer_support": "no"}),
        Event(3, "record_disengagement", "disengagement", "in_treatment", "disengaged", "c-tx",
              {"last_attended_on": "2026-11-03", "reason": f"transport {reason}", "outreach_planned": "yes"}),
    ]
    markers.register(reason, MarkerInfo(treated.id, 3, "record_disengagement", "disengagement", "reason"))
    markers.register(last, MarkerInfo(treated.id, 1, OPEN_EVENT, "identification", "last_name"))
    part2 = CaseModel("PC-BBBB-BBBB", orgs["treatment"], "c-cps", "c-hosp", dict(identification))
    part2.events = [Event(1, OPEN_EVENT, "identification", None, "identified", "c-tx", identification)]
    cases = {treated.id: treated, part2.id: part2}
    checker = Checker(Oracle(), cases, markers, lambda: date(2026, 11, 5))
    yield checker, users, treated, part2, markers


NO_STORE = {"cache-control": "no-store"}


def test_the_oracle_reports_a_treatment_value_shown_to_a_hospital(fabricated: Any) -> None:
    checker, users, treated, _, markers = fabricated
    reason = next(m for m, i in markers.known.items() if i.field == "reason")
    history = [
        {"seq": 1, "action": OPEN_EVENT, "from_state": None, "to_state": "identified",
         "data": {k: v for k, v in treated.identification.items() if k not in ("substances", "on_moud")}},
        {"seq": 3, "action": "record_disengagement", "from_state": None, "to_state": None,
         "data": {"reason": f"transport {reason}"}},
    ]
    answer = Answer(200, NO_STORE, json.dumps(history), f"GET /cases/{treated.id}/events")
    checker.common(users["hospital"], "GET events", answer)
    checker.events(users["hospital"], treated, "GET events", history)
    found = "\n".join(checker.problems)
    assert f"carries the value {reason} of disengagement.reason" in found, found
    assert "the history shows event 3 (record_disengagement)" in found, found
    assert "record_disengagement events are shown only to treatment" in found, found
    with pytest.raises(AssertionError, match="the hospital user of c-hosp"):
        checker.raise_if_any()


def test_the_oracle_reports_a_hidden_state_a_consent_first_case_and_a_missing_header(fabricated: Any) -> None:
    checker, users, treated, part2, _ = fabricated
    view = {"id": treated.id, "state": "disengaged", "phase": "prenatal", "tiers": ["status"],
            "data": {k: v for k, v in treated.identification.items() if k not in ("substances", "on_moud")},
            "deadlines": []}
    checker.view(users["hospital"], treated, "GET case", view)
    listing = {"items": [{"id": part2.id, "state": "identified", "phase": "prenatal", "tiers": ["status", "plan"]}]}
    checker.common(users["cps"], "GET /cases", Answer(200, {}, json.dumps(listing), "GET /cases"), values=False)
    checker.case_list(users["cps"], "GET /cases", listing)
    found = "\n".join(checker.problems)
    assert "the view shows the state 'disengaged'" in found and "shown only to treatment" in found, found
    assert "the list shows the case" in found and "consent first" in found, found
    assert "without Cache-Control: no-store" in found, found
    assert f"the answer names case {part2.id}" in found, found


def test_the_oracle_accepts_what_the_rules_allow(fabricated: Any) -> None:
    """The same checks stay quiet on answers that follow the rules (the oracle does not cry wolf)."""
    checker, users, treated, part2, markers = fabricated
    reason = next(m for m, i in markers.known.items() if i.field == "reason")
    treating = users["treatment"]
    view = {"id": treated.id, "state": "disengaged", "phase": "prenatal", "tiers": ["status", "treatment"],
            "data": dict(treated.identification), "deadlines": [{"deadline": "re_engagement", "owner": "c-tx"}]}
    checker.view(treating, treated, "GET case", view)
    history = [
        {"seq": 1, "action": OPEN_EVENT, "from_state": None, "to_state": "identified",
         "data": dict(treated.identification)},
        {"seq": 2, "action": "admit_to_treatment", "from_state": "identified", "to_state": "in_treatment",
         "data": dict(treated.events[1].data)},
        {"seq": 3, "action": "record_disengagement", "from_state": "in_treatment", "to_state": "disengaged",
         "data": dict(treated.events[2].data)},
    ]
    answer = Answer(200, NO_STORE, json.dumps(history), f"GET /cases/{treated.id}/events")
    checker.common(treating, "GET events", answer)
    checker.events(treating, treated, "GET events", history)
    assert reason in answer.text
    hospital_view = {"id": treated.id, "state": None, "phase": "prenatal", "tiers": ["status"],
                     "data": {k: v for k, v in treated.identification.items() if k not in ("substances", "on_moud")},
                     "deadlines": []}
    checker.view(users["hospital"], treated, "GET case", hospital_view)
    checker.case_list(users["cps"], "GET /cases", {"items": [
        {"id": treated.id, "state": "disengaged", "phase": "prenatal", "tiers": ["status", "plan"]}]})
    assert "disengaged" not in json.dumps(hospital_view)
    # The lead CPS office may not see "disengaged" (treatment tier) either: the list above shows it, so exactly that
    # one problem is found, and nothing else.
    assert len(checker.problems) == 1 and "the list shows the state 'disengaged'" in checker.problems[0], \
        checker.problems
    _ = part2


def test_the_oracle_follows_a_case_opened_at_delivery() -> None:
    """A case the hospital opened at delivery: the hospital, opener and delivery hospital at once, holds the status
    tier, sees born_without_plan and both events but none of the birth's plan values; the lead CPS office sees them.
    Shown to the hospital, a birth value is reported."""
    hospital_org, cps_org = Org("c-hosp", "hospital", "c-hosp"), Org("c-cps", "cps", "c-cps")
    hospital, cps = User("hospital", hospital_org, "key-h", "u-h"), User("cps", cps_org, "key-c", "u-c")
    peer = User("peer", Org("c-peer", "peer", "c-peer"), "key-p", "u-p")
    markers = Markers()
    details = markers.new()
    identification = {"first_name": "Bea", "last_name": "Ray", "date_of_birth": "1990-01-01",
                      "identified_on": "2026-11-02", "due_date": "2026-11-09", "gestational_weeks": 39,
                      "substances": ["opioids"], "on_moud": "no", "delivery_hospital": "c-hosp",
                      "lead_cps_org": "c-cps", **BIRTH_SET}
    birth = {"born_at": "2026-11-02T14:00:00+00:00", "gestational_weeks": 39, "birth_weight_grams": 3100,
             "withdrawal_signs": "none", "infant_toxicology": "negative", "parent_toxicology": "negative",
             "fasd_concern": "no", "substance_affected": "no", "safety_concern": "yes",
             "safety_concern_details": f"cot {details}"}
    born = next_state(BIRTH_ACTION, "identified", birth)
    assert born == "born_without_plan"
    case = CaseModel("PC-CCCC-CCCC", hospital_org, "c-cps", "c-hosp", identification, state=born, at_birth=True)
    case.events = [Event(1, OPEN_EVENT, "identification", None, "identified", "c-hosp", identification),
                   Event(2, BIRTH_ACTION, ACTION_FORM[BIRTH_ACTION], "identified", born, "c-hosp", birth)]
    markers.register(details, MarkerInfo(case.id, 2, BIRTH_ACTION, ACTION_FORM[BIRTH_ACTION],
                                          "safety_concern_details"))
    checker = Checker(Oracle(), {case.id: case}, markers, lambda: date(2026, 11, 2))
    assert checker.holding(hospital, case).tiers == ("status",)
    assert checker.holding(peer, case).tiers == ()
    status_only = {k: v for k, v in identification.items() if tier_of("identification", k) == "status"}

    def history(data: dict[str, Any], birth_data: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"seq": 1, "action": OPEN_EVENT, "from_state": None, "to_state": "identified", "data": data},
                {"seq": 2, "action": BIRTH_ACTION, "from_state": "identified", "to_state": born, "data": birth_data}]

    checker.view(hospital, case, "POST /cases", {"id": case.id, "state": born, "phase": "birth",
                                                 "tiers": ["status"], "data": status_only, "deadlines": []})
    checker.events(hospital, case, "GET events", history(status_only, {}))
    plan = {k: v for k, v in birth.items() if tier_of(ACTION_FORM[BIRTH_ACTION], k) == "plan"}
    lead_history = history({k: v for k, v in identification.items() if tier_of("identification", k) != "treatment"},
                           plan)
    checker.common(cps, "GET events", Answer(200, NO_STORE, json.dumps(lead_history), "GET events"))
    checker.events(cps, case, "GET events", lead_history)
    assert checker.problems == []
    leaked = history(status_only, {"safety_concern_details": birth["safety_concern_details"]})
    checker.common(hospital, "GET events", Answer(200, NO_STORE, json.dumps(leaked), "GET events"))
    checker.events(hospital, case, "GET events", leaked)
    found = "\n".join(checker.problems)
    assert f"carries the value {details} of birth_event.safety_concern_details of event 2" in found, found
    assert "shows the field birth_event.safety_concern_details" in found, found
    assert "opened at delivery by c-hosp" in found, found


def test_the_oracle_names_an_open_case_to_a_second_opener_only_where_the_rules_let_it(fabricated: Any) -> None:
    """A second case for the same parent is refused with the open case's reference only to an opener holding a tier
    on it, or to hospital staff and CPS workers the delivery check answers; never a Part 2 program's case to an
    organisation no consent names, and never a closed case."""
    checker, users, treated, part2, _ = fabricated
    oracle, today = checker.oracle, date(2026, 11, 5)
    other_hospital = User("hospital", Org("c-hosp-2", "hospital", "c-hosp-2"), "key-h2", "u-h2")
    assert oracle.names_open_case(users["hospital"], treated, today)
    assert oracle.names_open_case(other_hospital, treated, today)  # the delivery check answers any hospital
    assert not oracle.names_open_case(users["peer"], treated, today)  # no tier and no delivery check
    assert oracle.names_open_case(users["prenatal"], treated, today)  # it opened the case
    assert not oracle.names_open_case(users["hospital"], part2, today)  # consent first
    assert oracle.names_open_case(users["treatment"], part2, today)
    treated.state = "closed"
    assert not oracle.names_open_case(users["cps"], treated, today)
