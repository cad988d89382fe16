"""Plan documents, rendered from stored data with Jinja2 (one environment, autoescape on, StrictUndefined), so a
missing field fails loudly and rendering the same plan version twice gives the same bytes, as HTML and as PDF.

Documents are tier-aware: a reader without a tier gets the document with those parts left out and a line saying
so, never an error halfway. Every document carries the 42 CFR Part 2 redisclosure notice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from engine.access import PLAN, STATUS, TREATMENT, Access
from engine.definitions.compiled import CompiledWorkflow
from engine.errors import Forbidden, NotFound
from engine.readmodels import Contact
from engine.views import current_identification

KINDS = ("plan-of-safe-care", "hospital-summary")


@cache
def environment() -> Environment:
    import forms

    folder = Path(forms.__file__).resolve().parent / "templates"
    return Environment(
        loader=FileSystemLoader(folder), autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )


def _local_time(value: Any, tz: tzinfo) -> str:
    """An ISO date-time as a reader wants it: local to the jurisdiction, to the minute, with the zone's name. A
    stored value that cannot be read so (not ISO, or outside the calendar once local, as a time stored before forms
    refused it) is shown exactly as stored."""
    try:
        moment = datetime.fromisoformat(str(value)) if not isinstance(value, datetime) else value
        local = moment.astimezone(tz)
    except (ValueError, OverflowError):
        return str(value)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def party_tier(workflow: CompiledWorkflow, key: str) -> str:
    """The tier of the case value naming a party: the tier of the form field it was recorded from."""
    opening = workflow.open.form.spec
    field = opening.field(key)
    if field is not None:
        return opening.tier_of(field)
    for action in workflow.actions.values():
        source = action.record.get(key)
        found = action.form.spec.field(source) if source else None
        if found is not None:
            return action.form.spec.tier_of(found)
    return STATUS


def contacts(
    workflow: CompiledWorkflow, parties: Mapping[str, str], tiers: frozenset[str],
    directory: Mapping[str, Contact | None],
) -> list[tuple[str, Contact]]:
    """The case's parties the reader may know about, with their contact lines."""
    shown = []
    for role, key in workflow.spec.parties.items():
        organisation = parties.get(role)
        contact = directory.get(organisation) if organisation else None
        if contact is not None and party_tier(workflow, key) in tiers:
            shown.append((workflow.case_labels.get(key, role), contact))
    return shown


def render(
    kind: str, access: Access, case: Mapping[Any, Any], plans: Sequence[Mapping[Any, Any]],
    birth: Mapping[Any, Any] | None, version: int | None,
    directory: Mapping[str, Contact | None],
) -> str:
    """A case document as HTML: the Plan of Safe Care (version `version`, default the latest) or the one-page
    hospital summary for delivery, with only what the reader may see."""
    workflow, tiers = access.workflow, access.tiers
    plan_in_place = bool(plans)  # the status tier: whether a plan is in place, not what it says
    plans = [p for p in plans if access.sees_event(p["action"])]
    if birth is not None and not access.sees_event(birth["action"]):
        birth = None
    if kind not in KINDS:
        raise NotFound(f"no document {kind!r}; documents: {', '.join(KINDS)}")
    if kind == "plan-of-safe-care" and PLAN not in tiers:
        raise Forbidden("the Plan of Safe Care is not disclosed to your organisation")
    if kind == "plan-of-safe-care" and not plans:
        raise NotFound("no Plan of Safe Care has been recorded for this case yet")
    number = len(plans) if version is None else version
    if plans and not 1 <= number <= len(plans):
        raise NotFound(f"this case has plan versions 1 to {len(plans)}, not {number}")
    event = plans[number - 1] if plans else None
    action = workflow.actions[event["action"]] if event else None
    plan = access.fields(action.form, event["data"]) if event and action and PLAN in tiers else {}
    infant = {}
    if birth is not None and PLAN in tiers:
        infant = access.fields(workflow.actions[birth["action"]].form, birth["data"])
    if "born_at" in infant:
        infant["born_at"] = _local_time(infant["born_at"], workflow.timezone)
    recorded_by = directory.get(event["organisation"]) if event else None
    context = {
        "case_id": case["id"], "version": number if event else 0, "versions": len(plans),
        "recorded_at": event["occurred_at"] if event else case["opened_at"],
        "recorded_by": recorded_by.name if recorded_by else (event["organisation"] if event else ""),
        "action_title": action.title if action else "",
        "plan": plan, "plan_disclosed": PLAN in tiers, "infant": infant, "plan_in_place": plan_in_place,
        "person": access.fields(workflow.open.form, current_identification(workflow, case["data"], case["facts"])),
        "contacts": contacts(workflow, case["parties"], tiers, directory),
        "treatment_withheld": TREATMENT not in tiers,
    }
    template = "plan_of_safe_care.html" if kind == "plan-of-safe-care" else "hospital_summary.html"
    return environment().get_template(template).render(**context)


def to_pdf(html: str) -> bytes:
    """The same document as PDF (WeasyPrint). Its dates and identifier come from the document, so the same plan
    version gives the same pages and text every time; the embedded font subset's bytes can differ between renders
    (embedding whole fonts would make them identical at 1.4 MB a document instead of 24 KB)."""
    import hashlib

    from weasyprint import HTML

    identifier = hashlib.sha256(html.encode()).hexdigest()[:32].encode()
    pdf: bytes = HTML(string=html).write_pdf(pdf_identifier=identifier)
    return pdf
