Feature: The pathway in plain words, with partners set up from a table
  Analysts say what partners do the way partners say it: the hospital records the birth, the parent signs the
  consent, the plan was agreed by the cps worker. Each sentence takes the same action as "takes record_birth", by the
  person it names or, when it names nobody, by the person who usually does it. Partners beyond the standard ones (a
  second CPS office, a named worker) are set up from a table and act by name.

  Background:
    Given today is 2026-11-02
    And a case opened by the prenatal clinic

  Scenario: From consent to an agreed plan, said as partners say it
    Given the parent has signed the universal consent
    And the prenatal clinic has referred the parent to treatment
    And the parent was admitted to treatment by the treatment provider
    When the cps worker schedules the planning meeting with:
      | field        | value                       |
      | meeting_date | 10 days before the due date |
    And 10 days pass
    And the planning meeting is recorded by the cps worker
    Then the case is in state plan_agreed
    And the plan has not been updated
    And the parent has been admitted to treatment by the treatment provider
    And the planning_meeting deadline is met

  Scenario: A sentence that names nobody is taken by the person who usually does it
    Given the consent has been recorded
    When the parent is referred to treatment
    Then the parent has been referred to treatment by the prenatal clinic
    When the treatment provider admits the parent to treatment
    Then the case is in state in_treatment

  Scenario: The wrong person is refused, whatever the wording
    Given the universal consent has been recorded by the prenatal clinic
    When the parent is admitted to treatment by the peer mentor
    Then the action is refused as not allowed
    And nothing new is recorded in the case's history
    And the parent has not been admitted to treatment

  Scenario: A worker of a second CPS office sees nothing of another office's case
    Given these organisations:
      | id         | name              | kind |
      | harbor-cps | Harbor County CPS | cps  |
    And these users:
      | name      | role | organisation |
      | Dana Cruz | cps  | harbor-cps   |
      | Lee Park  | cps  |              |
    When the parent signs the universal consent
    Then Dana Cruz cannot see the case
    And Lee Park sees the case in phase prenatal
    And the accounting of disclosures does not show Dana Cruz

  Scenario: A named worker acts for the standard CPS office
    Given these users:
      | name     | role       |
      | Lee Park | cps worker |
    And the parent has signed the universal consent
    When Lee Park records a safety concern
    Then the action is refused because "not available in state identified"
    When Lee Park schedules the planning meeting with:
      | field        | value                       |
      | meeting_date | 10 days before the due date |
    Then the planning meeting has been scheduled by Lee Park

  Scenario: The accounting of disclosures gives who read what, at which tiers
    Given the parent has signed the universal consent
    Then the hospital sees the case at tiers "status, plan"
    When the hospital looks up "Rivera" born 1996-04-12
    Then the accounting of disclosures shows the hospital reading "view" at tiers "status, plan"
    And the accounting of disclosures shows:
      | who          | what   | tiers        |
      | the hospital | view   | status, plan |
      | the hospital | lookup | status       |
    And the accounting of disclosures does not show the peer mentor reading "document"
    And the accounting of disclosures does not show the peer mentor
    And the hospital cannot see the accounting of disclosures

  Scenario: The lookup gives whom to call, and only hospital and CPS staff may look up
    Given the case has reached plan_agreed
    When the hospital looks up "Rivera" born 1996-04-12
    Then the lookup finds 1 case
    And the lookup finds the case with a plan in place: yes
    And the lookup gives the lead contact as "County Child Protective Services"
    When the treatment provider looks up "Rivera" born 1996-04-12
    Then the lookup is refused

  Scenario: The birth, said in each tense
    Given the parent has signed the universal consent
    And the parent has been admitted to treatment by the treatment provider
    When the birth is recorded by the hospital
    Then the birth has been recorded
    And the case is in state born_without_plan
    And the capta_notification deadline is open

  Scenario: The time of birth, in the jurisdiction's time or with its offset
    Given the hospital recorded the birth with:
      | field   | value              |
      | born_at | today at 00:40 |
    Then the hospital sees the case in phase birth
    And the capta_notification deadline is due in 2 days

  Scenario: A birth recorded earlier, by whom and as what
    Given the birth has been recorded by the hospital with:
      | field             | value |
      | gestational_weeks | 35    |
    Then the cps worker sees the field gestational_weeks of record_birth as "35"
    And the birth has been recorded by the hospital

  Scenario: A birth recorded before the scenario starts, with or without who recorded it
    Given the birth was recorded by the hospital with:
      | field   | value                |
      | born_at | today at 02:15-05:00 |
    Then the cps worker sees the case in phase birth
    When the birth is recorded by the hospital with:
      | field   | value          |
      | born_at | today at 06:40 |
    Then the action is refused as not available

  Scenario: Steps that name nobody are taken by the usual person
    Given the birth was recorded
    Then the birth has been recorded by the hospital
    And the case is in state born_without_plan

  Scenario: A birth the hospital recorded before the scenario starts
    Given the hospital recorded the birth
    Then the hospital may take notify_cps

  Scenario: Scheduling the planning meeting, said three ways
    Given the parent has signed the universal consent
    And the cps worker has scheduled the planning meeting with:
      | field        | value                       |
      | meeting_date | 20 days before the due date |
    Then the case is in state meeting_scheduled
    When the planning meeting is scheduled with:
      | field        | value                       |
      | meeting_date | 12 days before the due date |
    Then the action is refused as not available

  Scenario: A meeting scheduled before the scenario starts
    Given the parent has signed the universal consent
    And the planning meeting was scheduled with:
      | field        | value                       |
      | meeting_date | 15 days before the due date |
    Then the planning meeting has been scheduled by the cps worker
    And the planning_meeting deadline is open

  Scenario: A correction to the identification, said in the passive
    Given the identification has been corrected with:
      | field     | value       |
      | last_name | Rivera-Diaz |
    Then the cps worker sees the field last_name as "Rivera-Diaz"

  Scenario: What each partner may do now, and a step someone tries anyway
    Given the parent has signed the universal consent
    And the birth is recorded by the hospital
    Then the hospital may notify cps
    And the peer mentor may not admit the parent to treatment
    When the hospital tries to discharge the infant
    Then the action is refused as not available
    And the infant has not been discharged
    When the peer mentor tries to record a follow-up contact with:
      | field        | value      |
      | contact_type | home_visit |
    Then the action is refused as not available
    And nothing new is recorded in the case's history
