Feature: Corrections and one open case per pregnancy
  Caseworkers make mistakes and learn things late: a misspelt name, a due date moved by an ultrasound, a family that
  moves to another county. The lead CPS office, or the organisation that identified the parent, corrects the
  identification and says why. The case's history keeps what was replaced; the hospital lookup, the deadlines and the
  planning window follow the corrected values at once.

  Background:
    Given today is 2026-11-02

  Scenario: A misspelt last name is corrected and the hospital finds the parent by the right one
    Given a case opened by the prenatal clinic with:
      | field     | value  |
      | last_name | Rivrea |
    When the cps worker takes amend_identification with:
      | field     | value                                              |
      | last_name | Rivera                                             |
      | reason    | misspelt at intake; checked against the parent's ID |
    Then the action succeeds
    When the hospital looks up "Rivera" born 1996-04-12
    Then the lookup finds the case with a plan in place: no
    When the hospital looks up "Rivrea" born 1996-04-12
    Then the lookup finds nothing

  Scenario: A due date corrected by an ultrasound moves the planning meeting deadline
    Given a case opened by the prenatal clinic with:
      | field    | value       |
      | due_date | in 120 days |
    Then the planning_meeting deadline is waiting to open
    When the cps worker takes amend_identification with:
      | field    | value                   |
      | due_date | in 20 days              |
      | reason   | dating ultrasound today |
    Then the planning_meeting deadline is open

  Scenario: A correction that changes nothing is refused
    Given a case opened by the prenatal clinic
    And the cps worker has taken amend_identification
    When the cps worker takes amend_identification
    Then the action is refused because "the correction changes nothing"

  Scenario: Only the lead CPS office or the organisation that identified the parent corrects the identification
    Given a case opened by the prenatal clinic
    And the prenatal clinic has taken record_consent
    When the peer mentor takes amend_identification
    Then the action is refused because "only the organisation that is the lead CPS office"
    When the prenatal clinic takes amend_identification
    Then the action succeeds

  Scenario: A parent with an open case is not given a second one
    Given a case opened by the prenatal clinic
    When the prenatal clinic opens a case for the same parent
    Then the action is refused because "a case is already open for this parent"
    When the prenatal clinic opens a case for the same parent, for a new pregnancy
    Then the action succeeds

  Scenario: An escalation caused by a mistaken identification date is withdrawn when the date is corrected
    Given a case opened by the prenatal clinic with:
      | field         | value       |
      | identified_on | 90 days ago |
      | due_date      | in 120 days |
    When the deadlines are processed
    Then the treatment_admission deadline is missed
    And the worklist of the cps worker shows escalation:treatment_admission
    When the cps worker takes amend_identification with:
      | field         | value                                   |
      | identified_on | today                                   |
      | reason        | identified today; the month was mistyped |
    Then the treatment_admission deadline is open
    And the worklist of the cps worker does not show escalation:treatment_admission
