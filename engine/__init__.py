"""The posc engine: workflow definitions, cases and their event log, guards, deadlines.

This is everything the outside layers (`api/`) may use; they import from here, never from the modules. Names are
loaded on first use, so a command that only checks definitions does not pay for the database stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Actor": "engine.actor",
    "SYSTEM_ROLE": "engine.actor",
    "check_may_read_metrics": "engine.actor",
    "CaseRecord": "engine.caselog",
    "EventRecord": "engine.caselog",
    "Cases": "engine.cases",
    "IdempotencyConflict": "engine.cases",
    "UnknownAction": "engine.cases",
    "Clock": "engine.clock",
    "FixedClock": "engine.clock",
    "SystemClock": "engine.clock",
    "Catalogue": "engine.definitions",
    "check_files": "engine.definitions",
    "FileReport": "engine.definitions",
    "load_catalogue": "engine.definitions",
    "OPEN_EVENT": "engine.definitions.vocabulary",
    "CompiledOpening": "engine.definitions.compiled",
    "CompiledWorkflow": "engine.definitions.compiled",
    "FieldSpec": "engine.definitions.forms",
    "FormSpec": "engine.definitions.forms",
    "mermaid": "engine.diagram",
    "count_call": "engine.limits",
    "to_pdf": "engine.documents",
    "AlreadyOpen": "engine.errors",
    "DefinitionError": "engine.errors",
    "FieldError": "engine.errors",
    "Forbidden": "engine.errors",
    "GuardFailed": "engine.errors",
    "IntegrityBroken": "engine.errors",
    "InvalidForm": "engine.errors",
    "NotAvailable": "engine.errors",
    "NotAuthenticated": "engine.errors",
    "NotFound": "engine.errors",
    "PoscError": "engine.errors",
    "StaleVersion": "engine.errors",
    "ensure_organisation": "engine.organisations",
    "list_organisations": "engine.organisations",
    "ORGANISATION_KINDS": "engine.organisations",
    "OrganisationRecord": "engine.organisations",
    "CaseQueries": "engine.queries",
    "MAX_PAGE": "engine.queries",
    "ActionOption": "engine.readmodels",
    "CaseList": "engine.readmodels",
    "CasePage": "engine.readmodels",
    "CaseRecordRead": "engine.readmodels",
    "CaseSummary": "engine.readmodels",
    "CaseView": "engine.readmodels",
    "Contact": "engine.readmodels",
    "DeadlineRecord": "engine.readmodels",
    "DeadlineView": "engine.readmodels",
    "DisclosureView": "engine.readmodels",
    "EventView": "engine.readmodels",
    "LateEntryView": "engine.readmodels",
    "LookupAnswer": "engine.readmodels",
    "LookupMatch": "engine.readmodels",
    "Outcome": "engine.readmodels",
    "PlanVersion": "engine.readmodels",
    "WindowView": "engine.readmodels",
    "WorkItem": "engine.readmodels",
    "Worklist": "engine.readmodels",
    "end_session": "engine.sessions",
    "resume_session": "engine.sessions",
    "start_session": "engine.sessions",
    "WebSessionRecord": "engine.sessions",
    "FIGURES_CSV_COLUMNS": "engine.reports",
    "LESS_THAN": "engine.reports",
    "SMALL_CELL": "engine.reports",
    "figures_csv_rows": "engine.reports",
    "figures_for": "engine.reports",
    "report_period": "engine.reports",
    "Settings": "engine.settings",
    "Database": "engine.store",
    "is_empty": "engine.store",
    "SchemaOutOfDate": "engine.store",
    "FUTURE_TOLERANCE": "engine.ticker",
    "in_the_future": "engine.ticker",
    "MISSED_EVENT": "engine.definitions.vocabulary",
    "next_due": "engine.ticker",
    "deadline_counts": "engine.ticker",
    "tick": "engine.ticker",
    "add_user": "engine.users",
    "authenticate": "engine.users",
    "list_users": "engine.users",
    "revoke_key": "engine.users",
    "UserRecord": "engine.users",
}
__all__ = [
    "FIGURES_CSV_COLUMNS",
    "FUTURE_TOLERANCE",
    "LESS_THAN",
    "MAX_PAGE",
    "MISSED_EVENT",
    "OPEN_EVENT",
    "ORGANISATION_KINDS",
    "SMALL_CELL",
    "SYSTEM_ROLE",
    "ActionOption",
    "Actor",
    "AlreadyOpen",
    "CaseList",
    "CasePage",
    "CaseQueries",
    "CaseRecord",
    "CaseRecordRead",
    "CaseSummary",
    "CaseView",
    "Cases",
    "Catalogue",
    "Clock",
    "CompiledOpening",
    "CompiledWorkflow",
    "Contact",
    "Database",
    "DeadlineRecord",
    "DeadlineView",
    "DefinitionError",
    "DisclosureView",
    "EventRecord",
    "EventView",
    "FieldError",
    "FieldSpec",
    "FileReport",
    "FixedClock",
    "Forbidden",
    "FormSpec",
    "GuardFailed",
    "IdempotencyConflict",
    "IntegrityBroken",
    "InvalidForm",
    "LateEntryView",
    "LookupAnswer",
    "LookupMatch",
    "NotAuthenticated",
    "NotAvailable",
    "NotFound",
    "OrganisationRecord",
    "Outcome",
    "PlanVersion",
    "PoscError",
    "SchemaOutOfDate",
    "Settings",
    "StaleVersion",
    "SystemClock",
    "UnknownAction",
    "UserRecord",
    "WebSessionRecord",
    "WindowView",
    "WorkItem",
    "Worklist",
    "add_user",
    "authenticate",
    "check_files",
    "check_may_read_metrics",
    "count_call",
    "deadline_counts",
    "end_session",
    "ensure_organisation",
    "figures_csv_rows",
    "figures_for",
    "in_the_future",
    "is_empty",
    "list_organisations",
    "list_users",
    "load_catalogue",
    "mermaid",
    "next_due",
    "report_period",
    "resume_session",
    "revoke_key",
    "start_session",
    "tick",
    "to_pdf",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from engine.actor import SYSTEM_ROLE, Actor, check_may_read_metrics
    from engine.caselog import CaseRecord, EventRecord
    from engine.cases import Cases, IdempotencyConflict, UnknownAction
    from engine.clock import Clock, FixedClock, SystemClock
    from engine.definitions import Catalogue, FileReport, check_files, load_catalogue
    from engine.definitions.compiled import CompiledOpening, CompiledWorkflow
    from engine.definitions.forms import FieldSpec, FormSpec
    from engine.definitions.vocabulary import MISSED_EVENT, OPEN_EVENT
    from engine.diagram import mermaid
    from engine.documents import to_pdf
    from engine.errors import (
        AlreadyOpen,
        DefinitionError,
        FieldError,
        Forbidden,
        GuardFailed,
        IntegrityBroken,
        InvalidForm,
        NotAuthenticated,
        NotAvailable,
        NotFound,
        PoscError,
        StaleVersion,
    )
    from engine.limits import count_call
    from engine.organisations import ORGANISATION_KINDS, OrganisationRecord, ensure_organisation, list_organisations
    from engine.queries import MAX_PAGE, CaseQueries
    from engine.readmodels import (
        ActionOption,
        CaseList,
        CasePage,
        CaseRecordRead,
        CaseSummary,
        CaseView,
        Contact,
        DeadlineRecord,
        DeadlineView,
        DisclosureView,
        EventView,
        LateEntryView,
        LookupAnswer,
        LookupMatch,
        Outcome,
        PlanVersion,
        WindowView,
        WorkItem,
        Worklist,
    )
    from engine.reports import (
        FIGURES_CSV_COLUMNS,
        LESS_THAN,
        SMALL_CELL,
        figures_csv_rows,
        figures_for,
        report_period,
    )
    from engine.sessions import WebSessionRecord, end_session, resume_session, start_session
    from engine.settings import Settings
    from engine.store import Database, SchemaOutOfDate, is_empty
    from engine.ticker import FUTURE_TOLERANCE, deadline_counts, in_the_future, next_due, tick
    from engine.users import UserRecord, add_user, authenticate, list_users, revoke_key
