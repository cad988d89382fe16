Feature: Consent and disclosure
  The parent signs one universal consent naming the partner organisations and the kinds of information they may
  share. Each organisation sees only the tiers of the case it is named for or that the consent covers; substance use
  treatment records (42 CFR Part 2) go only to the treating provider and to those the consent names for treatment.
  Revoking the consent stops sharing at once.

  Background:
    Given today is 2026-11-02
    And a case opened by the prenatal clinic

  Scenario: Consent is due within 14 days of opening the case
    Then the consent deadline is open
    And the worklist of the cps worker shows consent
    When 3 days pass
    And the prenatal clinic takes record_consent
    Then the action succeeds
    And the consent deadline is met
    And the worklist of the cps worker does not show consent

  Scenario: Consent not recorded within 14 days escalates to CPS
    When 15 days pass
    Then the consent deadline is overdue
    When the deadlines are processed
    Then the consent deadline is missed
    And the worklist of the cps worker shows escalation:consent

  Scenario: Before consent, each organisation sees only what the case names it for
    Then the prenatal clinic sees the case at tiers "status"
    And the cps worker sees the case at tiers "status, plan"
    And the hospital sees the case at tiers "status"
    And the treatment provider cannot see the case
    And the peer mentor cannot see the case

  Scenario: Analysts and administrators see no case data
    Then the analyst cannot see the case
    And the administrator cannot see the case

  Scenario: A peer organisation cannot see the case until the consent names it
    Then the peer mentor cannot see the case
    When the peer mentor takes record_consent
    Then the action is refused as unknown case
    When the prenatal clinic takes record_consent
    Then the peer mentor sees the case at tiers "status, plan"

  Scenario: The usual consent shares the status and the plan with every organisation it names
    When the prenatal clinic takes record_consent
    Then the hospital sees the case at tiers "status, plan"
    And the peer mentor sees the case at tiers "status, plan"
    And the treatment provider sees the case at tiers "status, plan"
    And the prenatal clinic sees the case at tiers "status, plan"

  Scenario: Treatment details are shown to the treating provider and hidden from the hospital
    Given the case has reached in_treatment
    Then the treatment provider sees the case at tiers "status, plan, treatment"
    And the treatment provider sees the field substances
    And the treatment provider sees the field on_moud
    And the hospital does not see the field substances
    And the hospital does not see the field on_moud
    And the cps worker does not see the field substances
    And the peer mentor does not see the field substances

  Scenario: Identifying details are status information for every organisation on the case
    Then the hospital sees the field last_name
    And the hospital sees the field date_of_birth
    And the hospital sees the field due_date

  Scenario: A consent that names treatment information shares it with the organisations it names
    When the prenatal clinic takes record_consent with:
      | field      | value                   |
      | categories | status, plan, treatment |
    Then the hospital sees the case at tiers "status, plan, treatment"
    And the hospital sees the field substances

  Scenario: Revoking the consent takes effect at once
    Given the prenatal clinic has taken record_consent
    Then the peer mentor sees the case at tiers "status, plan"
    When the cps worker takes revoke_consent
    Then the action succeeds
    And the peer mentor cannot see the case
    And the treatment provider cannot see the case
    And the hospital sees the case at tiers "status"

  Scenario: After revocation the treating provider keeps only what treating the parent gives it
    Given the case has reached in_treatment
    When the treatment provider takes revoke_consent
    Then the treatment provider sees the case at tiers "status, treatment"
    And the hospital sees the case at tiers "status"

  Scenario: The parent revokes through the peer mentor, who then no longer sees the case
    Given the prenatal clinic has taken record_consent
    When the peer mentor takes revoke_consent with:
      | field           | value  |
      | communicated_by | verbal |
    Then the action succeeds
    And the peer mentor cannot see the case

  Scenario: A revocation after discharge stops the hospital seeing the plan
    Given the case has reached follow_up
    Then the hospital sees the case at tiers "status, plan"
    When the cps worker takes revoke_consent
    Then the hospital sees the case at tiers "status"

  Scenario: There is nothing to revoke without an active consent
    When the cps worker takes revoke_consent
    Then the action is refused because "there is no active consent to revoke"

  Scenario: A consent signed in the future is refused
    When the prenatal clinic takes record_consent with:
      | field     | value    |
      | signed_on | tomorrow |
    Then the action is refused because "the signing date 2026-11-03 is in the future"
    And the consent deadline is open
    And the peer mentor cannot see the case

  Scenario: A consent that expires before it was signed is refused
    When the prenatal clinic takes record_consent with:
      | field      | value     |
      | expires_on | yesterday |
    Then the action is refused because "the expiry date 2026-11-01 must be after the signing date 2026-11-02"

  Scenario: A consent stops covering the organisations it names when it expires
    Given the prenatal clinic has taken record_consent with:
      | field      | value      |
      | expires_on | in 10 days |
    Then the peer mentor sees the case at tiers "status, plan"
    When 11 days pass
    Then the peer mentor cannot see the case
    And the hospital sees the case at tiers "status"

  Scenario: A category the consent form does not know is refused as invalid
    When the prenatal clinic takes record_consent with:
      | field      | value           |
      | categories | status, billing |
    Then the action is refused as invalid
    And the action is refused because "categories"

  Scenario: The plan of safe care tells CPS the plan, without treatment details
    Given the case has reached plan_agreed
    Then the plan of safe care for the cps worker says "Services for the infant"
    And the plan of safe care for the cps worker says "pediatric care"
    And the plan of safe care for the cps worker says "Services for the parent or caregiver"
    And the plan of safe care for the cps worker says "substance use treatment"
    And the plan of safe care for the cps worker says "Alex Rivera"
    And the plan of safe care for the cps worker says "Some information is withheld"
    And the plan of safe care for the cps worker says "Confidential: 42 CFR part 2"
    And the plan of safe care for the cps worker does not say "opioids"

  Scenario: The plan of safe care gives the treating provider the substances too
    Given the case has reached plan_agreed
    Then the plan of safe care for the treatment provider says "Substances"
    And the plan of safe care for the treatment provider says "opioids"
    And the plan of safe care for the treatment provider does not say "Some information is withheld"

  Scenario: Peer contact notes never reach the hospital
    Given the case has reached follow_up
    When the peer mentor takes record_follow_up with:
      | field | value                          |
      | notes | Talked about sleep and feeding |
    Then the hospital does not see the field notes of record_follow_up
    And the peer mentor sees the field contact_type of record_follow_up

  Scenario: Treatment details of the admission reach only the treating provider
    Given the case has reached in_treatment
    Then the treatment provider sees the field moud of admit_to_treatment
    And the hospital does not see the field moud of admit_to_treatment
    And the cps worker does not see the field moud of admit_to_treatment

  Scenario: Every read of the case is accounted for to the lead agency
    Given the prenatal clinic has taken record_consent
    Then the hospital sees the case at tiers "status, plan"
    And the accounting of disclosures shows the hospital reading "view"
    When the hospital looks up "Rivera" born 1996-04-12
    Then the accounting of disclosures shows the hospital reading "lookup"
