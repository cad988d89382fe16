Feature: Hospital lookup at delivery
  At delivery, hospital staff look the parent up by exact last name and date of birth to learn whether a Plan of Safe
  Care is in place and whom to call at CPS, and nothing more. The one-page hospital summary gives them the plan's
  services for the infant and the discharge arrangement, never treatment details.

  Background:
    Given today is 2026-11-02
    And a case opened by the prenatal clinic

  Scenario: An exact match tells the hospital that a plan is in place, and nothing more
    Given the case has reached plan_agreed
    When the hospital looks up "Rivera" born 1996-04-12
    Then the action succeeds
    And the lookup finds the case with a plan in place: yes

  Scenario: An exact match before the planning meeting says no plan is in place
    Given the case has reached in_treatment
    When the hospital looks up "Rivera" born 1996-04-12
    Then the lookup finds the case with a plan in place: no

  Scenario: The last name matches whatever its capitals
    When the hospital looks up "RIVERA" born 1996-04-12
    Then the lookup finds the case with a plan in place: no

  Scenario: A wrong date of birth finds nothing
    When the hospital looks up "Rivera" born 1996-04-13
    Then the action succeeds
    And the lookup finds nothing

  Scenario: A similar last name finds nothing
    When the hospital looks up "Rivers" born 1996-04-12
    Then the lookup finds nothing

  Scenario: CPS may look a parent up too
    When the cps worker looks up "Rivera" born 1996-04-12
    Then the lookup finds the case with a plan in place: no

  Scenario: The peer mentor may not look parents up
    Given the prenatal clinic has taken record_consent
    When the peer mentor looks up "Rivera" born 1996-04-12
    Then the action is refused as not allowed
    And the action is refused because "may not look parents up"

  Scenario: The analyst may not look parents up
    When the analyst looks up "Rivera" born 1996-04-12
    Then the action is refused as not allowed

  Scenario: The hospital finds the plan at delivery and records the birth with it
    Given the case has reached plan_agreed
    When the hospital looks up "Rivera" born 1996-04-12
    Then the lookup finds the case with a plan in place: yes
    When the hospital takes record_birth
    Then the case is in state born_with_plan

  Scenario: The hospital summary gives the infant's services and the discharge arrangement
    Given the case has reached plan_agreed
    Then the hospital summary for the hospital says "A Plan of Safe Care is in place"
    And the hospital summary for the hospital says "pediatric care"
    And the hospital summary for the hospital says "Home with parent; pediatric visit within 48 hours."
    And the hospital summary for the hospital says "CPS intake line 555-0100"
    And the hospital summary for the hospital says "Confidential: 42 CFR part 2"

  Scenario: The hospital summary says nothing of the parent's treatment
    Given the case has reached plan_agreed
    Then the hospital summary for the hospital does not say "opioids"
    And the hospital summary for the hospital does not say "buprenorphine"
    And the hospital summary for the hospital does not say "substance use treatment"
    And the hospital summary for the hospital does not say "Recovery Clinic"
    And the hospital summary for the hospital says "Some information is withheld"

  Scenario: Before a plan is agreed the hospital summary says so
    Then the hospital summary for the hospital says "No Plan of Safe Care is in place"
    And the hospital summary for the hospital says "CPS intake line 555-0100"

  Scenario: Without consent to the plan, the hospital summary withholds the plan's details
    Given the case has reached plan_agreed
    And the cps worker has taken revoke_consent
    Then the hospital summary for the hospital says "A Plan of Safe Care is in place"
    And the hospital summary for the hospital says "The plan's details are not disclosed to your organisation"
    And the hospital summary for the hospital does not say "pediatric care"
