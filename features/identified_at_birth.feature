Feature: Identification at birth
  Most infants affected by substance exposure are first identified at delivery, not before birth. Hospital staff
  open their case at delivery: who the parent is and the birth, in one step. The case starts in the birth phase, on
  the CAPTA notification clock from the time of birth, and the lead CPS office has a plan to agree before discharge.
  No prenatal clock (consent, treatment admission, planning meeting) opens for it.

  Background:
    Given today is 2026-11-02

  Scenario: Hospital staff open a case at delivery
    When the hospital opens a case at delivery
    Then the action succeeds
    And the case is in state born_without_plan
    And the capta_notification deadline is open
    And the plan_before_discharge deadline is open
    And the treatment_admission deadline is not open
    And the consent deadline is not open
    And the planning_meeting deadline is not open
    And the worklist of the cps worker shows plan_before_discharge

  Scenario: A birth entered days later is overdue for notification at once
    When the hospital opens a case at delivery with:
      | field          | value               |
      | identified_on  | 3 days ago          |
      | born_at        | 3 days ago at 22:00 |
    Then the action succeeds
    And the capta_notification deadline is overdue

  Scenario: The pathway goes on as for any birth without a plan
    When the hospital opens a case at delivery
    And the hospital takes notify_cps
    Then the case is in state cps_assessment
    And the capta_notification deadline is met
    When the cps worker takes record_plan_at_birth
    Then the plan_before_discharge deadline is met
    And the hospital may take discharge

  Scenario: Only hospital staff open a case at delivery
    When the cps worker opens a case at delivery
    Then the action is refused as not allowed

  Scenario: A case opened before birth cannot say the hospital identified the parent
    Given a case opened by the prenatal clinic with:
      | field         | value    |
      | identified_by | hospital |
    Then the action is refused because "kept for cases opened with the birth"

  Scenario: The birth's own rules hold at delivery
    When the hospital opens a case at delivery with:
      | field    | value             |
      | born_at  | tomorrow at 09:00 |
    Then the action is refused because "is in the future"

  Scenario: A parent whose case the hospital can find is not opened twice
    Given a case opened by the prenatal clinic
    When the hospital opens a case at delivery
    Then the action is refused because "a case is already open for this parent"

  Scenario: The lookup at delivery finds a case opened at delivery, without a plan
    When the hospital opens a case at delivery
    And the hospital looks up "Rivera" born 1996-04-12
    Then the lookup finds the case with a plan in place: no
