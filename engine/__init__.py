"""The posc engine: workflow definitions, cases and their event log, guards, deadlines.

This is everything the outside layers (`api/`) may use; they import from here, never from the modules.
"""

from engine.actor import SYSTEM_ROLE, Actor
from engine.cases import ActionOption, CaseRecord, Cases, EventRecord, UnknownAction
from engine.clock import Clock, FixedClock, SystemClock
from engine.definitions import Catalogue, FileReport, check_files, load_catalogue
from engine.errors import (
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
from engine.organisations import OrganisationRecord, ensure_organisation
from engine.settings import Settings
from engine.store import Database, SchemaOutOfDate

__all__ = [
    "SYSTEM_ROLE",
    "ActionOption",
    "Actor",
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
    "load_catalogue",
]
