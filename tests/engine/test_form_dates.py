"""Plausible dates at the form level: every date field of every form accepts 1900-01-01 to 2199-12-31 and every
date-time field the same once converted to UTC; a number is not a date; a time whose conversion to UTC overflows
is a field error, not a crash. A field may narrow the bounds (`earliest`, `latest`), and only a date field may."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import Cases, FixedClock, InvalidForm, load_catalogue
from engine.cases import CASES, DEADLINES, EVENTS
from engine.definitions import check_files
from engine.definitions.forms import EARLIEST_DATE, LATEST_DATE, CompiledForm, FieldSpec, FormSpec
from tests.factories import ACTORS, identification, opened
from tests.pathway import drive, open_case, take

_CATALOGUE = load_catalogue()


def _date_fields(spec_fields: list[FieldSpec], shown: str = "") -> list[tuple[str, str, FieldSpec]]:
    """(path to the field in a submission, path as errors name it, spec) of every date and date-time field,
    fields of lists of records included."""
    found = []
    for spec in spec_fields:
        if spec.type in ("date", "datetime"):
            found.append((shown + spec.id, shown + spec.id, spec))
        elif spec.type == "records":
            found += _date_fields(spec.fields or [], f"{shown}{spec.id}[0].")
    return found


DATE_FIELDS = [
    (form_id, path, spec)
    for form_id, form in sorted(_CATALOGUE.forms.items())
    for path, _, spec in _date_fields(form.spec.fields)
]


def _submission(path: str, value: Any) -> dict[str, Any]:
    """A submission holding only `value` at `path` (`services[0].target_date` as a list with one record)."""
    head, _, rest = path.partition("[0].")
    return {head: [_submission(rest, value)]} if rest else {head: value}


def _errors_at(form: CompiledForm, path: str, value: Any) -> list[str]:
    """What the form says about the field at `path` (other fields, left out, are only missing)."""
    try:
        form.validate(_submission(path, value))
    except InvalidForm as refused:
        return [e.message for e in refused.errors if e.field == path]
    return []


DATES = {
    0: "must be an ISO date (YYYY-MM-DD)",
    20261102: "must be an ISO date (YYYY-MM-DD)",
    True: "must be an ISO date (YYYY-MM-DD)",
    "1899-12-31": "must be on or after 1900-01-01",
    "0001-01-01": "must be on or after 1900-01-01",
    "2200-01-01": "must be on or before 2199-12-31",
    "9999-12-31": "must be on or before 2199-12-31",
}
DATETIMES = {
    0: "must be an ISO-8601 date and time with a UTC offset",
    1767225600: "must be an ISO-8601 date and time with a UTC offset",
    # Converting these to UTC overflows the calendar: a field error all the same.
    "0001-01-01T00:00:00+14:00": "must be on or after 1900-01-01 (in UTC)",
    "9999-12-31T23:59:59-14:00": "must be on or before 2199-12-31 (in UTC)",
    # Inside the bounds as entered, outside them in UTC.
    "1900-01-01T00:30:00+01:00": "must be on or after 1900-01-01 (in UTC)",
    "2199-12-31T23:30:00-01:00": "must be on or before 2199-12-31 (in UTC)",
    "1850-06-01T12:00:00+00:00": "must be on or after 1900-01-01 (in UTC)",
}


@pytest.mark.parametrize(("form_id", "path", "spec"), DATE_FIELDS, ids=[f"{f}.{p}" for f, p, _ in DATE_FIELDS])
def test_every_date_field_refuses_implausible_values(form_id: str, path: str, spec: FieldSpec) -> None:
    form = _CATALOGUE.forms[form_id]
    refusals = DATES if spec.type == "date" else DATETIMES
    for value, message in refusals.items():
        assert _errors_at(form, path, value) == [message], (value, message)
    inside = (["1900-01-01", "2199-12-31"] if spec.type == "date"
              else ["1900-01-01T00:00:00+00:00", "1900-01-01T09:00:00+09:00", "2199-12-31T23:59:59+00:00",
                    "2199-12-31T10:00:00-13:00"])
    for value in inside:
        assert _errors_at(form, path, value) == [], value


def test_the_shipped_forms_have_date_fields_of_both_kinds() -> None:
    kinds = {spec.type for _, _, spec in DATE_FIELDS}
    assert kinds == {"date", "datetime"} and len(DATE_FIELDS) >= 20
    assert ("plan_of_safe_care", "infant_services[0].target_date") in {(f, p) for f, p, _ in DATE_FIELDS}


def _snapshot(cases: Cases) -> dict[str, Any]:
    with cases.db.read() as conn:
        return {
            "cases": [dict(r) for r in conn.execute(select(CASES).order_by(CASES.c.id)).mappings()],
            "events": conn.execute(select(func.count()).select_from(EVENTS)).scalar(),
            "deadlines": conn.execute(select(func.count()).select_from(DEADLINES)).scalar(),
        }


def test_opening_with_an_implausible_date_of_birth_changes_nothing(cases: Cases, clock: FixedClock) -> None:
    today = clock.now().date()
    for value, message in [(0, "must be an ISO date (YYYY-MM-DD)"), ("9999-01-01", "must be on or before 2199-12-31"),
                           ("1066-10-14", "must be on or after 1900-01-01")]:
        with pytest.raises(InvalidForm) as refused:
            opened(cases, ACTORS["prenatal"], "charm-posc", identification(today, date_of_birth=value))
        assert [(e.field, e.message) for e in refused.value.errors] == [("date_of_birth", message)]
    assert _snapshot(cases) == {"cases": [], "events": 0, "deadlines": 0}


def test_a_birth_time_that_overflows_in_utc_is_refused_and_changes_nothing(cases: Cases, clock: FixedClock) -> None:
    case = drive(cases, clock, open_case(cases, clock), "identified")
    before = _snapshot(cases)
    with pytest.raises(InvalidForm) as refused:
        take(cases, clock, case, "record_birth", born_at="0001-01-01T00:00:00+14:00")
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("born_at", "must be on or after 1900-01-01 (in UTC)")
    ]
    assert _snapshot(cases) == before


# --- narrowing the bounds in a form definition ----------------------------------------------------------------


def _form(**keys: Any) -> CompiledForm:
    return CompiledForm(FormSpec.model_validate({
        "id": "visit", "title": "Visit", "fields": [
            {"id": "visited_on", "label": "Visit date", "type": "date", **keys},
            {"id": "visited_at", "label": "Visit time", "type": "datetime", **keys},
        ],
    }))


def test_a_field_may_narrow_the_bounds() -> None:
    form = _form(earliest="2020-01-01", latest="2029-12-31")
    assert form.validate({"visited_on": "2020-01-01", "visited_at": "2029-12-31T23:00:00+00:00"}) == {
        "visited_on": "2020-01-01", "visited_at": "2029-12-31T23:00:00Z",
    }
    with pytest.raises(InvalidForm) as refused:
        form.validate({"visited_on": "2019-12-31", "visited_at": "2029-12-31T23:00:00-05:00"})
    assert {(e.field, e.message) for e in refused.value.errors} == {
        ("visited_on", "must be on or after 2020-01-01"),
        ("visited_at", "must be on or before 2029-12-31 (in UTC)"),
    }
    only_earliest = _form(earliest="2020-01-01")  # the other bound stays the plausible one
    with pytest.raises(InvalidForm, match="must be on or before 2199-12-31"):
        only_earliest.validate({"visited_on": "2200-01-01", "visited_at": "2020-01-01T00:00:00+00:00"})


@pytest.mark.parametrize(("keys", "message"), [
    ({"earliest": "1899-12-31"}, "1899-12-31 is outside the dates any form accepts (1900-01-01 to 2199-12-31)"),
    ({"latest": "2200-01-01"}, "2200-01-01 is outside the dates any form accepts (1900-01-01 to 2199-12-31)"),
    ({"earliest": "2030-01-01", "latest": "2029-12-31"}, "`earliest` is after `latest`"),
    ({"earliest": "2027-02-30"}, "'2027-02-30' is not a real calendar date"),
    ({"earliest": "soon"}, "must be an ISO date (YYYY-MM-DD)"),
    ({"latest": 0}, "must be an ISO date (YYYY-MM-DD)"),
])
def test_bounds_a_field_may_not_have(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _form(**keys)
    assert EARLIEST_DATE.isoformat() == "1900-01-01" and LATEST_DATE.isoformat() == "2199-12-31"


@pytest.mark.parametrize("kind", ["text", "number", "yes_no"])
def test_bounds_apply_only_to_date_fields(kind: str) -> None:
    with pytest.raises(ValueError, match=f"`earliest` and `latest` apply only to date and datetime fields, not {kind}"):
        FieldSpec.model_validate({"id": "x", "label": "X", "type": kind, "latest": "2030-01-01"})


def test_bounds_in_a_form_file_are_checked_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "visit.yaml"
    path.write_text(
        "id: visit\ntitle: Visit\nfields:\n"
        "  - id: visited_on\n    label: Visit date\n    type: date\n    earliest: 2020-01-01\n    latest: 2029-12-31\n"
        "  - id: reason\n    label: Reason\n    type: text\n    earliest: 2020-01-01\n",
        encoding="utf-8",
    )
    reports, _ = check_files([path])
    assert [p for r in reports for p in r.problems] == [
        f"{path}:9: fields.1: `earliest` and `latest` apply only to date and datetime fields, not text"
    ]
    path.write_text(path.read_text(encoding="utf-8").replace("latest: 2029-12-31", "latest: 2029-02-30"),
                    encoding="utf-8")
    reports, _ = check_files([path])
    assert [p for r in reports for p in r.problems] == [
        f"{path}:8: malformed YAML: '2029-02-30' is not a real calendar date (day is out of range for month)"
    ]
