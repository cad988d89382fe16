"""Request models of the HTTP API and the responses that are its own (problems, lists of workflows, the caller);
the case answers are the engine's read models (`engine.readmodels`), returned as they are. Examples feed the OpenAPI
schema."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine import (
    ActionOption,
    CaseList,
    CaseSummary,
    CaseView,
    Contact,
    DeadlineView,
    DisclosureView,
    EventView,
    LookupMatch,
    Worklist,
)

__all__ = [
    "PROBLEMS", "ActionOption", "CaseList", "CaseSummary", "CaseView", "Contact", "DeadlineView", "DisclosureView",
    "EventView", "Lookup", "LookupMatch", "LookupResult", "Me", "OpenCase", "OrganisationSummary", "Problem",
    "ProblemKind", "TakeAction", "WorkflowSummary", "Worklist",
]

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


class LookupResult(BaseModel):
    matches: list[LookupMatch]


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
