"""The engine's own words, declared once: the events it records itself and the effects an action may declare.

Everything else a case can do is named in the workflow YAML; these few are what the engine itself gives meaning to.
"""

from __future__ import annotations

#: The event that opens a case (its first event).
OPEN_EVENT = "open_case"
#: The event the engine records, as the `system` actor, when a deadline is missed.
MISSED_EVENT = "deadline_missed"

#: Effects an action may declare (`effects: [...]` in the YAML), and what the engine does for each.
RECORD_CONSENT = "record_consent"  # stores the universal consent; the organisations it names may find the case
REVOKE_CONSENT = "revoke_consent"  # ends every active consent at once
NEW_PLAN_VERSION = "new_plan_version"  # the form is a (new version of the) Plan of Safe Care
EFFECTS = frozenset({RECORD_CONSENT, REVOKE_CONSENT, NEW_PLAN_VERSION})
