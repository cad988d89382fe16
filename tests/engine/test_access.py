"""The one access decision (`engine.access.decide`) on the shipped workflow: tiers from parties and consents,
consent first for Part 2 programs, minimum necessary for states and events, and role ceilings."""

from __future__ import annotations

from datetime import date

import pytest

from engine import Actor, Catalogue
from engine.access import Access, decide, findable
from engine.guards import ConsentView

KINDS = {
    "county-cps": "cps", "other-cps": "cps", "recovery-clinic": "treatment", "city-hospital": "hospital",
    "prenatal-clinic": "prenatal", "peer-network": "peer",
}
PARTIES = {"opened_by": "prenatal-clinic", "cps": "county-cps", "hospital": "city-hospital"}
PART2 = {"opened_by": "recovery-clinic", "treatment": "recovery-clinic", "cps": "county-cps",
         "hospital": "city-hospital"}


def consent(*organisations: str, categories: tuple[str, ...] = ("status", "plan")) -> ConsentView:
    return ConsentView(frozenset(organisations), frozenset(categories), date(2026, 11, 1), date(2027, 11, 1))


def access(catalogue: Catalogue, role: str, org: str, parties: dict[str, str],
           consents: list[ConsentView] | None = None) -> Access:
    return decide(catalogue.workflow("charm-posc"), Actor(f"{org}-user", role, org), parties,
                  lambda: consents or [], KINDS.get)


def test_parties_hold_their_tiers_and_strangers_hold_none(catalogue: Catalogue) -> None:
    assert access(catalogue, "cps", "county-cps", PARTIES).ordered_tiers() == ["status", "plan"]
    assert access(catalogue, "hospital", "city-hospital", PARTIES).ordered_tiers() == ["status"]
    assert access(catalogue, "prenatal", "prenatal-clinic", PARTIES).ordered_tiers() == ["status"]
    assert not access(catalogue, "peer", "peer-network", PARTIES)
    assert not access(catalogue, "cps", "other-cps", PARTIES)


def test_a_consent_adds_status_and_its_categories_to_the_organisations_it_names(catalogue: Catalogue) -> None:
    given = [consent("peer-network", "city-hospital", categories=("treatment",))]
    assert access(catalogue, "peer", "peer-network", PARTIES, given).ordered_tiers() == ["status", "treatment"]
    assert access(catalogue, "hospital", "city-hospital", PARTIES, given).ordered_tiers() == ["status", "treatment"]


def test_analysts_and_administrators_see_no_case_data_even_when_named(catalogue: Catalogue) -> None:
    given = [consent("state-analytics", "posc-admin", categories=("status", "plan", "treatment"))]
    assert not access(catalogue, "analyst", "state-analytics", PARTIES, given)
    assert not access(catalogue, "admin", "posc-admin", {**PARTIES, "cps": "posc-admin"}, given)


def test_a_part_2_programs_case_is_its_own_until_a_consent_names_another_organisation(catalogue: Catalogue) -> None:
    assert access(catalogue, "treatment", "recovery-clinic", PART2).ordered_tiers() == ["status", "treatment"]
    assert not access(catalogue, "cps", "county-cps", PART2)
    assert not access(catalogue, "hospital", "city-hospital", PART2)
    only_cps = [consent("county-cps", categories=("status",))]
    lead = access(catalogue, "cps", "county-cps", PART2, only_cps)
    assert lead.ordered_tiers() == ["status", "plan"] and lead.lead
    assert not access(catalogue, "hospital", "city-hospital", PART2, only_cps)


def test_the_state_is_shown_only_at_the_tier_that_covers_it(catalogue: Catalogue) -> None:
    hospital = access(catalogue, "hospital", "city-hospital", PARTIES)
    lead = access(catalogue, "cps", "county-cps", PARTIES)
    assert hospital.state("identified") == "identified"
    assert hospital.state("in_treatment") is None and lead.state("in_treatment") is None
    assert hospital.state("plan_agreed") is None and lead.state("plan_agreed") == "plan_agreed"
    assert hospital.state("born_without_plan") == "born_without_plan"
    assert lead.state("investigation") == "investigation"
    other_cps = access(catalogue, "cps", "other-cps", PARTIES, [consent("other-cps", categories=("plan",))])
    assert other_cps.state("plan_agreed") == "plan_agreed"
    assert other_cps.state("investigation") is None and other_cps.state("cps_assessment") is None


def test_a_hospital_never_sees_assessment_or_investigation_whatever_its_consent(catalogue: Catalogue) -> None:
    everything = [consent("city-hospital", categories=("status", "plan", "treatment"))]
    hospital = access(catalogue, "hospital", "city-hospital", PARTIES, everything)
    for state in ("notified", "cps_assessment", "follow_up", "investigation"):
        assert hospital.state(state) is None, state
    for event in ("report_safety_concern", "conclude_investigation", "deadline_missed"):
        assert not hospital.sees_event(event), event
    assert hospital.sees_event("admit_to_treatment") and hospital.sees_event("record_birth")
    workflow = catalogue.workflow("charm-posc")
    follow_up = workflow.actions["record_follow_up"].form
    shown = hospital.fields(follow_up, {"contact_on": "2027-01-02", "notes": "private", "concerns": "no"})
    assert "notes" not in shown and hospital.withheld(follow_up, {"notes": "private"}) == ["notes"]


@pytest.mark.parametrize(("event", "tier"), [("admit_to_treatment", "treatment"), ("update_plan", "plan"),
                                             ("record_consent", "plan")])
def test_events_are_shown_only_to_their_audience(catalogue: Catalogue, event: str, tier: str) -> None:
    status_only = access(catalogue, "prenatal", "prenatal-clinic", PARTIES)
    assert status_only.sees_event("open_case") and not status_only.sees_event(event)
    named = access(catalogue, "prenatal", "prenatal-clinic", PARTIES, [consent("prenatal-clinic", categories=(tier,))])
    assert named.sees_event(event)


def test_deadlines_are_shown_to_their_owner_and_to_the_lead(catalogue: Catalogue) -> None:
    assert access(catalogue, "cps", "county-cps", PARTIES).sees_deadline("recovery-clinic")
    hospital = access(catalogue, "hospital", "city-hospital", PARTIES)
    assert hospital.sees_deadline("city-hospital") and not hospital.sees_deadline("county-cps")


def test_the_lookup_finds_no_cps_history_for_a_hospital_and_no_part_2_case_before_consent(
    catalogue: Catalogue,
) -> None:
    hospital = access(catalogue, "hospital", "other-hospital", PARTIES)
    assert findable(hospital, "plan_agreed", PARTIES, [], KINDS.get)
    assert not findable(hospital, "closed", PARTIES, [], KINDS.get)
    lead = access(catalogue, "cps", "county-cps", PARTIES)
    assert findable(lead, "closed", PARTIES, [], KINDS.get)
    assert not findable(hospital, "identified", PART2, [], KINDS.get)
    assert not findable(hospital, "identified", PART2, [consent("county-cps")], KINDS.get)
    assert findable(hospital, "identified", PART2, [consent("other-hospital")], KINDS.get)
