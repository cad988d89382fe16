"""Plan documents, rendered from stored data with Jinja2 (one environment, autoescape on, StrictUndefined), so a
missing field fails loudly and rendering the same plan version twice gives the same bytes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from engine.definitions.compiled import CompiledWorkflow
from engine.disclosure import PLAN, TREATMENT, ordered, visible_fields
from engine.errors import Forbidden, NotFound


@cache
def environment() -> Environment:
    import forms

    folder = Path(forms.__file__).resolve().parent / "templates"
    return Environment(
        loader=FileSystemLoader(folder), autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )


def plan_of_safe_care(
    workflow: CompiledWorkflow, case: Mapping[Any, Any], plans: Sequence[Mapping[Any, Any]], tiers: set[str],
    version: int | None, lead_contact: Mapping[str, Any] | None,
) -> str:
    """The Plan of Safe Care (version `version`, default the latest) as HTML, at the reader's tiers."""
    if PLAN not in tiers:
        raise Forbidden("the plan of safe care is not disclosed to your organisation")
    if not plans:
        raise NotFound("no Plan of Safe Care has been recorded for this case yet")
    number = len(plans) if version is None else version
    if not 1 <= number <= len(plans):
        raise NotFound(f"this case has plan versions 1 to {len(plans)}, not {number}")
    event = plans[number - 1]
    action = workflow.actions[event["action"]]
    plan = visible_fields(action.form, event["data"], tiers)
    identification = visible_fields(workflow.open.form, case["data"], tiers)
    return environment().get_template("plan_of_safe_care.html").render(
        case_id=case["id"], version=number, versions=len(plans), recorded_at=event["occurred_at"],
        recorded_by=event["organisation"], action_title=action.title, plan=plan, person=identification,
        lead=lead_contact, tiers=ordered(tiers), treatment_withheld=TREATMENT not in tiers,
    )
