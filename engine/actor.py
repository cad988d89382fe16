"""Who is acting: a user with one role in one organisation (or the engine itself, as `system`)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import Forbidden

SYSTEM_ROLE = "system"
#: The role that runs the service: it reads the service's own metrics, and no case data.
ADMIN_ROLE = "admin"
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


def check_may_read_metrics(actor: Actor) -> None:
    """`Forbidden` unless the actor runs the service: the metrics count requests and deadlines across every case."""
    if actor.role != ADMIN_ROLE:
        raise Forbidden("only an administrator reads the service's metrics")
