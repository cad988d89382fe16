Feature: Follow-up after discharge
  After the infant goes home, the partners follow the family up under the plan: a pediatric visit within 72 hours, a
  postpartum contact within 3 weeks of birth, and contacts at 30 and 90 days. A safety concern after discharge is
  investigated by CPS, and the case returns to follow-up or closes on the outcome.

  Background:
    Given today is 2026-11-02
    And a case opened by the prenatal clinic
    And the case has reached follow_up

  Scenario: A pediatric visit within 72 hours meets the newborn visit deadline
    When 2 days pass
    And the cps worker takes record_follow_up with:
      | field        | value           |
      | contact_type | pediatric_visit |
    Then the case is in state follow_up
    And the newborn_visit deadline is met
    And the follow_up_30 deadline is met

  Scenario: A home visit does not meet the newborn visit deadline
    When 24 hours pass
    And the peer mentor takes record_follow_up with:
      | field        | value      |
      | contact_type | home_visit |
    Then the action succeeds
    And the newborn_visit deadline is open
    And the follow_up_30 deadline is met

  Scenario: No pediatric visit within 72 hours escalates to CPS
    When 4 days pass
    Then the newborn_visit deadline is overdue
    When the deadlines are processed
    Then the newborn_visit deadline is missed
    And the worklist of the cps worker shows escalation:newborn_visit

  Scenario: A postpartum visit meets the postpartum contact deadline
    When 10 days pass
    And the peer mentor takes record_follow_up with:
      | field        | value            |
      | contact_type | postpartum_visit |
    Then the postpartum_contact deadline is met

  Scenario: A phone call does not meet the postpartum contact deadline
    When 10 days pass
    And the peer mentor takes record_follow_up with:
      | field        | value |
      | contact_type | phone |
    Then the action succeeds
    And the postpartum_contact deadline is open

  Scenario: No postpartum contact within 3 weeks of birth escalates to CPS
    When 22 days pass
    Then the postpartum_contact deadline is overdue
    When the deadlines are processed
    Then the postpartum_contact deadline is missed
    And the worklist of the cps worker shows escalation:postpartum_contact

  Scenario: No contact within 37 days of discharge misses the 30-day follow-up
    When 38 days pass
    And the deadlines are processed
    Then the follow_up_30 deadline is missed
    And the worklist of the cps worker shows escalation:follow_up_30

  Scenario: A treatment check-in counts as the 30-day follow-up
    When 28 days pass
    And the treatment provider takes record_follow_up with:
      | field        | value              |
      | contact_type | treatment_check_in |
    Then the follow_up_30 deadline is met

  Scenario: A contact after day 83 meets the 90-day follow-up
    When 84 days pass
    And the peer mentor takes record_follow_up
    Then the follow_up_90 deadline is met

  Scenario: An early contact does not meet the 90-day follow-up
    When 30 days pass
    And the peer mentor takes record_follow_up
    Then the follow_up_30 deadline is met
    And the follow_up_90 deadline is open

  Scenario: No contact by day 104 misses the 90-day follow-up
    When 105 days pass
    Then the follow_up_90 deadline is overdue
    When the deadlines are processed
    Then the follow_up_90 deadline is missed
    And the worklist of the cps worker shows escalation:follow_up_90

  Scenario: A contact dated before discharge is refused
    When the peer mentor takes record_follow_up with:
      | field      | value     |
      | contact_on | yesterday |
    Then the action is refused because "the contact date 2026-11-01 is before the discharge date 2026-11-02"
    And the newborn_visit deadline is open

  Scenario: A contact dated in the future is refused
    When the peer mentor takes record_follow_up with:
      | field      | value    |
      | contact_on | tomorrow |
    Then the action is refused because "the contact date 2026-11-03 is in the future"

  Scenario: A contact type the form does not know is refused as invalid
    When the peer mentor takes record_follow_up with:
      | field        | value        |
      | contact_type | text_message |
    Then the action is refused as invalid
    And the action is refused because "contact_type"

  Scenario: Hospital staff do not record follow-up contacts
    When the hospital takes record_follow_up
    Then the action is refused as not allowed

  Scenario: The plan is updated during follow-up as a new version
    When 14 days pass
    And the cps worker takes update_plan
    Then the case is in state follow_up
    And the plan of safe care for the cps worker says "version 2 of 2"

  Scenario: A further service referral is recorded during follow-up
    When the treatment provider takes record_referral with:
      | field    | value                    |
      | service  | mental_health            |
      | provider | County Behavioral Health |
    Then the action succeeds
    And the case is in state follow_up

  Scenario: A safety concern after discharge opens an investigation
    When 5 days pass
    And the peer mentor takes report_safety_concern with:
      | field       | value                                        |
      | description | Infant left alone with an intoxicated adult. |
    Then the case is in state investigation
    And the follow_up_90 deadline is open

  Scenario: An investigation that finds no concern returns the case to follow-up
    Given the cps worker has taken report_safety_concern
    When the cps worker takes conclude_investigation with:
      | field     | value      |
      | outcome   | no_concern |
      | ends_case | no         |
    Then the case is in state follow_up

  Scenario: An investigation that ends the case closes it
    Given the cps worker has taken report_safety_concern
    When the cps worker takes conclude_investigation with:
      | field     | value   |
      | outcome   | removal |
      | ends_case | yes     |
    Then the case is in state closed
    And the follow_up_90 deadline is cancelled
    And the monitoring_period deadline is met

  Scenario: Only CPS concludes an investigation
    Given the hospital has taken report_safety_concern
    Then the hospital may not take conclude_investigation because "may not conclude the investigation"
    When the hospital takes conclude_investigation
    Then the action is refused as not allowed
    And the case is in state investigation

  Scenario: Follow-up goes on during an investigation
    Given the cps worker has taken report_safety_concern
    When the peer mentor takes record_follow_up
    Then the action succeeds
    And the case is in state investigation
