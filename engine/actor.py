"""Who is acting: a user with one role in one organisation (or the engine itself, as `system`)."""

from __future__ import annotations

from dataclasses import dataclass

SYSTEM_ROLE = "system"
#: Roles a person can have: the case roles of the pathway, plus outcome analysts and administrators.
ROLES = ("cps", "treatment", "peer", "prenatal", "hospital", "analyst", "admin")


@dataclass(frozen=True)
class Actor:
    id: str
    role: str
    organisation: str

    @classmethod
    def system(cls) -> Actor:
        return cls(id="system", role=SYSTEM_ROLE, organisation="system")
