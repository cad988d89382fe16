Feature: Specifications in analysts' own words
  Scenarios first written by analysts who had not seen the step library, kept in their words where the catalogue
  says them: people and organisations from tables, actions said as partners say them, the lookup at delivery and
  what the accounting of disclosures shows, deadlines named by their titles, and time given to the minute.

  Background:
    Given today is 2026-11-02
    And a case opened by the prenatal clinic

  Scenario: A second hospital joins the network and sees nothing of a case it is not part of
    Given another hospital joins the network:
      | organisation  | kind     |
      | Mercy General | hospital |
    And it has these staff:
      | user | role     | organisation  |
      | Lena | hospital | Mercy General |
    And the parent signs the universal consent
    Then Lena cannot see the case
    And Lena does not find the case in the case list
    And the hospital finds the case in its case list
    And the case is not on Lena's worklist

  Scenario: Partners set up by name, with a CPS office of their own
    Given these organisations and users:
      | user  | role      | organisation  | kind |
      | Carla | cps       | Riverside CPS | cps  |
      | Tomas | treatment |               |      |
    And a second CPS office, North County CPS (north-cps)
    And the parent has signed the universal consent
    When Tomas admits the parent to treatment
    Then the parent has been admitted to treatment by Tomas
    And Carla cannot see the case
    And the accounting of disclosures does not show Carla

  Scenario: At delivery the hospital looks the parent up and learns only that a plan is in place and whom to call
    Given the case is in state plan_agreed
    When the hospital looks up the parent
    Then the lookup finds the case
    And the lookup shows that a plan is in place
    And the lookup result shows the lead CPS contact of county-cps
    And the lookup result shows nothing but the reference, whether a plan is in place and the lead contact
    And the accounting of disclosures shows that the hospital looked up the case
    And the hospital sees that a plan is in place

  Scenario: A lookup with the parent's details in a table, and a parent with two cases
    Given the case is in state plan_agreed
    When the prenatal clinic opens a case for the same parent, for a new pregnancy
    And the hospital looks up the parent with:
      | field         | value      |
      | last_name     | Rivera     |
      | date_of_birth | 1996-04-12 |
    Then the lookup finds 2 cases
    And the lookup discloses nothing more

  Scenario: During treatment the hospital sees where the case is, never that the parent is in treatment
    Given the parent signs the universal consent
    And the parent was admitted to treatment by the treatment provider
    Then the hospital sees the phase "prenatal"
    And the hospital does not see the state of the case
    And the hospital sees the phase "prenatal" but not the state
    And the case is not on the peer mentor's worklist
    When the birth is recorded by the hospital
    Then the hospital's worklist does not show plan_before_discharge
    And the cps worker's worklist shows plan_before_discharge

  Scenario: The hospital's notification, seen by the hospital as it was sent
    Given the parent signs the universal consent
    And the birth is recorded by the hospital with:
      | field   | value          |
      | born_at | today at 06:40 |
    When the hospital notifies CPS
    Then the hospital sees the field safety_concern of notify_cps as "no"
    And the CAPTA notification deadline was met on target

  Scenario: Interim services late: escalated to the lead CPS office
    Given the parent signs the universal consent
    And the parent is referred to treatment
    And 36 hours have passed
    And 36 hours pass
    When the deadlines are processed
    Then the interim services deadline is missed
    And the cps worker's worklist shows an escalation for interim_services

  Scenario: The early-intervention referral after a birth with a plan
    Given the case is in state born_with_plan
    And the early_intervention_referral deadline is open
    Given 1 day has passed
    When 1 day passes
    And 1 hour passes
    Then the early intervention referral deadline is still open

  Scenario: Time set to the minute, with its offset from UTC
    Given today is 2026-11-03 at 14:30
    Then the consent deadline is open
    Given it is now 2026-12-29T08:00-05:00
    Then the case is not in state plan_agreed
    Given 8 days have passed
    And 20 days pass
    When it is 10 days before the due date
    Then the case stays in identified

  Scenario: Scheduling the meeting, from the treatment provider's admission on
    Given the parent has signed the universal consent
    And the treatment provider admits the parent to treatment
    And the cps worker schedules the planning meeting with:
      | field        | value                       |
      | meeting_date | 10 days before the due date |
    Then the case is in state meeting_scheduled

  Scenario: A meeting scheduled in the partners' words, twice over, is refused the second time
    Given the parent has signed the universal consent
    And the planning meeting is scheduled with:
      | field        | value                       |
      | meeting_date | 10 days before the due date |
    When the cps worker takes schedule_planning_meeting
    Then the action is refused as not available
    And nothing new appears in the case history

  Scenario: A scene set by the usual steps, in the partners' words
    Given the parent is referred to treatment
    And the birth is recorded by the hospital
    Then the case is in state born_without_plan

  Scenario: The meeting scheduled earlier, with its invitees
    Given the parent has signed the universal consent
    And the cps worker has taken schedule_planning_meeting with invitees:
      | role      | organisation    |
      | cps       | county-cps      |
      | treatment | recovery-clinic |
      | parent    |                 |
    Then the cps worker sees the field invitees of schedule_planning_meeting as "cps county-cps, treatment recovery-clinic, parent"

  Scenario: A meeting outside the window, set up with the catalogue's own words
    Given the parent has signed the universal consent
    And the cps worker has taken schedule_planning_meeting with:
      | field        | value                       |
      | meeting_date | 10 days before the due date |
    Then the case is in state meeting_scheduled

  Scenario: The hospital may not close a case in follow-up
    Given a case in state follow_up
    When the hospital tries to close the case
    Then it is refused as not allowed
    And the case stays in follow_up

  Scenario: A deadline's target and due time, to the minute
    Then the consent deadline is due on 2026-11-16T00:00-05:00
    When the parent signs the universal consent
    Then the treatment_admission deadline has its target in 3 days

  Scenario: A case led by a CPS office the scenario sets up
    Given these users:
      | name  | role | organisation  |
      | Carla | cps  | Riverside CPS |
    And a case opened by the prenatal clinic with:
      | field        | value         |
      | last_name    | Okafor        |
      | lead_cps_org | riverside-cps |
    And the parent has signed the universal consent
    When the treatment provider admits the parent to treatment
    Then the case is in state in_treatment
    And Carla sees the case in phase prenatal
    And the accounting of disclosures shows Carla reading "view"

  Scenario: Who read the case is accounted for, without who the parent is
    Given the parent has signed the universal consent
    When the hospital views the case
    Then the action succeeds
    And the accounting of disclosures shows that the hospital viewed the case
    And the accounting of disclosures holds no personal details
    And the analyst can read the outcome figures
    And the hospital cannot read the CAPTA figures

  Scenario: Invitees written in one cell, as the case view shows them
    Given the parent has signed the universal consent
    When the cps worker schedules the planning meeting with:
      | field        | value                                             |
      | meeting_date | 10 days before the due date                       |
      | invitees     | cps county-cps, treatment recovery-clinic, parent |
    Then the cps worker sees the field invitees of schedule_planning_meeting as "cps county-cps, treatment recovery-clinic, parent"

  Scenario: A closed case has nothing left to do
    Given a case in state closed
    Then the case has no open deadlines
