"""Drawing a page: the templates, the context every page gets, the menu, and the pieces the page modules share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, Undefined, select_autoescape
from jinja2.utils import missing

from api.services import Services
from api.web import present
from api.web.session import PREFIX, check_csrf, form_proof
from api.web.widgets import local_input
from engine import UserRecord, WebSessionRecord


class _NamesStrict(Undefined):
    """A variable the handler did not give is an error (as with `StrictUndefined`), not an empty string that hides
    a bug; a key missing from a mapping that was given (`errors.last_name` with no such error) reads as empty."""

    __slots__ = ()

    def _given(self) -> None:
        if self._undefined_obj is missing:
            self._fail_with_undefined_error()

    def __str__(self) -> str:
        self._given()
        return ""

    def __bool__(self) -> bool:
        self._given()
        return False

    def __iter__(self) -> Iterator[Any]:
        self._given()
        return iter(())

    def __len__(self) -> int:
        self._given()
        return 0

    def __eq__(self, other: object) -> bool:
        self._given()
        return type(self) is type(other)

    __hash__ = Undefined.__hash__


TEMPLATES = Jinja2Templates(env=Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"]),
    undefined=_NamesStrict,
))
TEMPLATES.env.globals.update(label=present.choice_label, day=present.day, local_input=local_input)
#: The pages each role starts on.
HOME = {"hospital": "lookup", "analyst": "reports", "admin": "workflows"}
#: The opening variant the lookup offers when no plan is found (PATHWAY, "Identification at birth").
BIRTH_VARIANT = "birth"


#: What a template may be drawn without (everything else it uses must be given).
OPTIONAL: dict[str, dict[str, Any]] = {
    "action.html": {"cancel": None, "description": None, "sections": None},
    "lookup.html": {"can_open_at_delivery": False},
    "error.html": {"back": None, "reasons": []},
}


def render(
    request: Request, template: str, session: WebSessionRecord | None, status: int = 200, **context: Any
) -> HTMLResponse:
    svc: Services = request.app.state.services
    zone = zone_of(svc)
    user = session.user if session else None
    response = TEMPLATES.TemplateResponse(request, template, {
        "user": user, "csrf": session.csrf_token if session else "", "nav": nav_items(svc, user), "prefix": PREFIX,
        "form_proof": form_proof(request, user.id) if user else "",
        "when": lambda v: present.when(v, zone), "now": svc.clock.now(),
        "relative": lambda v: present.relative(v, svc.clock.now()), **OPTIONAL.get(template, {}), **context,
    }, status_code=status)
    return response


def case_id_of(request: Request) -> str:
    case_id = str(request.path_params["case_id"])
    if len(case_id) > 32:
        raise HTTPException(404, "no such case")
    return case_id


async def posted_fields(request: Request, session: WebSessionRecord) -> list[tuple[str, str]]:
    form = await request.form(max_files=0, max_fields=2000)
    posted = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    check_csrf(request, session, dict(posted).get("csrf_token", ""))
    return posted


def zone_of(svc: Services) -> ZoneInfo:
    return svc.catalogue.latest()[0].timezone


def home_of(user: UserRecord) -> str:
    return f"{PREFIX}/{HOME.get(user.role, 'worklist')}"


def can_open(svc: Services, user: UserRecord) -> bool:
    return svc.catalogue.abilities(user.role).open_case


def can_open_at_delivery(svc: Services, user: UserRecord) -> bool:
    return BIRTH_VARIANT in svc.catalogue.abilities(user.role).ways_in


def nav_items(svc: Services, user: UserRecord | None) -> list[tuple[str, str]]:
    """The menu: what the engine says the person's role may do."""
    if user is None:
        return []
    may = svc.catalogue.abilities(user.role)
    items: list[tuple[str, str]] = []
    if may.look_up:
        items.append(("lookup", "Lookup"))
    if may.work_on_cases:
        items += [("worklist", "Worklist"), ("cases", "Cases")]
    if may.open_case:
        items.append(("cases/new", "Open a case"))
    if BIRTH_VARIANT in may.ways_in:
        items.append(("cases/new/at-delivery", "Open at delivery"))
    items.append(("workflows", "Pathway"))
    items.append(("features", "Specifications"))
    if may.read_figures:
        items.append(("reports", "Figures"))
    return items
