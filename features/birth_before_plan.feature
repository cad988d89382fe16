Feature: Birth before a plan is agreed
  An infant born before the Plan of Safe Care was agreed (early, before the planning meeting, or after the parent
  declined) is still notified to CPS, who assess the family and agree a plan at the hospital within 5 days. The
  hospital does not discharge the infant without a Plan of Safe Care.

  Background:
    Given today is 2026-11-02
    And a case opened by the prenatal clinic

  Scenario: An infant born before any plan starts the plan-before-discharge clock
    When the hospital takes record_birth
    Then the case is in state born_without_plan
    And the plan_before_discharge deadline is open
    And the capta_notification deadline is open
    And the worklist of the cps worker shows plan_before_discharge

  Scenario: A birth while the meeting is only scheduled is a birth without a plan
    Given the case has reached meeting_scheduled
    When the hospital takes record_birth
    Then the case is in state born_without_plan
    And the planning_meeting deadline is cancelled

  Scenario: A birth during treatment, before a plan, is a birth without a plan
    Given the case has reached in_treatment
    When the hospital takes record_birth
    Then the case is in state born_without_plan

  Scenario: CPS is still notified at the birth of an infant whose parent declined
    Given the cps worker has taken record_declined
    When the hospital takes record_birth
    Then the case is in state born_without_plan
    And the capta_notification deadline is open
    When the hospital takes notify_cps
    Then the case is in state cps_assessment
    And the capta_notification deadline is met

  Scenario: Without a plan, notification starts a CPS assessment even with no safety concern
    Given the case has reached born_without_plan
    When the hospital takes notify_cps with:
      | field          | value |
      | safety_concern | no    |
    Then the case is in state cps_assessment

  Scenario: Discharge is refused without a plan
    Given the case has reached born_without_plan
    And the hospital has taken notify_cps
    Then the hospital may not take discharge because "no discharge without a Plan of Safe Care"
    When the hospital takes discharge
    Then the action is refused because "no discharge without a Plan of Safe Care"
    And the case is in state cps_assessment

  Scenario: A plan agreed at the hospital meets the deadline and allows discharge
    Given the case has reached born_without_plan
    And the hospital has taken notify_cps
    When 24 hours pass
    And the cps worker takes record_plan_at_birth
    Then the case is in state cps_assessment
    And the plan_before_discharge deadline is met
    And the hospital may take discharge
    When the hospital takes discharge
    Then the case is in state follow_up

  Scenario: The plan at birth is recorded once CPS is assessing
    Given the case has reached born_without_plan
    When the cps worker takes record_plan_at_birth
    Then the action is refused as not available
    And the case is in state born_without_plan

  Scenario: Only CPS records the plan at birth
    Given the case has reached born_without_plan
    And the hospital has taken notify_cps
    When the hospital takes record_plan_at_birth
    Then the action is refused as not allowed

  Scenario: No plan within 5 days of birth escalates to CPS
    Given the case has reached born_without_plan
    And the hospital has taken notify_cps
    When 6 days pass
    Then the plan_before_discharge deadline is overdue
    When the deadlines are processed
    Then the plan_before_discharge deadline is missed
    And the worklist of the cps worker shows escalation:plan_before_discharge

  Scenario: A plan cannot be updated before one exists
    Given the case has reached born_without_plan
    And the hospital has taken notify_cps
    When the cps worker takes update_plan
    Then the action is refused because "no Plan of Safe Care has been recorded for this case yet"

  Scenario: The plan agreed at birth is updated as a new version
    Given the case has reached cps_assessment
    When the cps worker takes update_plan with:
      | field                 | value                                                   |
      | discharge_arrangement | Home with grandmother while parent in residential care. |
    Then the case is in state cps_assessment
    And the plan of safe care for the cps worker says "version 2 of 2"
    And the plan of safe care for the cps worker says "Home with grandmother while parent in residential care."

  Scenario: An early-intervention referral is made while CPS is assessing
    Given the case has reached cps_assessment
    When the cps worker takes record_referral
    Then the case is in state cps_assessment
    And the early_intervention_referral deadline is met
