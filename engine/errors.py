"""The engine's error vocabulary.

Every refusal the engine makes is one of these. The outside layers (HTTP, command line) map them to their own
answers in one place each; nothing outside the engine decides what counts as "not found" or "not allowed".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class PoscError(Exception):
    """Base of every domain error; `message` is safe to show to the caller.

    `page`: for a refused action asked for with `page_if_refused` (a web form), the case's page as the caller may
    see it, read in the same transaction as the refused attempt, so the form can be drawn again from it."""

    page: Any = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DefinitionError(PoscError):
    """A workflow or form definition is broken; `problems` are `file:line: message` strings."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems) if problems else "invalid definition")
        self.problems = problems


class NotFound(PoscError):
    """The thing does not exist, or the caller may not know that it does."""


class NotAuthenticated(PoscError):
    """No API key, or an unknown or revoked one."""


class Forbidden(PoscError):
    """The caller's role or organisation may not do this."""


class NotAvailable(PoscError):
    """The action does not exist in the current state, or cannot be taken by this caller now."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or [message]


class GuardFailed(NotAvailable):
    """The action exists in this state but one of its guards refuses; `reasons` say why, in domain words."""


class AlreadyOpen(NotAvailable):
    """The parent already has an open case the caller may know of (one open case per pregnancy)."""

    def __init__(self, message: str, existing: str, reasons: list[str]) -> None:
        super().__init__(message, reasons)
        self.existing = existing


class StaleVersion(PoscError):
    """The case changed since the caller read it (optimistic concurrency); nothing was written."""


@dataclass(frozen=True)
class FieldError:
    """One invalid form field: a dotted path such as `participants[0].role`, and why."""

    field: str
    message: str


class InvalidForm(PoscError):
    """Form data does not match its form definition; `errors` names each field and why."""

    def __init__(self, form: str, errors: list[FieldError]) -> None:
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
        super().__init__(f"invalid {form} form: {summary}")
        self.form = form
        self.errors = errors


class IntegrityBroken(PoscError):
    """A stored event chain or case row does not match what its events say (tampering or a bug)."""
