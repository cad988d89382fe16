"""Actions in plain words: "the hospital records the birth", "the birth was recorded by the hospital", "the parent
has signed the consent"; and Then, whether the case's history holds one.

Each action's phrases are in `DEEDS`: `present|participle [object] rest`. The forms (active, passive, with or
without who did it, with a `field | value` table) come from `api.step_catalogue.DEED_FORMS`, so every action can be
said in each of them. Without a person (`the birth is recorded`, `the parent signs the consent`) the action's usual
actor takes it. Each form is the same HTTP call as `{who} takes {action}`."""

from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from api.step_catalogue import Deed, StepDoc, deed_steps, read_deeds
from tests.factories import ACTION_ROLE
from tests.steps.pathway import _act, _known_form, _table, happened
from tests.steps.world import World

#: Each action of the pathway in the words analysts use for it.
DEEDS = {
    "record_consent": ["records|recorded [the universal consent]", "records|recorded [the consent]",
                       "the parent: signs|signed [the universal consent]", "the parent: signs|signed [the consent]",
                       "the parent: signs|signed [the release]"],
    "revoke_consent": ["records|recorded [the revocation of consent]",
                       "records|recorded [a consent revocation]", "the parent: revokes|revoked [the consent]",
                       "the parent: revokes|revoked [consent]", "revokes|revoked [the consent]"],
    "amend_identification": ["corrects|corrected [the identification]", "amends|amended [the identification]"],
    "refer_to_treatment": ["refers|referred [the parent] to treatment", "refers|referred [her] to treatment"],
    "record_interim_services": ["records|recorded [interim services]", "provides|provided [interim services]"],
    "admit_to_treatment": ["admits|admitted [the parent] to treatment", "admits|admitted [her] to treatment",
                           "admits|admitted [the parent]"],
    "record_treatment_progress": ["records|recorded [treatment progress]",
                                  "records|recorded [the treatment progress]"],
    "record_disengagement": ["records|recorded [a disengagement from treatment]",
                             "records|recorded [the disengagement]",
                             "the parent: disengages|disengaged from treatment"],
    "record_declined": ["records|recorded that the parent declined", "the parent: declines|declined [services]"],
    "schedule_planning_meeting": ["schedules|scheduled [the planning meeting]"],
    "record_planning_meeting": ["records|recorded [the planning meeting]", "holds|held [the planning meeting]",
                                "agrees|agreed [the plan]", "agrees|agreed [the plan of safe care]",
                                "agrees|agreed [the plan of safe care] at a planning meeting",
                                "agrees|agreed [the plan] at the planning meeting"],
    "update_plan": ["updates|updated [the plan]", "updates|updated [the plan of safe care]"],
    "record_birth": ["records|recorded [the birth]", "records|recorded [the delivery]"],
    "notify_cps": ["notifies|notified [cps]", "sends|sent [the capta notification]",
                   "sends|sent [the notification]"],
    "record_plan_at_birth": ["records|recorded [the plan at birth]"],
    "record_referral": ["records|recorded [a service referral]", "records|recorded [a referral]",
                        "refers|referred [the family] to services"],
    "discharge": ["discharges|discharged [the infant]", "discharges|discharged [the baby]",
                  "discharges|discharged [the newborn]"],
    "record_follow_up": ["records|recorded [a follow-up contact]", "records|recorded [a follow-up]"],
    "report_safety_concern": ["reports|reported [a safety concern]", "records|recorded [a safety concern]",
                              "raises|raised [a safety concern]"],
    "conclude_investigation": ["concludes|concluded [the investigation]"],
    "record_pregnancy_loss": ["records|recorded [a pregnancy loss]", "records|recorded [the pregnancy loss]"],
    "transfer_out": ["transfers|transferred [the case] to another jurisdiction",
                     "transfers|transferred [the case] out"],
    "close_case": ["closes|closed [the case]"],
}


def _who_acts(
    words: dict[str, Deed], deed: str | None, who: str | None, own: str | None, at: str | None,
) -> tuple[str, Deed]:
    """The person who acts (the action's usual actor when the line names nobody) and the deed the words say."""
    found = words[(deed or own or "").lower()]
    return (who if who and deed else at or ACTION_ROLE[found.action]), found


def _register(step: StepDoc, words: dict[str, Deed]) -> None:
    def act(world: World, deed: str | None = None, who: str | None = None, own: str | None = None,
            at: str | None = None, datatable: list[list[str]] | None = None) -> None:
        person, found = _who_acts(words, deed, who, own, at)
        _act(world, person, found.action, _table(world, datatable, _known_form(world, found.action)))
        if step.keyword == "given":  # what a scenario starts from must have happened
            happened(world, person, found.action)

    def recorded(world: World, deed: str | None = None, who: str | None = None) -> None:
        found = words[(deed or "").lower()]
        # The history as recorded: minimum necessary hides a treatment event even from the lead.
        events = world.api.client.app.state.services.cases.history(world.current()["id"])  # type: ignore[attr-defined]
        taken = [e for e in events if e.action == found.action]
        if "not_been" in step.shown:
            assert not taken, f"{found.action} is in the case's history ({len(taken)} time(s))"
            return
        assert taken, f"{found.action} is not in the case's history: {', '.join(e.action for e in events)}"
        if who is not None:  # by that very person
            me = world.api.get("/me", world.role(who)).json()
            takers = sorted({f"{e.actor_role} of {e.organisation}" for e in taken})
            assert any(e.actor_id == me["id"] for e in taken), (
                f"{found.action} was taken by {', '.join(takers)}, not by {who} ({me['role']} of {me['organisation']})")

    def may(world: World, deed: str | None = None, who: str | None = None) -> None:
        """Whether the person may take the action now, as the case's list of actions says to them."""
        found = words[(deed or "").lower()]
        answer = world.api.get(f"/cases/{world.current()['id']}/actions", world.role(who or ""))
        options = {o["action"]: o for o in answer.json()} if answer.status_code == 200 else {}
        offered = options.get(found.action)
        if "may_not" in step.shown:
            assert offered is None or not offered["allowed"], f"{who} may {found.action}"
        else:
            assert offered is not None, f"{found.action} is not an action of the current state; actions: " + (
                ", ".join(options) or f"none ({who} gets {answer.status_code})")
            assert offered["allowed"], f"{who} may not take {found.action}: {'; '.join(offered['reasons'])}"

    decorate = {"given": given, "when": when, "then": then}[step.keyword]
    chosen = act if step.keyword != "then" else may if "may" in step.shown else recorded
    decorate(parsers.re(step.pattern), stacklevel=2)(chosen)


for _step, _words in deed_steps(read_deeds(DEEDS)):
    _register(_step, _words)
