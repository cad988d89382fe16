"""Request and response models of the HTTP API (separate from the tables), with examples for the OpenAPI schema."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_EXAMPLE_IDENTIFICATION = {
    "first_name": "Alex", "last_name": "Rivera", "date_of_birth": "1996-04-12", "identified_on": "2026-11-02",
    "due_date": "2027-03-01", "gestational_weeks": 22, "identified_by": "prenatal_screening",
    "substances": ["opioids"], "on_moud": "yes", "delivery_hospital": "city-hospital", "lead_cps_org": "county-cps",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenCase(Strict):
    workflow: str = Field(examples=["charm-posc"], max_length=64)
    data: dict[str, Any] = Field(description="The opening form's fields", examples=[_EXAMPLE_IDENTIFICATION])
    new_pregnancy: bool = Field(
        default=False,
        description="A parent with an open case is not given a second one (409 naming the open case) unless this "
        "says the case is for a new pregnancy",
    )
    birth: dict[str, Any] | None = Field(
        default=None,
        description="Identification at birth (hospital staff only): the birth form's fields. The case opens with the "
        "birth recorded, in the birth phase on the CAPTA notification clock; `data.identified_by` is set to hospital",
    )


class TakeAction(Strict):
    data: dict[str, Any] = Field(
        default_factory=dict, description="The action's form fields",
        examples=[{"admitted_on": "2026-11-03", "provider_org": "recovery-clinic", "level_of_care": "outpatient",
                   "moud": "buprenorphine", "peer_support": "yes"}],
    )


class Lookup(Strict):
    last_name: str = Field(min_length=1, max_length=100, examples=["Rivera"])
    date_of_birth: date = Field(examples=["1996-04-12"])


class Contact(BaseModel):
    organisation: str
    name: str
    contact: str | None = None


class DeadlineView(BaseModel):
    deadline: str
    title: str
    opens_at: datetime
    target_at: datetime
    due_at: datetime
    open_now: bool
    past_target: bool
    overdue: bool
    owner: str | None = None


class WindowView(BaseModel):
    window: str = Field(examples=["planning window"])
    action: str = Field(examples=["schedule_planning_meeting"])
    from_: date = Field(alias="from")
    to: date

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


#: Minimum necessary (docs/who-sees-what.md): some readers see the phase only.
HIDDEN_STATE = "The specific state, where the caller may see it; otherwise null, and only the phase is shown"


class LateEntryView(BaseModel):
    event: str = Field(examples=["open_case"])
    title: str = Field(examples=["Open a case"])
    field: str | None = Field(description="The field saying when it happened", examples=["identified_on"])
    days: int = Field(description="Calendar days between when it happened and when it was entered", examples=[61])


class CaseView(BaseModel):
    id: str = Field(examples=["PC-4F7K-2M9X"])
    workflow: str
    workflow_version: int
    version: int
    state: str | None = Field(description=HIDDEN_STATE)
    phase: str
    terminal: bool
    plan_in_place: bool
    plan_version: int
    lead_contact: Contact | None
    tiers: list[str] = Field(description="The disclosure tiers this caller holds on the case")
    data: dict[str, Any] = Field(description="Opening form fields at the caller's tiers")
    withheld: list[str] = Field(description="Opening form fields withheld from this caller")
    deadlines: list[DeadlineView]
    windows: list[WindowView] = Field(description="Date windows the pathway enforces for this case")
    entered_late: list[LateEntryView] = Field(
        default_factory=list,
        description="Events entered days after they happened; their deadlines run from when they happened",
    )
    opened_at: datetime
    updated_at: datetime


class CaseSummary(BaseModel):
    id: str
    workflow: str
    state: str | None = Field(description=HIDDEN_STATE)
    phase: str
    plan_in_place: bool
    tiers: list[str]
    updated_at: datetime


class CaseList(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None


class ActionOptionView(BaseModel):
    action: str
    title: str
    target: str | None = Field(description="The target state, when only one is possible")
    targets: list[str]
    form: str
    allowed: bool
    reasons: list[str]


class EventView(BaseModel):
    seq: int
    action: str
    form: str | None
    from_state: str | None = Field(description="The state before, where the caller may see it")
    to_state: str | None = Field(description="The state after, where the caller may see it")
    actor: str
    actor_role: str
    organisation: str
    occurred_at: datetime
    data: dict[str, Any]
    withheld: list[str]


class DisclosureView(BaseModel):
    actor: str
    actor_role: str
    organisation: str
    what: str
    tiers: list[str]
    at: datetime


class LookupMatch(BaseModel):
    """Only what PATHWAY.md allows a lookup to disclose: the reference, whether a plan is in place, the lead contact."""

    id: str
    plan_in_place: bool
    lead_contact: Contact | None


class LookupResult(BaseModel):
    matches: list[LookupMatch]


class WorkItem(DeadlineView):
    case: str
    state: str | None = Field(description=HIDDEN_STATE)


class Worklist(BaseModel):
    items: list[WorkItem]
    next_cursor: str | None


class Me(BaseModel):
    id: str
    name: str
    role: str
    organisation: str


class WorkflowSummary(BaseModel):
    id: str
    version: int
    title: str


class OrganisationSummary(BaseModel):
    """An organisation one may name on a form: its id, name and kind (what it is; fields accept only their kinds)."""

    id: str = Field(examples=["county-cps"])
    name: str = Field(examples=["County Child Protective Services"])
    kind: str = Field(examples=["cps"], description="cps, treatment, hospital, prenatal, peer, state or admin")


class Problem(BaseModel):
    """An RFC 9457 problem. `type` names the kind (`/problems/invalid-form`; `GET /problems/{kind}` describes it)."""

    type: str = Field(examples=["/problems/invalid-form"])
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = Field(default=None, description="Each invalid field and why")
    reasons: list[str] | None = Field(default=None, description="Why the pathway refused, in its own words")
    existing_case: str | None = Field(default=None, description="With already-open: the open case's reference")


class ProblemKind(BaseModel):
    type: str
    title: str
    description: str


PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (400, 401, 403, 404, 409, 412, 413, 422, 429)
}
