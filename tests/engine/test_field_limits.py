"""Every text field's limit is one the database holds: along the whole plan route, each step's text fields filled
to their limit (the form's `max_length`, or the 2,000 characters every text field gets) with characters beyond
ASCII are stored and read back unchanged, on SQLite and PostgreSQL; one character more is refused, naming the field,
and an action so refused stores nothing."""

from __future__ import annotations

from typing import Any

import pytest

from engine import Cases, FixedClock, InvalidForm, load_catalogue
from engine.definitions.forms import CompiledForm, FieldSpec
from tests.factories import ACTION_ROLE, ACTORS, action_data
from tests.pathway import due_date, open_case

ROUTE = ["record_consent", "admit_to_treatment", "schedule_planning_meeting", "record_planning_meeting",
         "record_birth", "notify_cps", "discharge", "close_case"]
DEFAULT_LIMIT = 2000
#: Fields whose text has a shape of its own (checked by their own rules), left as the factories fill them.
SHAPED = {"phone"}


def free_text(spec: FieldSpec) -> bool:
    return spec.type == "text" and not spec.choices and spec.id not in SHAPED


def at_limit(fields: list[FieldSpec], data: dict[str, Any], extra: int = 0) -> dict[str, Any]:
    """`data` with every free-text field (in lists of records too) filled to its limit, plus `extra` characters."""
    filled = dict(data)
    for spec in fields:
        if spec.fields and isinstance(filled.get(spec.id), list):
            filled[spec.id] = [at_limit(spec.fields, item, extra) for item in filled[spec.id]]
        elif free_text(spec) and not spec.many:
            limit = (spec.max_length or DEFAULT_LIMIT) + extra
            filled[spec.id] = ("Zoë Łukasz 字" * limit)[:limit]
    return filled


def fields_of(cases: Cases, action: str) -> CompiledForm:
    return cases.catalogue.workflow("charm-posc").actions[action].form


def test_every_text_field_holds_its_limit_along_the_route(cases: Cases, clock: FixedClock) -> None:
    case = open_case(cases, clock, first_name=("Zoë" * 40)[:100], last_name=("Łukasz" * 20)[:100])
    for action in ROUTE:
        form = fields_of(cases, action)
        data = at_limit(form.spec.fields, action_data(action, clock.now(), due_date(case)))
        done = cases.act(ACTORS[ACTION_ROLE[action]], case.id, action, data)
        assert done.case.version == case.version + 1, action
        stored = cases.history(case.id)[-1].data
        for spec in form.spec.fields:
            if free_text(spec) and not spec.many and spec.id in data:
                assert stored[spec.id] == data[spec.id].strip(), (action, spec.id)
        case = cases.get(case.id)
    assert case.state == "closed" and cases.verify(case.id) == []


def with_free_text() -> list[str]:
    """The route's actions whose forms have a free-text field (the others have nothing to overfill)."""
    workflow = load_catalogue().workflow("charm-posc")
    return [a for a in ROUTE if any(
        (free_text(s) and not s.many) or any(free_text(sub) and not sub.many for sub in s.fields or [])
        for s in workflow.actions[a].form.spec.fields)]


@pytest.mark.parametrize("action", with_free_text())
def test_one_character_over_a_limit_is_refused_naming_the_field(
    cases: Cases, clock: FixedClock, action: str
) -> None:
    case = open_case(cases, clock)
    form = fields_of(cases, action)
    over = at_limit(form.spec.fields, action_data(action, clock.now(), due_date(case)), extra=1)
    texts = [s.id for s in form.spec.fields if free_text(s) and not s.many and s.id in over]
    nested = [s.id for s in form.spec.fields if s.fields and isinstance(over.get(s.id), list) and over[s.id]
              and any(free_text(sub) and not sub.many for sub in s.fields)]
    assert texts or nested
    with pytest.raises(InvalidForm) as refused:
        form.validate(over)
    named = {e.field.split(".")[0].split("[")[0] for e in refused.value.errors}
    assert named == set(texts) | set(nested), refused.value.errors
    assert all("at most" in e.message for e in refused.value.errors)


def test_an_action_over_a_limit_stores_nothing(cases: Cases, clock: FixedClock) -> None:
    case = open_case(cases, clock)
    over = at_limit(fields_of(cases, "record_consent").spec.fields,
                    action_data("record_consent", clock.now(), due_date(case)), extra=1)
    with pytest.raises(InvalidForm):
        cases.act(ACTORS["prenatal"], case.id, "record_consent", over)
    assert cases.get(case.id).version == case.version and len(cases.history(case.id)) == 1
