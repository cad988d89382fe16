Feature: Closing a case
  CPS closes a case when the plan is completed (after the 90-day follow-up), when the parent declined, when the
  family moves to another jurisdiction, or on another reason; a pregnancy loss closes it too. A closed case takes no
  more actions, and its open deadlines and escalations are cancelled.

  Background:
    Given today is 2026-11-02
    And a case opened by the prenatal clinic

  Scenario: A completed plan cannot be closed before the 90-day follow-up
    Given the case has reached follow_up
    When 30 days pass
    And the peer mentor takes record_follow_up
    And the cps worker takes close_case with:
      | field  | value          |
      | reason | plan_completed |
    Then the action is refused because "the 90-day follow-up is not met yet"
    And the case is in state follow_up

  Scenario: A completed plan is closed after the 90-day follow-up
    Given the case has reached follow_up
    When 84 days pass
    And the peer mentor takes record_follow_up
    And the cps worker takes close_case with:
      | field  | value          |
      | reason | plan_completed |
    Then the case is in state closed
    And the follow_up_90 deadline is met
    And the monitoring_period deadline is met

  Scenario: A family that moves away is closed before the 90-day follow-up, cancelling its deadlines
    Given the case has reached follow_up
    When 2 days pass
    And the cps worker takes close_case with:
      | field  | value      |
      | reason | moved_away |
    Then the case is in state closed
    And the newborn_visit deadline is cancelled
    And the postpartum_contact deadline is cancelled
    And the early_intervention_referral deadline is cancelled
    And the follow_up_30 deadline is cancelled
    And the follow_up_90 deadline is cancelled
    And the worklist of the cps worker does not show follow_up_90

  Scenario: Closing a case cancels its escalations
    Given the case has reached follow_up
    When 4 days pass
    And the deadlines are processed
    Then the worklist of the cps worker shows escalation:newborn_visit
    When the cps worker takes close_case with:
      | field  | value                                        |
      | reason | other                                        |
      | notes  | Family re-housed out of state; contact lost. |
    Then the case is in state closed
    And the escalation:newborn_visit deadline is cancelled
    And the worklist of the cps worker does not show escalation:newborn_visit

  Scenario: The case of a parent who declined is closed
    Given the cps worker has taken record_declined
    When the cps worker takes close_case with:
      | field  | value           |
      | reason | parent_declined |
    Then the case is in state closed
    And the treatment_admission deadline is cancelled
    And the planning_meeting deadline is cancelled
    And the consent deadline is cancelled

  Scenario: A case in treatment is not closed; it is transferred or followed to birth
    Given the case has reached in_treatment
    When the cps worker takes close_case
    Then the action is refused as not available
    And the case is in state in_treatment

  Scenario: Only CPS closes a case
    Given the cps worker has taken record_declined
    When the hospital takes close_case
    Then the action is refused as not allowed
    And the case is in state declined

  Scenario: A pregnancy loss closes the case and cancels its deadlines
    Given the prenatal clinic has taken refer_to_treatment
    When the prenatal clinic takes record_pregnancy_loss
    Then the case is in state closed
    And the treatment_admission deadline is cancelled
    And the interim_services deadline is cancelled
    And the consent deadline is cancelled
    And the planning_meeting deadline is cancelled
    And the worklist of the treatment provider does not show interim_services

  Scenario: A pregnancy loss is not recorded after the birth
    Given the case has reached born_with_plan
    When the cps worker takes record_pregnancy_loss
    Then the action is refused as not available
    And the case is in state born_with_plan

  Scenario: A family moving before birth is transferred to the new jurisdiction
    Given the case has reached in_treatment
    When the cps worker takes transfer_out with:
      | field                  | value                    |
      | receiving_jurisdiction | Essex County, New Jersey |
    Then the case is in state closed
    And the planning_meeting deadline is cancelled

  Scenario: A family moving right after the birth is transferred and the hospital's deadlines cancelled
    Given the case has reached born_without_plan
    When the cps worker takes transfer_out
    Then the case is in state closed
    And the capta_notification deadline is cancelled
    And the plan_before_discharge deadline is cancelled
    And the early_intervention_referral deadline is cancelled
    And the worklist of the hospital does not show capta_notification

  Scenario: An infant still followed after 12 months escalates the monitoring period
    Given the case has reached follow_up
    When 366 days pass
    Then the monitoring_period deadline is overdue
    When the deadlines are processed
    Then the monitoring_period deadline is missed
    And the worklist of the cps worker shows escalation:monitoring_period

  Scenario: A family moving after discharge is transferred and its follow-up cancelled
    Given the case has reached follow_up
    When the cps worker takes transfer_out
    Then the case is in state closed
    And the follow_up_90 deadline is cancelled
    And the monitoring_period deadline is cancelled

  Scenario: Only CPS transfers a case
    Given the case has reached in_treatment
    Then the prenatal clinic may not take transfer_out because "may not transfer to another jurisdiction"
    When the prenatal clinic takes transfer_out
    Then the action is refused as not allowed

  Scenario: A transfer without the receiving jurisdiction is refused as invalid
    Given the case has reached in_treatment
    When the cps worker takes transfer_out with:
      | field                  | value |
      | receiving_jurisdiction |       |
    Then the action is refused as invalid
    And the action is refused because "receiving_jurisdiction"
    And the case is in state in_treatment

  Scenario: A closed case takes no more actions
    Given the case has reached closed
    When the cps worker takes update_plan
    Then the action is refused as not available
    When the cps worker takes transfer_out
    Then the action is refused as not available
    And the case is in state closed
