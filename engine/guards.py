"""Guards: named rules an action must satisfy, referenced from YAML by name with parameters.

Each guard returns the reasons it refuses (an empty list when it is satisfied), so a refused action can say why in
the domain's words and `GET /cases/{id}/actions` can explain a disabled action. No `eval`: a guard is a function in
this registry; its parameters are a pydantic model, checked when the definition loads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from engine.definitions.forms import FormSpec


@dataclass(frozen=True)
class ConsentView:
    """An active universal consent, as guards and disclosure see it."""

    organisations: frozenset[str]
    categories: frozenset[str]
    signed_on: date
    expires_on: date


@dataclass
class GuardContext:
    """What a guard may look at: the submission, the case, the time, and lazily the consents and deadlines."""

    state: str
    data: Mapping[str, Any]
    case: Mapping[str, Any]
    form: FormSpec
    case_labels: Mapping[str, str]
    now: datetime
    today: date
    timezone: tzinfo
    consents: Callable[[], list[ConsentView]]
    deadline_status: Callable[[str], str | None]
    deadline_titles: Mapping[str, str]
    #: Who is acting, and which organisation plays each part on the case (`cps`, `opened_by`, ...).
    actor_organisation: str = ""
    parties: Mapping[str, str] = field(default_factory=dict)

    def date_of(self, value: Any) -> date | None:
        """A date or date-time as a calendar date in the jurisdiction."""
        return as_date(value, self.timezone)

    def label(self, field: str) -> str:
        """The field's label as it reads inside a sentence ("Meeting date" → "meeting date", "CPS" kept)."""
        spec = self.form.field(field)
        return _in_sentence(spec.label if spec else field.replace("_", " "))

    def case_label(self, key: str) -> str:
        return _in_sentence(self.case_labels.get(key, key.replace("_", " ")))


def _in_sentence(label: str) -> str:
    words = label.split(" ")
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=Params)


@dataclass(frozen=True)
class Guard(Generic[P]):
    name: str
    params: type[P]
    check: Callable[[GuardContext, P], list[str]]
    #: Parameter names that name a field of the action's form / a value held on the case.
    form_fields: tuple[str, ...] = ()
    case_fields: tuple[str, ...] = ()
    #: False for guards that look only at the case, so they can be evaluated before any form is filled in.
    uses_form: bool = True


GUARDS: dict[str, Guard[Any]] = {}


def guard(
    name: str,
    params: type[P],
    *,
    form_fields: tuple[str, ...] = (),
    case_fields: tuple[str, ...] = (),
    uses_form: bool = True,
) -> Callable[[Callable[[GuardContext, P], list[str]]], Callable[[GuardContext, P], list[str]]]:
    def register(fn: Callable[[GuardContext, P], list[str]]) -> Callable[[GuardContext, P], list[str]]:
        GUARDS[name] = Guard(name, params, fn, form_fields, case_fields, uses_form)
        return fn

    return register


def as_date(value: Any, tz: tzinfo | None = None) -> date | None:
    """The calendar date of a date or a date-time; a date-time's date is taken in `tz` (the jurisdiction's time
    zone) when given, not in whatever offset it was entered with.

    None when there is no value or it cannot be read as one: a stored value that is not an ISO date or date-time, or
    one whose date in `tz` falls outside the calendar (such as `0001-01-01T00:00:00+14:00`, stored before forms
    refused it). Guards then have nothing to compare and refuse nothing on it; reads show it as stored."""
    if value is None:
        return None
    try:
        if isinstance(value, str):
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        if isinstance(value, datetime):
            return value.astimezone(tz).date() if tz is not None and value.tzinfo is not None else value.date()
    except (ValueError, OverflowError):
        return None
    if isinstance(value, date):
        return value
    return None


def _span(days: int) -> str:
    return f"{days} days ({days // 7} weeks)" if days % 7 == 0 else f"{days} days"


# --- the registry ---------------------------------------------------------------------------------------------


class FieldParam(Params):
    field: StrictStr


@guard("not_in_future", FieldParam, form_fields=("field",))
def not_in_future(ctx: GuardContext, p: FieldParam) -> list[str]:
    value = ctx.data.get(p.field)
    if value is None:
        return []
    if isinstance(value, str) and "T" in value:
        moment = datetime.fromisoformat(value)
        if moment > ctx.now:
            return [f"the {ctx.label(p.field)} {value} is in the future"]
        return []
    day = ctx.date_of(value)
    if day is not None and day > ctx.today:
        return [f"the {ctx.label(p.field)} {day} is in the future (today is {ctx.today})"]
    return []


class DateAfterParams(Params):
    field: StrictStr
    after: StrictStr | None = None
    after_case: StrictStr | None = None
    strict: bool = True
    max_days: int | None = Field(default=None, gt=0)
    #: With `after`: when the form leaves that field out (a correction of some fields), compare with the case's.
    or_case: bool = False


@guard("date_after", DateAfterParams, form_fields=("field", "after"), case_fields=("after_case",))
def date_after(ctx: GuardContext, p: DateAfterParams) -> list[str]:
    """`field` must fall after (`strict`) or not before a reference date: another form field or a case value."""
    value = ctx.date_of(ctx.data.get(p.field))
    if p.after is not None:
        given = ctx.data.get(p.after)
        if given is None and p.or_case:
            given = ctx.case.get(p.after)
        reference, reference_label = ctx.date_of(given), ctx.label(p.after)
    else:
        key = p.after_case or ""
        reference, reference_label = ctx.date_of(ctx.case.get(key)), ctx.case_label(key)
    if value is None or reference is None:
        return []
    label = ctx.label(p.field)
    if p.strict and value <= reference:
        return [f"the {label} {value} must be after the {reference_label} {reference}"]
    if not p.strict and value < reference:
        return [f"the {label} {value} is before the {reference_label} {reference}"]
    if p.max_days is not None and value > reference + timedelta(days=p.max_days):
        return [
            f"the {label} {value} is more than {_span(p.max_days)} after the {reference_label} {reference}"
        ]
    return []


class WindowParams(Params):
    field: StrictStr
    case_field: StrictStr
    days_before: int = Field(ge=0)
    days_after: int = Field(default=0, ge=0)
    window: StrictStr = "window"
    #: Shown on the case (the planning window is work to plan for); a plausibility range is not.
    shown: bool = True


@guard("date_in_window", WindowParams, form_fields=("field",), case_fields=("case_field",))
def date_in_window(ctx: GuardContext, p: WindowParams) -> list[str]:
    """`field` must fall from `days_before` before a case date to `days_after` after it (the planning window)."""
    value, anchor = ctx.date_of(ctx.data.get(p.field)), ctx.date_of(ctx.case.get(p.case_field))
    if value is None or anchor is None:
        return []
    start, end = anchor - timedelta(days=p.days_before), anchor + timedelta(days=p.days_after)
    if start <= value <= end:
        return []
    return [f"the {ctx.label(p.field)} {value} is outside the {p.window} {start} to {end}"]


class EqualsParams(Params):
    field: StrictStr
    value: StrictStr


@guard("equals", EqualsParams, form_fields=("field",))
def equals(ctx: GuardContext, p: EqualsParams) -> list[str]:
    value = ctx.data.get(p.field)
    if value == p.value:
        return []
    return [f"the {ctx.label(p.field)} must be {p.value!r} (it is {value!r})"]


class AnyRecordParams(Params):
    field: StrictStr
    where: dict[str, StrictStr]


@guard("any_record", AnyRecordParams, form_fields=("field",))
def any_record(ctx: GuardContext, p: AnyRecordParams) -> list[str]:
    records = ctx.data.get(p.field) or []
    if any(all(r.get(k) == v for k, v in p.where.items()) for r in records if isinstance(r, dict)):
        return []
    wanted = ", ".join(f"{k} {v}" for k, v in p.where.items())
    return [f"the {ctx.label(p.field)} list no one with {wanted}"]


class MinItemsParams(Params):
    field: StrictStr
    min: int = Field(default=1, ge=1)


@guard("min_items", MinItemsParams, form_fields=("field",))
def min_items(ctx: GuardContext, p: MinItemsParams) -> list[str]:
    if len(ctx.data.get(p.field) or []) >= p.min:
        return []
    return [f"the {ctx.label(p.field)} must list at least {p.min}"]


class NoParams(Params):
    pass


@guard("plan_exists", NoParams, uses_form=False)
def plan_exists(ctx: GuardContext, p: NoParams) -> list[str]:
    if int(ctx.case.get("plan_version") or 0) >= 1:
        return []
    return ["no Plan of Safe Care has been recorded for this case yet"]


class ConsentParams(Params):
    categories: list[Literal["status", "plan", "treatment"]] = Field(default_factory=list)


@guard("consent_active", ConsentParams, uses_form=False)
def consent_active(ctx: GuardContext, p: ConsentParams) -> list[str]:
    wanted = set(p.categories)
    if any(wanted <= c.categories for c in ctx.consents()):
        return []
    return ["there is no active consent on this case"]


class ConsentCoversParams(Params):
    organisations: list[StrictStr] = Field(min_length=1)
    categories: list[Literal["status", "plan", "treatment"]] = Field(default_factory=list)


@guard("consent_covers", ConsentCoversParams, case_fields=("organisations",), uses_form=False)
def consent_covers(ctx: GuardContext, p: ConsentCoversParams) -> list[str]:
    """Every organisation the case names in these case fields must be covered by one active consent."""
    consents = ctx.consents()
    wanted = set(p.categories)
    reasons = []
    for key in p.organisations:
        organisation = ctx.case.get(key)
        if not organisation:
            continue
        if not any(organisation in c.organisations and wanted <= c.categories for c in consents):
            reasons.append(f"no active consent covers {organisation} ({ctx.case_label(key)})")
    return reasons


class DeadlineParams(Params):
    deadline: StrictStr


@guard("deadline_met", DeadlineParams, uses_form=False)
def deadline_met(ctx: GuardContext, p: DeadlineParams) -> list[str]:
    if ctx.deadline_status(p.deadline) == "met":
        return []
    title = ctx.deadline_titles.get(p.deadline, p.deadline)
    return [f"the deadline '{title}' has not been met"]


class YearsApartParams(Params):
    field: StrictStr
    until: StrictStr
    min: int = Field(ge=0)
    max: int = Field(gt=0)
    #: What the span is, in words ("the parent's age on the identification date").
    what: StrictStr


@guard("years_apart", YearsApartParams, form_fields=("field", "until"))
def years_apart(ctx: GuardContext, p: YearsApartParams) -> list[str]:
    """Whole years from `field` to `until` (both form dates) must lie from `min` to `max` (a parent's age)."""
    start, end = ctx.date_of(ctx.data.get(p.field)), ctx.date_of(ctx.data.get(p.until))
    if start is None or end is None:
        return []
    years = end.year - start.year - ((end.month, end.day) < (start.month, start.day))
    if p.min <= years <= p.max:
        return []
    return [f"{p.what} would be {years} years (the {ctx.label(p.field)} {start}); it must be from {p.min} to {p.max}"]


class CaseHasParams(Params):
    key: StrictStr


@guard("case_has", CaseHasParams, case_fields=("key",), uses_form=False)
def case_has(ctx: GuardContext, p: CaseHasParams) -> list[str]:
    """The case must already hold this value (an admission before treatment progress); give a `reason`."""
    return [] if ctx.case.get(p.key) not in (None, "") else [f"the case has no {ctx.case_label(p.key)} yet"]


class PartiesParams(Params):
    parties: list[StrictStr] = Field(min_length=1)


@guard("actor_is_party", PartiesParams, uses_form=False)
def actor_is_party(ctx: GuardContext, p: PartiesParams) -> list[str]:
    """The acting organisation must play one of these parts on the case (`cps`: the lead office; `opened_by`)."""
    if any(ctx.parties.get(party) == ctx.actor_organisation for party in p.parties):
        return []
    return [f"only the organisation that is {' or '.join(_PART.get(x, x) for x in p.parties)} may do this"]


_PART = {"cps": "the lead CPS office", "opened_by": "the one that identified the parent",
         "hospital": "the delivery hospital", "treatment": "the treating program"}


class ChangesParams(Params):
    #: Fields that say why, not what (a reason), and so change nothing on their own.
    ignore: list[StrictStr] = Field(default_factory=list)


@guard("changes_case", ChangesParams)
def changes_case(ctx: GuardContext, p: ChangesParams) -> list[str]:
    """A correction must change at least one value the case holds."""
    changed = [k for k, v in ctx.data.items() if k not in p.ignore and ctx.case.get(k) != v]
    if changed:
        return []
    return ["the correction changes nothing: every value given is what the case already holds"]
