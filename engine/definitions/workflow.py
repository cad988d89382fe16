"""The schema of a workflow definition (`workflows/*.yaml`), as pydantic models.

This checks the *shape* of a file (keys, types). Whether the names it uses exist and the pathway hangs together is
checked afterwards by `engine.definitions.checks`, so each problem can point at its own line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

_IDENT = r"^[a-z][a-z0-9_]*$"
Ident = Annotated[str, Field(pattern=_IDENT)]
def _when_value(value: Any) -> Any:
    if isinstance(value, bool) or (isinstance(value, list) and any(isinstance(v, bool) for v in value)):
        raise ValueError('is true/false, not text: quote yes and no ("yes"), which YAML reads as booleans')
    return value


#: A `when` condition: form field → the value (or one of the values) it must have.
When = dict[Ident, Annotated[StrictStr | list[StrictStr], BeforeValidator(_when_value)]]
SAME = "same"
_DURATION = re.compile(r"^(-?)(\d+)(h|d|w|mo)$")


@dataclass(frozen=True)
class Duration:
    """A span written in YAML as `72h`, `7d`, `2w` or `12mo` (calendar months), possibly negative."""

    amount: int
    unit: str
    text: str

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _DURATION.fullmatch(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a duration such as 72h, 7d, 2w or 12mo")
        sign, amount, unit = match.groups()
        return cls(-int(amount) if sign else int(amount), unit, text)

    def after(self, start: datetime, tz: tzinfo) -> datetime:
        """`start` moved by this span, in UTC. Hours are elapsed time; days, weeks and months are calendar
        spans in the jurisdiction's time zone `tz` (7 days after 09:00 is 09:00, across a daylight-saving change).
        """
        if self.unit == "h":
            return (start.astimezone(UTC) + timedelta(hours=self.amount)).astimezone(UTC)
        local = start.astimezone(tz)
        if self.unit == "mo":
            moved = _add_months(local, self.amount)
        else:
            moved = local + timedelta(days=self.amount * (7 if self.unit == "w" else 1))
        return moved.astimezone(UTC)

    def negated(self) -> Duration:
        return Duration(-self.amount, self.unit, f"-{self.text}")

    def approx_hours(self) -> float:
        return self.amount * {"h": 1, "d": 24, "w": 168, "mo": 730.5}[self.unit]


def _add_months(start: datetime, months: int) -> datetime:
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    last = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return start.replace(year=year, month=month, day=min(start.day, last))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StateSpec(_Strict):
    phase: Ident
    title: StrictStr = ""
    description: StrictStr = ""
    terminal: StrictBool = False


class GuardRef(BaseModel):
    """`{guard: name, <parameters>, when?: {...}, in_states?: [...], reason?: "..."}`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    guard: Ident
    when: When = Field(default_factory=dict)
    in_states: list[StrictStr] = Field(default_factory=list)
    reason: StrictStr | None = None

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class BranchSpec(_Strict):
    """One way an action can go: from these states to that one (`same`: no change), when the data match."""

    from_: Annotated[list[StrictStr], Field(alias="from", min_length=1)]
    to: StrictStr
    when: When = Field(default_factory=dict)
    #: Conditions on what the case already holds (`birth_safety_concern: "no"`), besides the form's `when`.
    case_when: When = Field(default_factory=dict)

    @field_validator("from_", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class OpenVariantSpec(_Strict):
    """Another way in: the opening form (with some values `set`), and one action taken in the same step, its form's
    data under the variant's name in the request. Identification at birth opens a case and records the birth."""

    title: StrictStr
    description: StrictStr = ""
    roles: list[StrictStr]
    #: The action taken as the case opens, from the initial state.
    then: Ident
    #: Opening-form values the variant sets, and which mark its cases (a plain opening may not claim them).
    set: Annotated[dict[Ident, StrictStr], Field(min_length=1)]
    guards: list[GuardRef] = Field(default_factory=list)
    #: Organisation fields of the opening form that must name the actor's own organisation.
    own_organisation: list[Ident] = Field(default_factory=list)


class OpenSpec(_Strict):
    """How a case is opened: who may, with which form, under which guards; and the other ways in (`variants`)."""

    title: StrictStr = "Open a case"
    roles: list[StrictStr]
    form: Ident
    guards: list[GuardRef] = Field(default_factory=list)
    record: dict[Ident, Ident] = Field(default_factory=dict)
    variants: dict[Ident, OpenVariantSpec] = Field(default_factory=dict)


class ActionSpec(_Strict):
    title: StrictStr
    description: StrictStr = ""
    from_: Annotated[list[StrictStr] | None, Field(alias="from")] = None
    to: StrictStr | None = None
    transitions: list[BranchSpec] | None = None
    roles: list[StrictStr]
    form: Ident
    guards: list[GuardRef] = Field(default_factory=list)
    #: Case facts copied from the form data: fact name → form field.
    record: dict[Ident, Ident] = Field(default_factory=dict)
    effects: list[Ident] = Field(default_factory=list)
    #: Organisation fields of the form that must name the actor's own organisation when it is of a kind the field
    #: accepts (a treatment program records admissions only for itself).
    own_organisation: list[Ident] = Field(default_factory=list)

    @field_validator("from_", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def branches(self) -> list[BranchSpec]:
        if self.transitions is not None:
            return self.transitions
        return [BranchSpec.model_validate({"from": self.from_ or [], "to": self.to or ""})]


class OpensSpec(_Strict):
    """When a deadline opens: on an event (an action, optionally into given states when data match, or
    `open_case`), or on a date the case holds (`date: due_date`, `offset: -30d`)."""

    event: StrictStr | None = None
    to: list[StrictStr] = Field(default_factory=list)
    when: When = Field(default_factory=dict)
    date: Ident | None = None
    offset: StrictStr = "0d"
    #: With `event`: the clock starts at this case value (as it stands after the event), the time something really
    #: happened (`identified_on`, `born_at`), not when it was entered. A date starts at the start of that day.
    at: Ident | None = None


class MetBySpec(_Strict):
    action: Ident
    when: When = Field(default_factory=dict)
    #: The action meets the deadline only this long after it opened (`83d` for the 90-day follow-up).
    not_before: StrictStr | None = None
    #: The form field that says when the work was really done (`admitted_on`); without it, when it was entered.
    at: Ident | None = None


class DeadlineSpec(_Strict):
    title: StrictStr
    description: StrictStr = ""
    source: StrictStr = ""
    opens: OpensSpec
    target: StrictStr
    due: StrictStr
    met_by: Annotated[list[MetBySpec], Field(min_length=1)]
    #: States in which the deadline still applies; leaving them cancels it.
    applies_in: Annotated[list[StrictStr], Field(min_length=1)]
    #: The role whose organisation on the case owns the work.
    owner: StrictStr


class MinimumNecessarySpec(_Strict):
    """Who sees the specific state of a case, and the events of each action (PATHWAY, "Minimum necessary").

    An audience lists tiers (`status`, `plan`, `treatment`) and parties (`party:hospital`: the organisation playing
    that role on the case). States and events not listed are shown at `status`."""

    states: dict[Ident, list[StrictStr]] = Field(default_factory=dict)
    events: dict[Ident, list[StrictStr]] = Field(default_factory=dict)


class CeilingSpec(_Strict):
    """What a role never sees, whatever a consent says."""

    #: False: no case data at all (analysts, administrators).
    case_data: StrictBool = True
    states: list[Ident] = Field(default_factory=list)
    events: list[Ident] = Field(default_factory=list)
    #: `form.field` pairs.
    fields: list[StrictStr] = Field(default_factory=list)
    #: False: closed cases (CPS history) are never found by this role's lookups.
    closed_cases: StrictBool = True


class WorkflowSpec(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
    version: Annotated[StrictInt, Field(ge=1)]
    title: StrictStr
    description: StrictStr = ""
    timezone: StrictStr
    roles: Annotated[list[Ident], Field(min_length=1)]
    phases: Annotated[list[Ident], Field(min_length=1)]
    initial: Ident
    states: dict[Ident, StateSpec]
    #: Roles on the case mapped to the case fact naming their organisation (`cps: lead_cps_org`).
    parties: dict[Ident, Ident] = Field(default_factory=dict)
    #: The party that owns deadlines whose own owner is not on the case yet, and receives escalations.
    escalate_to: Ident
    #: Opening-form fields whose exact values find a case (hospital lookup); never shown in URLs or logs.
    lookup: list[Ident] = Field(default_factory=list)
    #: The roles the delivery lookup answers (exact lookup fields, minimal answer; every lookup audited).
    lookup_roles: list[Ident] = Field(default_factory=list)
    #: The roles that may read the de-identified figures (case roles or not: analysts, administrators).
    figure_roles: list[Ident] = Field(default_factory=list)
    #: Which disclosure tiers each party of a case sees (`opened_by` is the identifying organisation).
    disclosure: dict[Ident, list[Literal["status", "plan", "treatment"]]] = Field(default_factory=dict)
    #: Organisation kinds whose cases are visible to others only through consent (42 CFR Part 2 programs).
    consent_first: list[Ident] = Field(default_factory=list)
    minimum_necessary: MinimumNecessarySpec = Field(default_factory=MinimumNecessarySpec)
    #: Role ceilings, by role.
    ceilings: dict[Ident, CeilingSpec] = Field(default_factory=dict)
    open: OpenSpec
    actions: dict[Ident, ActionSpec]
    deadlines: dict[Ident, DeadlineSpec] = Field(default_factory=dict)
