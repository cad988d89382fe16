Feature: Birth with a plan in place
  An infant born after the Plan of Safe Care was agreed is recorded by the hospital, which notifies CPS within 48
  hours. With a plan and no safety concern the notification needs no investigation; the infant is referred
  to early intervention within 7 days and goes home under the plan.

  Background:
    Given today is 2026-11-02
    And a case opened by the prenatal clinic

  Scenario: The hospital records the birth of an infant whose plan was agreed
    Given the case has reached plan_agreed
    Then the hospital may take record_birth
    When the hospital takes record_birth
    Then the case is in state born_with_plan
    And the capta_notification deadline is open
    And the early_intervention_referral deadline is open
    And the postpartum_contact deadline is open
    And the monitoring_period deadline is open
    And the plan_before_discharge deadline is not open

  Scenario: Only the hospital records the birth
    Given the case has reached plan_agreed
    Then the cps worker may not take record_birth because "may not record the birth"
    When the cps worker takes record_birth
    Then the action is refused as not allowed
    And the case is in state plan_agreed

  Scenario: A birth time in the future is refused
    Given the case has reached plan_agreed
    When the hospital takes record_birth with:
      | field   | value             |
      | born_at | tomorrow at 10:00 |
    Then the action is refused because "the time of birth 2026-11-03T10:00:00-05:00 is in the future"
    And the case is in state plan_agreed

  Scenario: A birth weight the form does not accept is refused as invalid
    Given the case has reached plan_agreed
    When the hospital takes record_birth with:
      | field              | value |
      | birth_weight_grams | 120   |
    Then the action is refused as invalid
    And the action is refused because "birth_weight_grams"

  Scenario: With a plan in place and no safety concern, CPS is notified without an investigation
    Given the case has reached born_with_plan
    When the hospital takes notify_cps
    Then the case is in state notified
    And the capta_notification deadline is met

  Scenario: A safety concern at notification starts a CPS assessment even with a plan
    Given the case has reached born_with_plan
    When the hospital takes notify_cps with:
      | field          | value                                   |
      | safety_concern | yes                                     |
      | details        | Parent arrived intoxicated for feeding. |
    Then the case is in state cps_assessment
    And the capta_notification deadline is met
    And the plan_before_discharge deadline is not open

  Scenario: The CAPTA notification is the hospital's to make within 48 hours
    Given the case has reached born_with_plan
    Then the worklist of the hospital shows capta_notification
    When 49 hours pass
    Then the capta_notification deadline is overdue
    When the deadlines are processed
    Then the capta_notification deadline is missed
    And the worklist of the cps worker shows escalation:capta_notification

  Scenario: A referral to early intervention meets the early-intervention deadline
    Given the case has reached born_with_plan
    When 2 days pass
    And the hospital takes record_referral with:
      | field    | value              |
      | service  | early_intervention |
      | provider | Part C program     |
    Then the case is in state born_with_plan
    And the early_intervention_referral deadline is met

  Scenario: A referral to home visiting does not meet the early-intervention deadline
    Given the case has reached born_with_plan
    When the peer mentor takes record_referral with:
      | field    | value                 |
      | service  | home_visiting         |
      | provider | Nurse-Family Partners |
    Then the action succeeds
    And the early_intervention_referral deadline is open

  Scenario: No early-intervention referral within 7 days escalates to CPS
    Given the case has reached born_with_plan
    When 8 days pass
    Then the early_intervention_referral deadline is overdue
    When the deadlines are processed
    Then the early_intervention_referral deadline is missed
    And the worklist of the cps worker shows escalation:early_intervention_referral

  Scenario: An infant who is not substance-affected opens no early-intervention deadline
    Given the case has reached plan_agreed
    When the hospital takes record_birth with:
      | field              | value |
      | substance_affected | no    |
      | withdrawal_signs   | none  |
    Then the case is in state born_with_plan
    And the early_intervention_referral deadline is not open
    And the capta_notification deadline is open

  Scenario: A service the referral form does not know is refused as invalid
    Given the case has reached born_with_plan
    When the cps worker takes record_referral with:
      | field   | value   |
      | service | daycare |
    Then the action is refused as invalid
    And the action is refused because "service"

  Scenario: After notification the infant is discharged home and follow-up begins
    Given the case has reached notified
    When the hospital takes discharge
    Then the case is in state follow_up
    And the newborn_visit deadline is open
    And the follow_up_30 deadline is open
    And the follow_up_90 deadline is open

  Scenario: With a plan in place the infant may be discharged from a CPS assessment
    Given the case has reached born_with_plan
    And the hospital has taken notify_cps with:
      | field          | value |
      | safety_concern | yes   |
    When the hospital takes discharge
    Then the case is in state follow_up

  Scenario: The infant is not discharged before CPS is notified
    Given the case has reached born_with_plan
    When the hospital takes discharge
    Then the action is refused as not available
    And the case is in state born_with_plan

  Scenario: A discharge dated before the birth is refused
    Given the case has reached notified
    When the hospital takes discharge with:
      | field         | value     |
      | discharged_on | yesterday |
    Then the action is refused because "the discharge date 2026-11-01 is before the time of birth 2026-11-02"
    And the case is in state notified

  Scenario: The plan after birth describes the infant, without toxicology for CPS
    Given the case has reached born_with_plan
    Then the plan of safe care for the cps worker says "Withdrawal signs"
    And the plan of safe care for the cps worker says "3200 g"
    And the plan of safe care for the cps worker does not say "Infant toxicology"
    And the plan of safe care for the treatment provider says "Infant toxicology"

  Scenario: A safety concern recorded at birth leads to a CPS assessment whatever the notification says
    Given the case has reached plan_agreed
    And the hospital has taken record_birth with:
      | field                  | value                        |
      | safety_concern         | yes                          |
      | safety_concern_details | no safe place to go home to  |
    When the hospital takes notify_cps with:
      | field          | value |
      | safety_concern | no    |
    Then the case is in state cps_assessment
