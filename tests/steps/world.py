"""What a scenario remembers between steps (the current case, the last answer), and the words steps share:
who acts, and dates relative to today or to the due date."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.factories import JURISDICTION

#: How features name the users (each is one user of the role's standard organisation).
WHO = {
    "cps": "cps", "the cps worker": "cps", "cps worker": "cps",
    "treatment": "treatment", "the treatment provider": "treatment", "treatment provider": "treatment",
    "peer": "peer", "the peer mentor": "peer", "peer mentor": "peer", "the recovery coach": "peer",
    "prenatal": "prenatal", "the prenatal clinic": "prenatal", "prenatal clinic": "prenatal",
    "hospital": "hospital", "the hospital": "hospital", "hospital staff": "hospital",
    "another hospital": "valley-hospital", "the other hospital": "valley-hospital",
    "valley hospital": "valley-hospital", "the valley hospital": "valley-hospital",
    "analyst": "analyst", "the analyst": "analyst", "admin": "admin", "the administrator": "admin",
}
#: Every case action taken successfully in a feature (the workflow coverage report reads it).
TAKEN: set[str] = set()
REACHED: set[str] = set()


def role(who: str) -> str:
    key = who.strip().lower()
    if key not in WHO:
        raise AssertionError(f"unknown person {who!r}; features may name: {', '.join(sorted(set(WHO)))}")
    return WHO[key]


@dataclass
class World:
    api: Api
    case: dict[str, Any] | None = None
    last: Any = None
    lookup: list[dict[str, Any]] = field(default_factory=list)
    #: How many events the case's history held before the last step acted on it.
    history_before: int | None = None
    #: The people a scenario set up from a table (`Given these users:`), by their name in lower case.
    people: dict[str, str] = field(default_factory=dict)

    def role(self, who: str) -> str:
        """Who acts, as the key of their user: a person the scenario set up, or one of `WHO`."""
        key = who.strip().lower()
        return f"person:{key}" if key in self.people else role(who)

    def current(self) -> dict[str, Any]:
        if self.case is None:
            last = self.last
            if last is not None and getattr(last, "status_code", 200) >= 400:  # the opening itself was refused
                body = last.json() if "json" in last.headers.get("content-type", "") else {}
                said = "; ".join([body.get("detail", ""), *(f"{e['field']}: {e['message']}"
                                                           for e in body.get("errors", []))]).strip("; ")
                raise AssertionError(f"no case: opening it was refused ({last.status_code}: {said})")
            raise AssertionError("no case yet: start with a step such as 'Given a case opened by the prenatal clinic'")
        return self.case

    def due_date(self) -> date:
        return date.fromisoformat(self.current()["data"]["due_date"])

    def today(self) -> date:
        return self.api.today()

    def lead(self) -> str:
        """The user the step library reads the case as: one of its lead CPS office (the standard cps worker, or a
        reader of an office the scenario set up), as the lead sees more of a case than anyone."""
        services = self.api.client.app.state.services  # type: ignore[attr-defined]
        office = services.cases.get(self.current()["id"]).parties.get("cps") or "county-cps"
        if office == "county-cps":
            return "cps"
        if f"lead:{office}" not in self.api.key:
            from engine.users import add_user

            _, self.api.key[f"lead:{office}"] = add_user(services.db, services.clock, name=f"{office} reader",
                                                         role="cps", organisation=office)
        return f"lead:{office}"

    def refresh(self) -> dict[str, Any]:
        """The case as its lead reads it now; where even the lead may not see it yet (a case a treatment provider
        opened, before a consent names CPS), what the case's record holds."""
        response = self.api.get(f"/cases/{self.current()['id']}", self.lead())
        if response.status_code == 200:
            self.case = response.json()
        else:
            record = self.api.client.app.state.services.cases.get(self.current()["id"])  # type: ignore[attr-defined]
            self.case = {**self.current(), "data": dict(record.data), "state": record.state, "phase": record.phase,
                         "deadlines": []}
        return self.case


_RELATIVE = re.compile(
    r"^(?:(?P<n>\d+) (?P<unit>days?|weeks?) (?P<dir>before|after) the due date|the due date|today|tomorrow|yesterday"
    r"|in (?P<in>\d+) days?|(?P<ago>\d+) days? ago)$"
)


def when(text: str, world: World) -> date:
    """A date written as ISO (2027-01-10), today/tomorrow/yesterday, "in 3 days", "2 days ago", "the due date",
    or "10 days before the due date" (any case)."""
    text = text.strip().lower()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    match = _RELATIVE.match(text)
    if match is None:
        raise AssertionError(f"{text!r} is not a date this catalogue understands (see `posc steps`)")
    today = world.today()
    if text == "today":
        return today
    if text == "tomorrow":
        return today + timedelta(days=1)
    if text == "yesterday":
        return today - timedelta(days=1)
    if match["in"]:
        return today + timedelta(days=int(match["in"]))
    if match["ago"]:
        return today - timedelta(days=int(match["ago"]))
    if text == "the due date":
        return world.due_date()
    days = int(match["n"]) * (7 if match["unit"].startswith("week") else 1)
    return world.due_date() + timedelta(days=-days if match["dir"] == "before" else days)


def value(text: str, world: World, kind: str | None = None) -> Any:
    """A table cell as form data: dates (relative too), numbers, lists (comma-separated; `none` for an empty
    list), or text."""
    text = text.strip()
    if kind in ("multi_choice", "many", "records") and text.lower() == "none":
        return []
    if kind in ("multi_choice", "many") or (kind is None and "," in text and not re.search(r"\s{2}", text)):
        return [part.strip() for part in text.split(",") if part.strip()]
    if kind == "number":
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if kind == "date":
        return when(text, world).isoformat()
    if kind == "datetime":
        if ":" in text and " at " not in text:  # a full ISO time (2027-01-10T10:00-05:00; no offset: local time)
            moment = datetime.fromisoformat(text)
            return (moment if moment.tzinfo is not None else moment.replace(tzinfo=JURISDICTION)).isoformat()
        day = when(text.split(" at ")[0], world)  # a day at a time of day (10:00, or 10:00-05:00), 09:00 if none
        clock = time.fromisoformat(text.split(" at ")[1].strip()) if " at " in text else time(9, 0)
        return datetime.combine(day, clock.replace(tzinfo=None), clock.tzinfo or JURISDICTION).isoformat()
    return text


def morning(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), JURISDICTION)


@pytest.fixture
def world(api: Api) -> World:
    return World(api)
