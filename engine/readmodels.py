"""The engine's answers, typed: what a caller is shown of a case, its history, its deadlines, lists of cases and work,
a case's page, and the answer to a write. `engine.views` builds them from the one access decision; the HTTP API
returns them as they are (they are its response schemas) and the pages read them by attribute.

Form data stays a mapping (`data`): its fields are declared in the workflow YAML, not here, and hold only what the
reader's tiers allow."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: Minimum necessary: some readers see the phase only.
HIDDEN_STATE = "The specific state, where the caller may see it; otherwise null, and only the phase is shown"


class ReadModel(BaseModel):
    """An answer: immutable once built."""

    model_config = ConfigDict(frozen=True)


class Contact(ReadModel):
    organisation: str = Field(examples=["county-cps"])
    name: str = Field(examples=["County Child Protective Services"])
    contact: str | None = Field(default=None, examples=["Intake desk, 555-0100"])


class DeadlineView(ReadModel):
    deadline: str = Field(examples=["treatment_admission"])
    title: str = Field(examples=["Admission to treatment"])
    opens_at: datetime
    target_at: datetime
    due_at: datetime
    open_now: bool
    past_target: bool
    overdue: bool
    owner: str | None = Field(default=None, description="The organisation that must act")


class DeadlineRecord(DeadlineView):
    """A deadline the case has had, in any status."""

    status: str = Field(description="open, met, missed or cancelled")
    closed_at: datetime | None
    late: bool = Field(description="Met, but after it was due")


class WindowView(ReadModel):
    window: str = Field(examples=["planning window"])
    action: str = Field(examples=["schedule_planning_meeting"])
    from_: date = Field(alias="from")
    to: date

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)


class LateEntryView(ReadModel):
    event: str = Field(examples=["open_case"])
    title: str = Field(examples=["Open a case"])
    field: str | None = Field(description="The field saying when it happened", examples=["identified_on"])
    days: int = Field(description="Calendar days between when it happened and when it was entered", examples=[61])


class CaseView(ReadModel):
    id: str = Field(examples=["PC-4F7K-2M9X"])
    workflow: str = Field(examples=["charm-posc"])
    workflow_version: int
    version: int = Field(description='The case version; its ETag is "v<version>"')
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


class EventView(ReadModel):
    seq: int
    action: str
    form: str | None
    from_state: str | None = Field(description="The state before, where the caller may see it")
    to_state: str | None = Field(description="The state after, where the caller may see it")
    actor: str
    actor_role: str
    organisation: str
    occurred_at: datetime
    data: dict[str, Any] = Field(description="The event's form fields at the caller's tiers")
    withheld: list[str] = Field(description="Fields of the event withheld from this caller")


class ActionOption(ReadModel):
    """One action of the current state, and whether this caller may take it now (and if not, why)."""

    action: str = Field(examples=["admit_to_treatment"])
    title: str
    target: str | None = Field(description="The target state, when only one is possible")
    targets: list[str]
    form: str
    allowed: bool
    reasons: list[str] = Field(description="Why not, in the pathway's own words")


class PlanVersion(ReadModel):
    version: int
    at: datetime
    action: str


class CasePage(ReadModel):
    """What a case's page shows, read in one transaction and recorded as one disclosure."""

    case: CaseView
    events: list[EventView]
    deadlines: list[DeadlineRecord] = Field(description="Every deadline the case has had, in the order they opened")
    plan_versions: list[PlanVersion]
    actions: list[ActionOption]


class CaseRecordRead(ReadModel):
    """A case with its history as one reader may see it, read in one transaction and recorded as one disclosure:
    what the FHIR interface builds its resources from."""

    case: CaseView
    events: list[EventView]
    plans: list[EventView] = Field(description="The plan's versions (plan events), version 1 first; empty for a "
                                   "reader without the plan tier")


class CaseSummary(ReadModel):
    id: str
    workflow: str
    state: str | None = Field(description=HIDDEN_STATE)
    phase: str
    plan_in_place: bool
    tiers: list[str]
    updated_at: datetime


class CaseList(ReadModel):
    items: list[CaseSummary]
    next_cursor: str | None


class WorkItem(DeadlineView):
    case: str
    state: str | None = Field(description=HIDDEN_STATE)


class Worklist(ReadModel):
    items: list[WorkItem]
    next_cursor: str | None


class DisclosureView(ReadModel):
    actor: str
    actor_role: str
    organisation: str
    what: str
    tiers: list[str]
    at: datetime


class LookupMatch(ReadModel):
    """Only what a lookup may disclose: the reference, whether a plan is in place, the lead contact."""

    id: str
    plan_in_place: bool
    lead_contact: Contact | None


class LookupAnswer(LookupMatch):
    """A match as the pages show it: with the caller's own tiers on the case (empty: the case stays closed)."""

    tiers: list[str]


class Outcome(ReadModel):
    """The answer to a write: the case as the caller may see it now, and whether it is a replay of an earlier answer
    (a repeated idempotency key) that wrote nothing."""

    case: CaseView
    replayed: bool
