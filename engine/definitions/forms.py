"""Form definitions (`forms/*.yaml`): their schema, and their compilation into pydantic validators.

A form is data: fields with a type, whether they are required, allowed values, help text and a disclosure tier.
Each form compiles once into a pydantic model; validating a submission returns clean JSON-ready data or the list
of fields that are wrong and why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from engine.errors import FieldError, InvalidForm

Tier = Literal["status", "plan", "treatment"]
TIERS: tuple[Tier, ...] = ("status", "plan", "treatment")
FieldType = Literal[
    "text", "date", "datetime", "number", "yes_no", "choice", "multi_choice", "organisation", "records"
]
ORGANISATION_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
#: What an organisation is (set when it is created, never changed): `state` is the analysts' office.
OrganisationKind = Literal["cps", "treatment", "hospital", "prenatal", "peer", "state", "admin"]
ORGANISATION_KINDS: tuple[OrganisationKind, ...] = get_args(OrganisationKind)
#: The kinds of organisation that take part in cases (the others are `state` and `admin`).
PARTY_KINDS: tuple[OrganisationKind, ...] = ("cps", "treatment", "hospital", "prenatal", "peer")
_IDENT = r"^[a-z][a-z0-9_]*$"
#: The plausible bounds of every date a form accepts, and of every date-time once converted to UTC: no value the
#: pathway records (a birth, a parent's date of birth, a due date, a meeting) falls outside them, and every value
#: inside them can be converted to any time zone. A field may narrow them (`earliest`, `latest`), never widen them.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)


class FieldSpec(BaseModel):
    """One field of a form, as declared in YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=_IDENT)]
    label: StrictStr
    type: FieldType
    required: bool = True
    tier: Tier | None = None
    help: StrictStr = ""
    identifying: bool = False
    choices: list[StrictStr] | None = None
    min: float | None = None
    max: float | None = None
    integer: bool = False
    max_length: Annotated[int, Field(gt=0, le=100_000)] | None = None
    multiline: bool = False
    many: bool = False
    min_items: Annotated[int, Field(ge=0)] | None = None
    max_items: Annotated[int, Field(ge=1)] | None = None
    fields: list[FieldSpec] | None = None
    #: The organisation kinds an organisation field accepts (required on every organisation field).
    kinds: list[StrictStr] | None = None
    #: The first and last date a date field accepts (a date-time field: its date in UTC), within the plausible
    #: bounds every form keeps (1900-01-01 to 2199-12-31). ISO dates.
    earliest: date | None = None
    latest: date | None = None

    @field_validator("earliest", "latest", mode="before")
    @classmethod
    def _a_plausible_date(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a real calendar date") from None
        if not isinstance(value, date) or isinstance(value, datetime):
            raise ValueError("must be an ISO date (YYYY-MM-DD)")
        if not EARLIEST_DATE <= value <= LATEST_DATE:
            raise ValueError(
                f"{value.isoformat()} is outside the dates any form accepts ({EARLIEST_DATE} to {LATEST_DATE})"
            )
        return value

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str] | None) -> list[str] | None:
        if kinds is None:
            return None
        if not kinds:
            raise ValueError(f"`kinds` must name at least one organisation kind ({', '.join(ORGANISATION_KINDS)})")
        for kind in kinds:
            if kind not in ORGANISATION_KINDS:
                raise ValueError(f"unknown organisation kind {kind!r} (kinds: {', '.join(ORGANISATION_KINDS)})")
        if len(set(kinds)) != len(kinds):
            raise ValueError("`kinds` has duplicate values")
        return kinds

    @model_validator(mode="after")
    def _keys_fit_the_type(self) -> FieldSpec:
        kind = self.type
        if kind in ("choice", "multi_choice"):
            if not self.choices:
                raise ValueError(f"a {kind} field needs a non-empty `choices` list")
            if len(set(self.choices)) != len(self.choices):
                raise ValueError("`choices` has duplicate values")
        elif self.choices is not None:
            raise ValueError(f"`choices` applies only to choice and multi_choice fields, not {kind}")
        if kind == "records" and not self.fields:
            raise ValueError("a records field needs a non-empty `fields` list")
        if kind != "records" and self.fields is not None:
            raise ValueError(f"`fields` applies only to records fields, not {kind}")
        if kind != "number" and (self.min is not None or self.max is not None or self.integer):
            raise ValueError(f"`min`, `max` and `integer` apply only to number fields, not {kind}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("`min` is greater than `max`")
        if kind not in ("date", "datetime") and (self.earliest is not None or self.latest is not None):
            raise ValueError(f"`earliest` and `latest` apply only to date and datetime fields, not {kind}")
        if self.earliest is not None and self.latest is not None and self.earliest > self.latest:
            raise ValueError("`earliest` is after `latest`")
        if kind != "text" and (self.max_length is not None or self.multiline):
            raise ValueError(f"`max_length` and `multiline` apply only to text fields, not {kind}")
        if self.many and kind != "organisation":
            raise ValueError("`many` applies only to organisation fields")
        if kind == "organisation" and self.kinds is None:
            known = ", ".join(ORGANISATION_KINDS)
            raise ValueError(f"an organisation field needs `kinds`: the organisation kinds it accepts ({known})")
        if kind != "organisation" and self.kinds is not None:
            raise ValueError(f"`kinds` applies only to organisation fields, not {kind}")
        listy = kind in ("multi_choice", "records") or self.many
        if not listy and (self.min_items is not None or self.max_items is not None):
            raise ValueError("`min_items` and `max_items` apply only to lists")
        if self.fields is not None:
            ids = [f.id for f in self.fields]
            if len(set(ids)) != len(ids):
                raise ValueError("record fields have duplicate ids")
        return self

    def is_organisation(self) -> bool:
        return self.type == "organisation"


class FormSpec(BaseModel):
    """A form, as declared in `forms/<id>.yaml`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=_IDENT)]
    title: StrictStr
    description: StrictStr = ""
    tier: Tier = "status"
    fields: Annotated[list[FieldSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_ids(self) -> FormSpec:
        ids = [f.id for f in self.fields]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate field ids: {', '.join(duplicates)}")
        return self

    def field(self, field_id: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.id == field_id), None)

    def tier_of(self, field_spec: FieldSpec) -> Tier:
        return field_spec.tier or self.tier


# --- value types ---------------------------------------------------------------------------------------------


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise PydanticCustomError("iso_date", "must be an ISO date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("iso_date", "is not a real calendar date") from None


def _iso_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*", value):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("iso_datetime", "is not a real date and time") from None
    else:
        raise PydanticCustomError("iso_datetime", "must be an ISO-8601 date and time with a UTC offset")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise PydanticCustomError("iso_datetime", "must include a UTC offset (for example +00:00)")
    return parsed


def _within(spec: FieldSpec) -> Callable[[Any], Any]:
    """The check that a valid date, or date-time (in UTC), falls within the field's bounds: the plausible ones
    (`EARLIEST_DATE`, `LATEST_DATE`) unless the field narrows them."""
    earliest, latest = spec.earliest or EARLIEST_DATE, spec.latest or LATEST_DATE
    zone = " (in UTC)" if spec.type == "datetime" else ""

    def check(value: Any) -> Any:
        if isinstance(value, datetime):
            try:
                day = value.astimezone(UTC).date()
            except OverflowError:  # before 0001-01-01 or after 9999-12-31 once in UTC: far outside either bound
                day = date.min if value.year == date.min.year else date.max
        else:
            day = value
        if day < earliest:
            raise PydanticCustomError("date_too_early", f"must be on or after {earliest.isoformat()}{zone}")
        if day > latest:
            raise PydanticCustomError("date_too_late", f"must be on or before {latest.isoformat()}{zone}")
        return value

    return check


def _organisation(value: Any) -> Any:
    if not isinstance(value, str) or not ORGANISATION_ID.fullmatch(value):
        raise PydanticCustomError(
            "organisation_id", "must be an organisation id (lowercase letters, digits and hyphens)"
        )
    return value


def _distinct(values: Any) -> Any:
    if isinstance(values, list) and len(values) != len(set(map(str, values))):
        raise PydanticCustomError("distinct", "must not repeat a value")
    return values


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_datetime)]
OrganisationId = Annotated[str, BeforeValidator(_organisation)]


def _value_type(spec: FieldSpec, form_id: str) -> Any:
    kind = spec.type
    if kind == "text":
        return Annotated[
            StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=spec.max_length or 2000)
        ]
    if kind == "date":
        return Annotated[IsoDate, AfterValidator(_within(spec))]
    if kind == "datetime":
        return Annotated[IsoDateTime, AfterValidator(_within(spec))]
    if kind == "number":
        base: Any = StrictInt if spec.integer else StrictInt | StrictFloat
        return Annotated[base, Field(ge=spec.min, le=spec.max)]
    if kind == "yes_no":
        return Literal["yes", "no"]
    choice: Any = Literal.__getitem__(tuple(spec.choices or ()))  # built from data, so not a static type
    if kind == "choice":
        return choice
    bounds = Field(
        min_length=spec.min_items if spec.min_items is not None else (1 if spec.required else None),
        max_length=spec.max_items,
    )
    if kind == "multi_choice":
        return Annotated[list[choice], BeforeValidator(_distinct), bounds]
    if kind == "organisation":
        if spec.many:
            return Annotated[list[OrganisationId], BeforeValidator(_distinct), bounds]
        return OrganisationId
    record: Any = compile_model(f"{form_id}.{spec.id}", spec.fields or [], form_id)
    return Annotated[list[record], bounds]


def compile_model(name: str, fields: list[FieldSpec], form_id: str) -> type[BaseModel]:
    definitions: dict[str, Any] = {}
    for spec in fields:
        value_type = _value_type(spec, form_id)
        definitions[spec.id] = (value_type, ...) if spec.required else (value_type | None, None)
    model: type[BaseModel] = create_model(
        name.replace(".", "__"), __config__=ConfigDict(extra="forbid"), **definitions
    )
    return model


class CompiledForm:
    """A form ready to validate submissions; built once per form at start-up."""

    def __init__(self, spec: FormSpec) -> None:
        self.spec = spec
        self.id = spec.id
        self.model = compile_model(spec.id, spec.fields, spec.id)
        #: Where organisation ids sit in the data, and the organisation kinds each place accepts.
        self.organisation_fields = _organisation_fields(spec.fields, ())
        self.organisation_paths = [path for path, _ in self.organisation_fields]

    def validate(self, data: Any) -> dict[str, Any]:
        """Returns the submission as JSON-ready data (optional fields left out when absent), or raises
        `InvalidForm` naming every field that is wrong."""
        if not isinstance(data, dict):
            raise InvalidForm(self.id, [FieldError("data", "must be an object of form fields")])
        try:
            parsed = self.model.model_validate(data)
        except ValidationError as exc:
            raise InvalidForm(self.id, [_field_error(e) for e in exc.errors(include_url=False)]) from None
        clean: dict[str, Any] = parsed.model_dump(mode="json", exclude_none=True)
        controls = list(_control_characters(clean, ()))
        if controls:
            raise InvalidForm(self.id, [
                FieldError(path, "must not contain control characters (such as NUL); tabs and line breaks are fine")
                for path in controls
            ])
        return clean

    def organisations(self, clean: dict[str, Any]) -> list[tuple[str, str]]:
        """Every (field path, organisation id) in validated data, for the existence check."""
        return [(shown, org) for shown, org, _ in self.organisations_with_kinds(clean)]

    def organisations_with_kinds(self, clean: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
        """Every (field path, organisation id, kinds the field accepts) in validated data, for the check that each
        named organisation exists and is of a kind its field accepts."""
        found: list[tuple[str, str, tuple[str, ...]]] = []
        for path, kinds in self.organisation_fields:
            named: list[tuple[str, str]] = []
            _collect(clean, path, "", named)
            found.extend((shown, org, kinds) for shown, org in named)
        return found

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of the form, annotated with labels, help and tiers (for `GET /forms/{form}`)."""
        schema = self.model.model_json_schema()
        schema["title"] = self.spec.title
        schema["description"] = self.spec.description
        properties = schema.get("properties", {})
        for spec in self.spec.fields:
            prop = properties.get(spec.id, {})
            prop["title"] = spec.label
            if spec.help:
                prop["description"] = spec.help
            prop["x-tier"] = self.spec.tier_of(spec)
            prop["x-type"] = spec.type
            if spec.identifying:
                prop["x-identifying"] = True
            _annotate_kinds(schema, prop, spec, self.id)
        return schema


def _annotate_kinds(schema: dict[str, Any], prop: dict[str, Any], spec: FieldSpec, form_id: str) -> None:
    """`x-organisation-kinds` on each organisation field, those inside lists of records included (a record's
    model is named after its form and field, as `compile_model` names it)."""
    if spec.type == "organisation":
        prop["x-organisation-kinds"] = list(spec.kinds or [])
    elif spec.type == "records":
        name = f"{form_id}.{spec.id}".replace(".", "__")
        record = schema.get("$defs", {}).get(name, {}).get("properties", {})
        for sub in spec.fields or []:
            if sub.id in record:
                _annotate_kinds(schema, record[sub.id], sub, form_id)


def _organisation_fields(
    fields: list[FieldSpec], prefix: tuple[str, ...]
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    found: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    for spec in fields:
        if spec.type == "organisation":
            found.append(((*prefix, spec.id), tuple(spec.kinds or ())))
        elif spec.type == "records":
            found.extend(_organisation_fields(spec.fields or [], (*prefix, spec.id)))
    return found


def _collect(value: Any, path: tuple[str, ...], shown: str, found: list[tuple[str, str]]) -> None:
    if isinstance(value, list):
        for index, item in enumerate(value):
            _collect(item, path, f"{shown}[{index}]", found)
        return
    if not path:
        if isinstance(value, str):
            found.append((shown, value))
        return
    if isinstance(value, dict) and path[0] in value:
        head = f"{shown}.{path[0]}" if shown else path[0]
        _collect(value[path[0]], path[1:], head, found)


def field_path(loc: tuple[Any, ...]) -> str:
    shown = ""
    for part in loc:
        if isinstance(part, int):
            shown += f"[{part}]"
        elif isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue
        else:
            shown += f".{part}" if shown else str(part)
    return shown or "data"


_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this form",
    "string_type": "must be text",
    "string_too_short": "must not be empty",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "model_type": "must be an object",
    "dict_type": "must be an object",
}


def _field_error(error: Any) -> FieldError:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in _MESSAGES:
        message = _MESSAGES[kind]
    elif kind == "literal_error":
        message = f"must be one of {ctx.get('expected', 'the allowed values')}"
    elif kind == "string_too_long":
        message = f"must be at most {ctx.get('max_length')} characters"
    elif kind == "too_short":
        message = f"must have at least {ctx.get('min_length')} item(s)"
    elif kind == "too_long":
        message = f"must have at most {ctx.get('max_length')} item(s)"
    elif kind in ("greater_than_equal", "less_than_equal"):
        bound = ctx.get("ge", ctx.get("le"))
        message = f"must be at {'least' if kind == 'greater_than_equal' else 'most'} {bound}"
    elif kind.startswith(("int_", "float_")):
        message = "must be a number"
    else:
        message = str(error["msg"])
    return FieldError(field_path(tuple(error["loc"])), message)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _control_characters(value: Any, loc: tuple[str | int, ...]) -> Iterator[str]:
    """The path of every text value holding a control character other than tab and line breaks: the database may
    refuse it (PostgreSQL refuses NUL in text), and no form field means one."""
    if isinstance(value, str):
        if _CONTROL.search(value):
            yield field_path(loc) if loc else "data"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _control_characters(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _control_characters(item, (*loc, index))
