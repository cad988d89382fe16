"""Steps that set up who takes part: more users and organisations, from a table, beside the standard ones."""

from __future__ import annotations

import re

from pytest_bdd import given, parsers

from engine import InvalidForm, ensure_organisation
from engine.users import add_user
from tests.factories import ROLE_ORGANISATION
from tests.steps.world import WHO, World

#: The roles a user may have, and the words for them a table may use instead (`cps worker`).
ROLE_WORDS = {**{r: r for r in ("cps", "treatment", "peer", "prenatal", "hospital", "analyst", "admin")},
              **{w: r for w, r in WHO.items() if r in ROLE_ORGANISATION or r in ("analyst", "admin")}}
_STANDARD = {"analyst": "state-analytics", "admin": "posc-admin"}


#: Other words a table's header may use for a column.
_COLUMNS = {"user": "name", "person": "name", "organization": "organisation", "org": "organisation",
            "organisation id": "id", "org_id": "id"}


def slug(name: str) -> str:
    """An organisation's id from its name, when a table gives only the name (`St. Anne's`: `st-annes`)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower().replace("'", "")).strip("-")[:64]


def _rows(datatable: list[list[str]], needed: set[str], allowed: set[str]) -> list[dict[str, str]]:
    header = [_COLUMNS.get(h.strip().lower(), h.strip().lower()) for h in datatable[0]]
    missing, unknown = needed - set(header), set(header) - needed - allowed
    if missing or unknown:
        raise AssertionError(f"the table's columns are {' | '.join(sorted(needed))} (and optionally "
                             f"{' | '.join(sorted(allowed))}); " + (f"missing {', '.join(sorted(missing))}"
                             if missing else f"unknown {', '.join(sorted(unknown))}"))
    return [{h: c.strip() for h, c in zip(header, row, strict=False)} for row in datatable[1:]]


@given(parsers.re(r"(?i)(?:these|the following) (?:organisations|organizations)(?: take part(?: in the pathway)?"
                  r"| join the network)?:$"))
@given(parsers.re(r"(?i)(?:another|a second) (?:cps office|hospital|treatment provider|organisation|organization)"
                  r" joins the network:$"))
def organisations(world: World, datatable: list[list[str]]) -> None:
    """Given these organisations: | id | name | kind | / | harbor-cps | Harbor County CPS | cps |

    Given the following organisations take part in the pathway: | organisation | kind | / | Riverside CPS | cps |

    Given another hospital joins the network: | organisation | kind | / | Mercy General | hospital |
    (kinds: cps, treatment, peer, prenatal, hospital, state, admin; without an id, one is made from the name:
    `mercy-general`). A form field naming an organisation takes its id."""
    services = world.api.client.app.state.services  # type: ignore[attr-defined]
    for row in _rows([[{"organisation": "name"}.get(h.strip().lower(), h) for h in datatable[0]], *datatable[1:]],
                     {"name", "kind"}, {"contact", "id"}):
        org_id = row.get("id") or slug(row["name"])
        try:
            ensure_organisation(services.db, services.clock, org_id, row["name"], row.get("contact") or None,
                                kind=row["kind"].lower())
        except InvalidForm as refused:
            raise AssertionError(f"organisation {org_id!r}: " + "; ".join(
                f"{e.field} {e.message}" for e in refused.errors)) from None


#: How a line names a kind of organisation ("a second CPS office", "another treatment organisation").
_KIND = {"cps": "cps", "treatment": "treatment", "peer": "peer", "prenatal": "prenatal", "hospital": "hospital"}


@given(parsers.re(r"(?i)(?:a second|another) (?P<kind>cps|treatment|peer|prenatal|hospital)(?: office| organisation"
                  r"| organization| provider| clinic| network)?, (?P<name>[^(]+?) \((?P<org_id>[a-z0-9-]+)\)$"))
def second_organisation(world: World, kind: str, name: str, org_id: str) -> None:
    """Given a second CPS office, North County CPS (north-cps)   (or: another treatment organisation, ...)"""
    services = world.api.client.app.state.services  # type: ignore[attr-defined]
    try:
        ensure_organisation(services.db, services.clock, org_id, name.strip(), kind=_KIND[kind.lower()])
    except InvalidForm as refused:
        raise AssertionError(f"organisation {org_id!r}: " + "; ".join(
            f"{e.field} {e.message}" for e in refused.errors)) from None


@given(parsers.re(r"(?i)(?:these|the following|it has these) (?:users|people|staff members|staff)(?: use the system"
                  r"| work here| take part)?:$"))
@given(parsers.re(r"(?i)(?:these|the following) (?:organisations|organizations) and (?:users|people|staff):$"))
def users(world: World, datatable: list[list[str]]) -> None:
    """Given these users: | name | role | organisation | / | Dana Cruz | cps | harbor-cps |

    Given the following users: | name | role | (each acts by name: `When Dana Cruz takes ...`; without an
    organisation, the role's standard one; a new organisation is created, of the role's kind)

    Given these people use the system: | user | role | organisation | / | Carla | cps | Riverside CPS |
    Given these organisations and users: | user | role | organisation | kind |   (an organisation given by
    name has an id made from it: `riverside-cps`; without a role, a user has the role of the kind: `hospital`)"""
    services = world.api.client.app.state.services  # type: ignore[attr-defined]
    header = [_COLUMNS.get(h.strip().lower(), h.strip().lower()) for h in datatable[0]]
    if "role" not in header and "kind" in header:  # | name | organisation | kind |: the role is the kind's own
        datatable = [[*datatable[0], "role"], *[[*row, row[header.index("kind")]] for row in datatable[1:]]]
    for row in _rows(datatable, {"name", "role"}, {"organisation", "organisation name", "kind"}):
        name, said = row["name"], row["role"].lower()
        if said not in ROLE_WORDS:
            roles = ", ".join(sorted(set(ROLE_WORDS.values())))
            raise AssertionError(f"{name}: unknown role {row['role']!r}; roles: {roles}")
        if name.lower() in WHO:
            raise AssertionError(f"{name!r} already names a standard person; give the user another name")
        role = ROLE_WORDS[said]
        organisation = row.get("organisation") or ROLE_ORGANISATION.get(role) or _STANDARD[role]
        named = row.get("organisation name") or None
        if slug(organisation) != organisation:  # the organisation by its name: "Riverside CPS"
            organisation, named = slug(organisation), named or organisation
        try:
            _, key = add_user(services.db, services.clock, name=name, role=role, organisation=organisation,
                              organisation_name=named, organisation_kind=row.get("kind", "").lower() or None)
        except InvalidForm as refused:
            raise AssertionError(f"user {name!r}: " + "; ".join(
                f"{e.field} {e.message}" for e in refused.errors)) from None
        world.people[name.lower()] = organisation
        world.api.key[f"person:{name.lower()}"] = key
