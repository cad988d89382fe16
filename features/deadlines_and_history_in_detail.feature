Feature: Deadlines and the case history, in detail
  Program leads ask more than whether a deadline was met: whether it was met on its target (72 hours for an
  admission) or only in time (7 days), and when it falls due. A step that is refused leaves no trace in the case
  history, and what each partner sees of the case is exactly what was recorded.

  Background:
    Given today is 2026-11-02
    And a case opened by the prenatal clinic

  Scenario: The admission clock falls due a week after identification
    Then the treatment_admission deadline is due in 7 days
    And the treatment_admission deadline is due on 2026-11-09

  Scenario: Admitted within 72 hours, the deadline is met on its target
    Given the prenatal clinic has taken record_consent
    When 2 days pass
    And the treatment provider takes admit_to_treatment
    Then the treatment_admission deadline was met on target

  Scenario: Admitted on the sixth day, the deadline is met late but in time
    Given the prenatal clinic has taken record_consent
    When 6 days pass
    And the treatment provider takes admit_to_treatment
    Then the treatment_admission deadline was met late
    And the treatment_admission deadline is met

  Scenario: A refused admission records nothing
    When the hospital takes admit_to_treatment
    Then the action is refused as not allowed
    And nothing new is recorded in the case's history

  Scenario: A refusal is matched whatever the case of its words
    When the hospital takes notify_cps
    Then the action is refused because "NOT AVAILABLE"
    And the case's history is unchanged

  Scenario: Partners see the values that were recorded
    Given the prenatal clinic has taken record_consent
    When the treatment provider takes admit_to_treatment with:
      | field | value           |
      | moud  | buprenorphine   |
    Then the treatment provider sees the field substances as "opioids"
    And the treatment provider sees the field moud of admit_to_treatment as "Buprenorphine"

  Scenario: A time of birth may carry its offset from UTC
    Given the case has reached plan_agreed
    When the hospital takes record_birth with:
      | field   | value                     |
      | born_at | 2026-11-02T08:30:00-05:00 |
    Then the action succeeds
    And the hospital sees the field born_at of record_birth as "2026-11-02T08:30:00-05:00"

  Scenario: Each partner sees as much of where the case is as it needs
    Given the prenatal clinic has taken record_consent
    And the treatment provider has taken admit_to_treatment
    Then the treatment provider sees the case in state in_treatment
    And the hospital sees the case in phase prenatal
    And the hospital does not see the case's state

  Scenario: The planning meeting's invitees are given one row each
    Given the prenatal clinic has taken record_consent
    And the treatment provider has taken admit_to_treatment
    When the cps worker takes schedule_planning_meeting with invitees:
      | role      | organisation    |
      | cps       | county-cps      |
      | treatment | recovery-clinic |
      | parent    |                 |
    Then the action succeeds
    And the cps worker sees the field invitees of schedule_planning_meeting as "cps county-cps, treatment recovery-clinic, parent"

  Scenario: Another hospital cannot read the case, but its delivery check finds it
    Then the hospital sees the case in phase prenatal
    And another hospital cannot see the case
    When another hospital looks up "Rivera" born 1996-04-12
    Then the lookup finds the case with a plan in place: no
