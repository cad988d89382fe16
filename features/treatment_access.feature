Feature: Treatment access
  A parent identified in pregnancy reaches treatment fast: admission within 7 days, ideally 72 hours; while waiting
  for a place, interim services start within 48 hours. A parent who stops attending is helped back within a week,
  and a parent who declines may still be referred later.

  Background:
    Given today is 2026-11-02
    And a case opened by the prenatal clinic

  Scenario: The parent is admitted to treatment within a week
    Given the prenatal clinic has taken record_consent
    When 2 days pass
    And the treatment provider takes admit_to_treatment
    Then the case is in state in_treatment
    And the treatment_admission deadline is met

  Scenario: A provider with no consent may not know the case exists
    Then the treatment provider cannot see the case
    When the treatment provider takes admit_to_treatment
    Then the action is refused as unknown case

  Scenario: Interim services are late and escalate to CPS
    Given the prenatal clinic has taken refer_to_treatment
    When 3 days pass
    Then the interim_services deadline is overdue
    When the deadlines are processed
    Then the interim_services deadline is missed
    And the worklist of the cps worker shows escalation:interim_services

  Scenario: Opening a case starts the admission clock
    Then the case is in state identified
    And the treatment_admission deadline is open
    And the worklist of the cps worker shows treatment_admission

  Scenario: A referral makes the treatment provider the owner of the waiting-time deadlines
    When the prenatal clinic takes refer_to_treatment
    Then the case is in state referred
    And the interim_services deadline is open
    And the worklist of the treatment provider shows interim_services
    And the worklist of the treatment provider shows treatment_admission

  Scenario: Interim services started within 48 hours meet the interim services deadline
    Given the prenatal clinic has taken refer_to_treatment
    When 20 hours pass
    And the treatment provider takes record_interim_services with:
      | field    | value                         |
      | services | counselling, hiv_tb_education |
    Then the case is in state referred
    And the interim_services deadline is met
    And the treatment_admission deadline is open

  Scenario: Admission while waiting for interim services meets both waiting-time deadlines
    Given the prenatal clinic has taken refer_to_treatment
    When 30 hours pass
    And the treatment provider takes admit_to_treatment
    Then the case is in state in_treatment
    And the interim_services deadline is met
    And the treatment_admission deadline is met

  Scenario: Admission later than 7 days is overdue and escalates to CPS
    Given the prenatal clinic has taken refer_to_treatment
    When 8 days pass
    Then the treatment_admission deadline is overdue
    When the deadlines are processed
    Then the treatment_admission deadline is missed
    And the worklist of the cps worker shows escalation:treatment_admission

  Scenario: Admitting the parent late settles the escalation
    Given the prenatal clinic has taken refer_to_treatment
    When 8 days pass
    And the deadlines are processed
    And the treatment provider takes admit_to_treatment
    Then the case is in state in_treatment
    And the escalation:treatment_admission deadline is met
    And the worklist of the cps worker does not show escalation:treatment_admission

  Scenario: Only the treatment provider may admit the parent to treatment
    Given the prenatal clinic has taken record_consent
    Then the peer mentor may not take admit_to_treatment because "may not admit to treatment"
    And the treatment provider may take admit_to_treatment
    When the peer mentor takes admit_to_treatment
    Then the action is refused as not allowed
    And the case is in state identified

  Scenario: Interim services are recorded only while the parent waits for a place
    Given the case has reached in_treatment
    When the treatment provider takes record_interim_services
    Then the action is refused as not available
    And the case is in state in_treatment

  Scenario: A level of care the form does not know is refused as invalid, naming the field
    Given the prenatal clinic has taken record_consent
    When the treatment provider takes admit_to_treatment with:
      | field         | value |
      | level_of_care | detox |
    Then the action is refused as invalid
    And the action is refused because "level_of_care"
    And the case is in state identified

  Scenario: An admission dated before the identification is refused
    Given the prenatal clinic has taken record_consent
    When the treatment provider takes admit_to_treatment with:
      | field       | value      |
      | admitted_on | 3 days ago |
    Then the action is refused because "the admission date 2026-10-30 is before the identification date 2026-11-02"
    And the case is in state identified

  Scenario: An admission dated in the future is refused
    Given the prenatal clinic has taken record_consent
    When the treatment provider takes admit_to_treatment with:
      | field       | value    |
      | admitted_on | tomorrow |
    Then the action is refused because "the admission date 2026-11-03 is in the future"

  Scenario: The peer mentor records that the parent stopped attending treatment
    Given the case has reached in_treatment
    When the peer mentor takes record_disengagement
    Then the case is in state disengaged
    And the re_engagement deadline is open
    And the worklist of the treatment provider shows re_engagement

  Scenario: A parent who stopped attending is re-admitted within a week
    Given the case has reached disengaged
    When 3 days pass
    And the treatment provider takes admit_to_treatment
    Then the case is in state in_treatment
    And the re_engagement deadline is met

  Scenario: Re-engagement not achieved within a week escalates to CPS
    Given the case has reached disengaged
    When 8 days pass
    Then the re_engagement deadline is overdue
    When the deadlines are processed
    Then the re_engagement deadline is missed
    And the worklist of the cps worker shows escalation:re_engagement

  Scenario: A parent who stopped attending may decline further treatment
    Given the case has reached disengaged
    When the treatment provider takes record_declined
    Then the case is in state declined
    And the re_engagement deadline is cancelled

  Scenario: A parent who declined is referred to treatment again
    Given the cps worker has taken record_declined
    When the prenatal clinic takes refer_to_treatment
    Then the case is in state referred
    And the interim_services deadline is open

  Scenario: A parent already in treatment is not referred again
    Given the case has reached in_treatment
    When the prenatal clinic takes refer_to_treatment
    Then the action is refused as not available
    And the case is in state in_treatment

  Scenario: A due date more than 42 weeks after identification is refused when opening a case
    Given a case opened by the prenatal clinic with:
      | field    | value       |
      | due_date | in 300 days |
    Then the action is refused because "more than 294 days (42 weeks)"

  Scenario: A parent identified days before the case was entered is overdue for treatment at once
    Given a case opened by the prenatal clinic with:
      | field         | value       |
      | last_name     | Okafor      |
      | identified_on | 10 days ago |
    Then the treatment_admission deadline is overdue
    When the deadlines are processed
    Then the worklist of the cps worker shows escalation:treatment_admission

  Scenario: An admission after the planning meeting is scheduled keeps the meeting
    Given the case has reached meeting_scheduled
    When the treatment provider takes admit_to_treatment
    Then the action succeeds
    And the case is in state meeting_scheduled

  Scenario: The treatment provider records how the parent is doing in treatment
    Given the prenatal clinic has taken record_consent
    And the treatment provider has taken admit_to_treatment
    When the treatment provider takes record_treatment_progress with:
      | field            | value     |
      | status           | attending |
      | moud_adherence   | yes       |
    Then the action succeeds
    And the case is in state in_treatment
    And the treatment provider sees the field status of record_treatment_progress
    And the cps worker does not see the field status of record_treatment_progress

  Scenario: Progress in treatment needs an admission first
    Given the prenatal clinic has taken record_consent
    When the treatment provider takes record_treatment_progress
    Then the action is refused because "has not been admitted to treatment yet"
