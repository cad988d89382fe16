Feature: Planning meeting
  In the 30 days before the due date the parent meets CPS and the partners who carry her case and agrees the Plan
  of Safe Care: services for the infant and for the parent or caregiver. The meeting needs the parent's consent to
  share information between the lead CPS office and the treatment provider, and the parent must take part.

  Background:
    Given today is 2026-11-02
    And a case opened by the prenatal clinic

  Scenario: The planning meeting is scheduled within the 30 days before the due date
    Given a case opened by the prenatal clinic with:
      | field     | value       |
      | last_name | Okafor      |
      | due_date  | in 120 days |
    And the case has reached in_treatment
    When the cps worker takes schedule_planning_meeting with:
      | field        | value                       |
      | meeting_date | 20 days before the due date |
    Then the case is in state meeting_scheduled
    And the planning_meeting deadline is waiting to open

  Scenario: A meeting on the first day of the planning window is accepted
    Given the case has reached in_treatment
    When the cps worker takes schedule_planning_meeting with:
      | field        | value                       |
      | meeting_date | 30 days before the due date |
    Then the action succeeds
    And the case is in state meeting_scheduled

  Scenario: A meeting outside the planning window is refused
    Given the case has reached in_treatment
    When the cps worker takes schedule_planning_meeting with:
      | field        | value                       |
      | meeting_date | 40 days before the due date |
    Then the action is refused because "is outside the planning window"
    And the case is in state in_treatment

  Scenario: A meeting after the due date is refused
    Given the case has reached in_treatment
    When the cps worker takes schedule_planning_meeting with:
      | field        | value                     |
      | meeting_date | 3 days after the due date |
    Then the action is refused because "is outside the planning window"

  Scenario: A meeting cannot be scheduled without consent covering CPS and the treatment provider
    Given the prenatal clinic has taken refer_to_treatment
    When the cps worker takes schedule_planning_meeting
    Then the action is refused because "no active consent covers county-cps"
    And the action is refused because "no active consent covers recovery-clinic"
    And the case is in state referred

  Scenario: Once consent is recorded the meeting can be scheduled for a referred parent
    Given the prenatal clinic has taken refer_to_treatment
    And the prenatal clinic has taken record_consent
    When the cps worker takes schedule_planning_meeting
    Then the case is in state meeting_scheduled

  Scenario: The treatment provider may schedule the meeting
    Given the case has reached in_treatment
    When the treatment provider takes schedule_planning_meeting
    Then the case is in state meeting_scheduled

  Scenario: The prenatal clinic may not schedule the meeting
    Given the case has reached in_treatment
    Then the prenatal clinic may not take schedule_planning_meeting because "may not schedule the planning meeting"
    When the prenatal clinic takes schedule_planning_meeting
    Then the action is refused as not allowed

  Scenario: A meeting is still offered to a parent who declined treatment
    Given the prenatal clinic has taken record_consent
    And the cps worker has taken record_declined
    When the peer mentor takes schedule_planning_meeting
    Then the case is in state meeting_scheduled

  Scenario: The plan agreed at the meeting meets the planning meeting deadline
    Given the case has reached meeting_scheduled
    When the cps worker takes record_planning_meeting
    Then the case is in state plan_agreed
    And the planning_meeting deadline is met
    And the plan of safe care for the cps worker says "version 1 of 1"

  Scenario: A plan agreed without the parent taking part is refused
    Given the case has reached meeting_scheduled
    When the cps worker takes record_planning_meeting with:
      | field               | value |
      | parent_participated | no    |
    Then the action is refused because "the parent did not take part in the planning meeting"
    And the case is in state meeting_scheduled

  Scenario: A plan with no service for the infant is refused
    Given the case has reached meeting_scheduled
    When the cps worker takes record_planning_meeting with:
      | field           | value |
      | infant_services | none  |
    Then the action is refused because "the plan lists no service for the infant"
    And the case is in state meeting_scheduled

  Scenario: A plan with no service for the caregiver is refused
    Given the case has reached meeting_scheduled
    When the cps worker takes record_planning_meeting with:
      | field              | value |
      | caregiver_services | none  |
    Then the action is refused because "the plan lists no service for the caregiver"

  Scenario: Only CPS records the agreed plan
    Given the case has reached meeting_scheduled
    Then the treatment provider may not take record_planning_meeting because "may not record the planning meeting"
    When the treatment provider takes record_planning_meeting
    Then the action is refused as not allowed
    And the case is in state meeting_scheduled

  Scenario: A plan cannot be recorded before the meeting is scheduled
    Given the case has reached in_treatment
    When the cps worker takes record_planning_meeting
    Then the action is refused as not available

  Scenario: A second meeting is not scheduled once the plan is agreed
    Given the case has reached plan_agreed
    When the cps worker takes schedule_planning_meeting
    Then the action is refused as not available
    And the case is in state plan_agreed

  Scenario: An agreed plan is updated before birth as a new version
    Given the case has reached plan_agreed
    When 7 days pass
    And the cps worker takes update_plan with:
      | field                 | value                                          |
      | safety_considerations | Safe sleep in a crib; medication in a lockbox. |
    Then the case is in state plan_agreed
    And the plan of safe care for the cps worker says "version 2 of 2"
    And the plan of safe care for the cps worker says "Safe sleep in a crib; medication in a lockbox."

  Scenario: The planning meeting appears on the CPS worklist when the planning window opens
    Given a case opened by the prenatal clinic with:
      | field     | value       |
      | last_name | Okafor      |
      | due_date  | in 120 days |
    Then the worklist of the cps worker does not show planning_meeting
    When it is 31 days before the due date
    Then the worklist of the cps worker does not show planning_meeting
    When it is 30 days before the due date
    Then the worklist of the cps worker shows planning_meeting

  Scenario: A parent identified late is already in the planning window
    Given a case opened by the prenatal clinic with:
      | field     | value      |
      | last_name | Okafor     |
      | due_date  | in 20 days |
    Then the worklist of the cps worker shows planning_meeting
    And the planning_meeting deadline is open

  Scenario: No plan agreed by the due date escalates the planning meeting
    Given the case has reached in_treatment
    When it is 1 day after the due date
    Then the planning_meeting deadline is overdue
    When the deadlines are processed
    Then the planning_meeting deadline is missed
    And the worklist of the cps worker shows escalation:planning_meeting

  Scenario: A planning meeting cannot be recorded with a date still to come
    Given the case has reached meeting_scheduled
    When the cps worker takes record_planning_meeting with:
      | field        | value    |
      | meeting_date | tomorrow |
    Then the action is refused because "is in the future"
    And the case is in state meeting_scheduled
