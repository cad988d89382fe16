"""The hospital lookup at delivery: is there a plan for this parent?"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from api.deps import ServicesDep
from api.web.rendering import can_open_at_delivery, render
from api.web.session import PREFIX, SignedIn, check_csrf

router = APIRouter(prefix=PREFIX, include_in_schema=False, default_response_class=HTMLResponse)


# --- hospital lookup ---


@router.get("/lookup")
def lookup_page(request: Request, svc: ServicesDep, session: SignedIn) -> HTMLResponse:
    svc.queries.check_may_look_up(session.user.actor)
    return render(request, "lookup.html", session, matches=None, values={}, errors={})


@router.post("/lookup")
def lookup(
    request: Request, svc: ServicesDep, session: SignedIn,
    last_name: Annotated[str, Form(max_length=100)] = "", date_of_birth: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> HTMLResponse:
    check_csrf(request, session, csrf_token)
    svc.queries.check_may_look_up(session.user.actor)
    values = {"last_name": last_name.strip(), "date_of_birth": date_of_birth.strip()}
    errors: dict[str, str] = {}
    if not values["last_name"]:
        errors["last_name"] = "Enter the parent's last name."
    born: date | None = None
    try:
        born = date.fromisoformat(values["date_of_birth"])
    except ValueError:
        errors["date_of_birth"] = "Enter the parent's date of birth as a date (YYYY-MM-DD)."
    if errors or born is None:
        return render(request, "lookup.html", session, status=422, matches=None, values=values, errors=errors)
    limit = svc.lookups.check(svc.db, session.user.id, svc.clock.now())
    matches = svc.queries.lookup(session.user.actor, values["last_name"], born, with_access=True)
    page = render(request, "lookup.html", session, matches=matches, values=values, errors={},
                  can_open_at_delivery=can_open_at_delivery(svc, session.user))
    page.headers.update(limit)
    return page
