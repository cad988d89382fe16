"""The posc engine: workflow definitions, cases and their event log, guards, deadlines.

This is everything the outside layers (`api/`) may use; they import from here, never from the modules. Names are
loaded on first use, so a command that only checks definitions does not pay for the database stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "SYSTEM_ROLE": "engine.actor",
    "Actor": "engine.actor",
    "ActionOption": "engine.cases",
    "CaseRecord": "engine.cases",
    "Cases": "engine.cases",
    "EventRecord": "engine.cases",
    "UnknownAction": "engine.cases",
    "Clock": "engine.clock",
    "FixedClock": "engine.clock",
    "SystemClock": "engine.clock",
    "Catalogue": "engine.definitions",
    "FileReport": "engine.definitions",
    "check_files": "engine.definitions",
    "load_catalogue": "engine.definitions",
    "AlreadyOpen": "engine.errors",
    "DefinitionError": "engine.errors",
    "FieldError": "engine.errors",
    "Forbidden": "engine.errors",
    "GuardFailed": "engine.errors",
    "IntegrityBroken": "engine.errors",
    "InvalidForm": "engine.errors",
    "NotAvailable": "engine.errors",
    "NotFound": "engine.errors",
    "PoscError": "engine.errors",
    "StaleVersion": "engine.errors",
    "ORGANISATION_KINDS": "engine.organisations",
    "OrganisationRecord": "engine.organisations",
    "ensure_organisation": "engine.organisations",
    "list_organisations": "engine.organisations",
    "Settings": "engine.settings",
    "Database": "engine.store",
    "SchemaOutOfDate": "engine.store",
}
__all__ = [
    "ORGANISATION_KINDS",
    "SYSTEM_ROLE",
    "ActionOption",
    "Actor",
    "AlreadyOpen",
    "CaseRecord",
    "Cases",
    "Catalogue",
    "Clock",
    "Database",
    "DefinitionError",
    "EventRecord",
    "FieldError",
    "FileReport",
    "FixedClock",
    "Forbidden",
    "GuardFailed",
    "IntegrityBroken",
    "InvalidForm",
    "NotAvailable",
    "NotFound",
    "OrganisationRecord",
    "PoscError",
    "SchemaOutOfDate",
    "Settings",
    "StaleVersion",
    "SystemClock",
    "UnknownAction",
    "check_files",
    "ensure_organisation",
    "list_organisations",
    "load_catalogue",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from engine.actor import SYSTEM_ROLE, Actor
    from engine.caselog import CaseRecord, EventRecord
    from engine.cases import ActionOption, Cases, UnknownAction
    from engine.clock import Clock, FixedClock, SystemClock
    from engine.definitions import Catalogue, FileReport, check_files, load_catalogue
    from engine.errors import (
        AlreadyOpen,
        DefinitionError,
        FieldError,
        Forbidden,
        GuardFailed,
        IntegrityBroken,
        InvalidForm,
        NotAvailable,
        NotFound,
        PoscError,
        StaleVersion,
    )
    from engine.organisations import ORGANISATION_KINDS, OrganisationRecord, ensure_organisation, list_organisations
    from engine.settings import Settings
    from engine.store import Database, SchemaOutOfDate
