"""The outcome figures: a small population driven through the pathway on a moving clock, with every figure known
exactly (the counts before protection, and what is published), periods cut on local calendar days, small cells
suppressed, and nothing that identifies a case. The attack on the suppression is in `test_report_privacy.py`."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from engine import CaseRecord, Cases, Catalogue, Database, FixedClock, InvalidForm
from engine.reports import LESS_THAN, SUPPRESSED, SUPPRESSION, outcome_report
from engine.reports.report import period, protected_tabulation
from tests.pathway import drive, open_at_delivery, open_case, take

DECEMBER = (date(2026, 12, 1), date(2026, 12, 31))
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))
#: Cases opened in December are opened ten minutes apart from this time (10:00 in New York).
OPENING = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
Step = tuple[datetime, str, str, dict[str, Any]]


def utc(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def move_to(clock: FixedClock, when: datetime) -> None:
    assert when >= clock.now(), f"the clock only moves forward ({when} is before {clock.now()})"
    clock.advance(when - clock.now())


def run(cases: Cases, clock: FixedClock, steps: list[Step], made: dict[str, CaseRecord]) -> None:
    """Takes every step at its time, in time order: `open` opens the named case, anything else is an action."""
    for when, name, action, changes in sorted(steps, key=lambda s: s[0]):
        move_to(clock, when)
        if action == "open":
            made[name] = open_case(cases, clock, **changes)
        elif action == "open_at_delivery":
            made[name] = open_at_delivery(cases, clock, **changes)
        else:
            made[name] = take(cases, clock, made[name], action, **changes)


def admitted(name: str, opened: datetime, hours: int) -> list[Step]:
    """Consent first (the treatment provider may only act on a case it may know), then admission."""
    return [
        (opened + timedelta(minutes=5), name, "record_consent", {}),
        (opened + timedelta(hours=hours), name, "admit_to_treatment", {}),
    ]


def planned_birth(name: str, index: int, days_after_meeting: int, *, consent: bool = True, **birth: Any) -> list[Step]:
    """Planning meeting on 12 December (local), birth `days_after_meeting` later, CPS notified: `notified`.
    With `consent`, the universal consent the meeting needs is recorded first (admitted cases have one already)."""
    offset = timedelta(minutes=5 * index)
    born = utc(12, 12 + days_after_meeting, 18) + offset
    steps: list[Step] = [
        (utc(12, 12, 16) + offset, name, "schedule_planning_meeting", {}),
        (utc(12, 12, 17) + offset, name, "record_planning_meeting", {}),
        (born, name, "record_birth", birth),
        (born + timedelta(hours=1), name, "notify_cps", {}),
    ]
    if consent:
        steps.insert(0, (OPENING + timedelta(minutes=10 * index, seconds=30), name, "record_consent", {}))
    return steps


def population(cases: Cases, clock: FixedClock) -> dict[str, CaseRecord]:
    """The cases behind the expected figures; the comments say which cohort each falls in and why."""
    made: dict[str, CaseRecord] = {}
    # November (the clock starts on 2 November): admitted 2 hours after opening by the standard route.
    made["X1"] = drive(cases, clock, open_case(cases, clock), "follow_up")  # opened and born in November
    made["X2"] = drive(cases, clock, open_case(cases, clock), "plan_agreed")  # born 30 November local, below
    made["X4"] = drive(cases, clock, open_case(cases, clock), "plan_agreed")  # born in December, below

    def opened(name: str, index: int) -> datetime:
        at = OPENING + timedelta(minutes=10 * index)
        steps.append((at, name, "open", {}))
        return at

    steps: list[Step] = [
        # 1 December 02:00 UTC is still 30 November in New York: November's, not December's.
        (utc(12, 1, 2), "X3", "open", {}),
        (utc(12, 1, 2, 20), "X3", "record_consent", {}),
        (utc(12, 1, 3), "X3", "admit_to_treatment", {}),
        (utc(12, 1, 3, 10), "X2", "record_birth", {}),  # born_at is an hour earlier: 30 November local
        # Opened in November, born in December with a plan: counts for births, not for openings.
        (utc(12, 10, 18), "X4", "record_birth", {}),
        (utc(12, 10, 19), "X4", "notify_cps", {}),
        (utc(12, 10, 20), "X4", "discharge", {}),  # referred to early intervention at discharge
    ]
    # Opened in December: six substance-affected births with a plan agreed before birth.
    for index, (name, hours) in enumerate([("P1", 10), ("P2", 50), ("P3", 100), ("P4", 200)]):
        steps += admitted(name, opened(name, index), hours)
        steps += planned_birth(name, index, index + 1, consent=False)
    for index, name in ((4, "P5"), (5, "P6")):  # never admitted to treatment
        opened(name, index)
        steps += planned_birth(name, index, index + 1)
    steps += [
        (utc(12, 13, 20), "P1", "discharge", {"referrals": []}),  # no infant referral
        (utc(12, 14, 20, 5), "P2", "discharge", {}),
        (utc(12, 15, 20, 10), "P3", "record_referral", {"service": "home_visiting"}),  # still in hospital
        (utc(12, 16, 20, 15), "P4", "discharge", {}),
        (utc(12, 17, 20, 20), "P5", "discharge", {"referrals": []}),
        (utc(12, 17, 21, 20), "P5", "record_referral", {"service": "mental_health"}),  # for the caregiver
        (utc(12, 18, 20, 25), "P6", "discharge", {"referrals": []}),
        (utc(12, 18, 21, 25), "P6", "record_referral", {"service": "other"}),  # neither
    ]
    # Born with a plan but not substance-affected: a birth, outside the substance-affected figures.
    steps += admitted("S1", opened("S1", 6), 70)
    steps += planned_birth("S1", 6, 10, consent=False, substance_affected="no")
    steps.append((utc(12, 22, 20, 30), "S1", "discharge", {}))
    # Born before a plan was agreed: N1 referred to treatment (a caregiver referral) and planned at birth.
    opened("N1", 7)
    steps += [
        (OPENING + timedelta(minutes=70, hours=5), "N1", "refer_to_treatment", {}),
        (utc(12, 20, 18), "N1", "record_birth", {}),
        (utc(12, 20, 19), "N1", "notify_cps", {}),
        (utc(12, 20, 20), "N1", "record_plan_at_birth", {}),
        (utc(12, 20, 21), "N1", "discharge", {"referrals": []}),
    ]
    steps += admitted("N2", opened("N2", 8), 168)  # exactly 7 days
    steps += [
        (utc(12, 21, 18), "N2", "record_birth", {}),
        (utc(12, 21, 19), "N2", "notify_cps", {}),
        (utc(12, 21, 20), "N2", "record_referral", {}),  # early intervention: an infant referral; no plan yet
    ]
    steps += admitted("A1", opened("A1", 9), 72)  # exactly 72 hours
    steps += [  # born at 23:30 on 31 December in New York, recorded on 1 January UTC: a December birth
        (utc(1, 1, 5, year=2027), "A1", "record_birth",
         {"born_at": "2026-12-31T23:30:00-05:00", "substance_affected": "no"}),
    ]
    steps += admitted("A2", opened("A2", 10), 300)
    opened("A3", 11)  # never admitted; born in January: not a December birth
    steps.append((utc(1, 5, 18, year=2027), "A3", "record_birth", {}))
    # 1 January 03:00 UTC is still 31 December in New York: opened in December.
    steps.append((utc(1, 1, 3, year=2027), "L1", "open", {}))
    steps += admitted("L1", utc(1, 1, 3, year=2027), 20)
    # Opened and born in January: in no December figure.
    steps += [
        (utc(1, 2, 15, year=2027), "X5", "open", {}),
        *admitted("X5", utc(1, 2, 15, year=2027), 1),
        (utc(1, 2, 18, year=2027), "X5", "record_birth", {}),
    ]
    # Identified at birth: hospital staff open five cases at delivery, an hour after each birth (substance-affected,
    # no plan, still in hospital). Births, not openings: the opening figures measure the prenatal pathway.
    steps += [(utc(12, 24, 12 + index), f"H{index}", "open_at_delivery", {}) for index in range(1, 6)]
    run(cases, clock, steps, made)
    return made


@pytest.fixture
def made(cases: Cases, clock: FixedClock) -> dict[str, CaseRecord]:
    return population(cases, clock)


def leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    else:
        yield value




def counted(db: Database, catalogue: Catalogue, start: date, end: date, now: datetime) -> dict[str, Any]:
    """Every figure of the period before protection: counts as `section.figure`, medians as their value."""
    tabulation, _ = protected_tabulation(db, catalogue, period(start, end), now)
    truth: dict[str, Any] = {
        f"{cell.section}.{cell.figure}": value
        for cell, value in zip(tabulation.cells, tabulation.values, strict=True)
        if cell.breakdown == "period" and " but not " not in cell.figure
    }
    truth.update({f"{s}.{f}": sorted(v) for (s, f), v in tabulation.medians.items()})
    return truth


def published(report: dict[str, Any]) -> dict[str, Any]:
    return {f"{s['id']}.{f['id']}": f["value"] for s in report["sections"] for f in s["figures"]}


def figure(report: dict[str, Any], name: str) -> dict[str, Any]:
    section, figure_id = name.split(".")
    return next(f for s in report["sections"] if s["id"] == section for f in s["figures"] if f["id"] == figure_id)


def test_every_figure_for_december(
    cases: Cases, catalogue: Catalogue, clock: FixedClock, made: dict[str, CaseRecord],
) -> None:
    truth = counted(cases.db, catalogue, *DECEMBER, clock.now())
    assert truth == {
        # Births in December: X4, P1-P6, S1, N1, N2, A1 (born 23:30 on 31 December in New York), H1-H5.
        "births.births": 16,
        "births.born_with_plan": 8,  # X4, P1-P6, S1
        "births.born_before_plan": 8,  # N1, N2, A1, H1-H5
        "births.assessed": 2,
        "births.assessed_with_plan": 0,  # no safety concern: notified, no assessment
        "births.assessed_without_plan": 2,  # N1, N2: a birth without a plan always goes to a CPS assessment
        "births.notified": 10,  # not A1 and H1-H5
        "births.notified_in_time": 10,  # an hour after each birth
        "births.discharged_all": 8,  # X4, P1, P2, P4, P5, P6, S1, N1
        "births.plan_before_discharge": 8,  # N1's plan was made at birth, before its discharge
        "births.home_with_parent": 8,
        "births.median_lead_days": [1, 2, 3, 4, 5, 6, 10, 37],  # P1-P6 1-6 days, S1 10, X4 met on 3 November
        "births.lead_0_7": 6, "births.lead_8_14": 1, "births.lead_15_30": 0, "births.lead_over_30": 1,
        "births.birth_entered_same_day": 15,  # A1's birth was entered the next day
        "births.median_birth_entry_days": [0] * 15 + [1],
        # Of them substance-affected: all but S1 and A1.
        "capta.substance_affected": 14,
        "capta.identified_prenatally": 9, "capta.identified_at_birth": 5,  # H1-H5 opened at delivery
        "capta.plan_agreed_before_birth": 7,  # X4, P1-P6
        "capta.discharged": 7,  # not P3 (still in hospital), N2, H1-H5
        "capta.plan_by_discharge": 7,
        "capta.referred_infant_services": 5,  # X4, P2, P4 at discharge; P3 home visiting; N2 early intervention
        "capta.referred_caregiver_services": 8,  # admitted: X4, P1-P4, N2; P5 mental health; N1 referred
        "capta.early_intervention_in_time": 1,  # N2, the day it was born
        # Identified in December, before birth (X3 was identified on 30 November in New York; L1 on 31 December).
        "treatment_access.identified": 13,  # P1-P6, S1, N1, N2, A1, A2, A3, L1
        "treatment_access.admitted": 9,
        # Days from identification to admission (dates): P1 0 (10 h), L1 1 (20 h), P2 2 (50 h), S1 and A1 3
        # (70 and 72 h), P3 4 (100 h), N2 7 (168 h), P4 8 (200 h), A2 12 (300 h).
        "treatment_access.median_days_to_admission": [0, 1, 2, 3, 3, 4, 7, 8, 12],
        "treatment_access.admitted_within_72h": 5, "treatment_access.admitted_within_7d": 7,
        "treatment_access.wait_same_day": 1, "treatment_access.wait_1_3": 4, "treatment_access.wait_4_7": 2,
        "treatment_access.wait_8_14": 2, "treatment_access.wait_over_14": 0, "treatment_access.not_admitted": 4,
        "treatment_access.identification_entered_same_day": 13,
        "treatment_access.median_identification_entry_days": [0] * 13,
        "interim_services.priority_referrals": 1, "interim_services.interim_in_time": 0,  # N1: neither, yet
        # First admitted in December: P1-P4, S1, N2, A1, A2 (L1 on 1 January). The report runs on 5 January.
        "retention.admissions": 8,
        "retention.reached_7": 8, "retention.retained_7": 8,
        "retention.reached_30": 5, "retention.retained_30": 5,  # admitted by 6 December: P1, P2, P3, S1, A1
        "retention.reached_60": 0, "retention.retained_60": 0, "retention.reached_90": 0, "retention.retained_90": 0,
        "re_engagement.disengaged": 0, "re_engagement.re_engaged_in_time": 0,
    }
    report = outcome_report(cases.db, catalogue, *DECEMBER, clock.now())
    shown = published(report)
    for name, value in truth.items():
        if isinstance(value, list):
            continue
        small = 0 < value < 5
        assert shown[name] == (LESS_THAN if small else value) or (shown[name] == SUPPRESSED and value > 0), name
    # 16 births and 14 substance-affected would say 2 were not: one of the two is withheld (the smaller).
    assert shown["births.births"] == 16 and shown["capta.substance_affected"] == SUPPRESSED
    # The lower median (a value that occurred): 4 of 1, 2, 3, 4, 5, 6, 10, 37. The median days to admission goes
    # with its count, withheld here (9 admitted of 13 would give the 4 others away).
    assert shown["births.median_lead_days"] == 4.0 and shown["treatment_access.admitted"] == SUPPRESSED
    assert shown["treatment_access.median_days_to_admission"] == SUPPRESSED
    assert figure(report, "births.born_with_plan")["share"] == 0.5  # 8 of 16
    assert figure(report, "capta.plan_agreed_before_birth")["share"] == SUPPRESSED  # 7 of a withheld 14
    assert figure(report, "births.by_office" if False else "births.births")["by_office"] == [
        {"office": "county-cps", "name": "County Child Protective Services", "value": 16}]
    assert [m["month"] for m in figure(report, "births.births")["by_month"]] == ["2026-12"]


def test_a_year_follows_each_cohort_by_month(
    cases: Cases, catalogue: Catalogue, clock: FixedClock, made: dict[str, CaseRecord],
) -> None:
    tabulation, _ = protected_tabulation(cases.db, catalogue, period(date(2026, 1, 1), date(2026, 12, 31)),
                                         clock.now())
    months = {c.key: v for c, v in zip(tabulation.cells, tabulation.values, strict=True)
              if (c.section, c.figure, c.breakdown) == ("births", "births", "month")}
    # November: X1 and X2 (born at 23:10 on 30 November in New York, 04:10 UTC on 1 December).
    assert months == {f"2026-{m:02d}": {11: 2, 12: 16}.get(m, 0) for m in range(1, 13)}
    report = outcome_report(cases.db, catalogue, date(2026, 1, 1), date(2026, 12, 31), clock.now())
    births = figure(report, "births.births")
    assert report["period"]["kind"] == "year" and births["value"] == 18
    assert [m["value"] for m in births["by_month"]][:10] == [0] * 10
    assert births["by_month"][10]["value"] == LESS_THAN


def test_small_cells_and_what_would_give_them_away_are_suppressed(
    cases: Cases, catalogue: Catalogue, clock: FixedClock, made: dict[str, CaseRecord],
) -> None:
    report = outcome_report(cases.db, catalogue, *NOVEMBER, clock.now())
    shown = published(report)
    assert shown["births.births"] == LESS_THAN  # X1, X2
    assert shown["births.median_lead_days"] == SUPPRESSED  # a median of 2 births is theirs
    assert shown["treatment_access.identified"] == LESS_THAN  # X1, X2, X4, X3
    assert figure(report, "treatment_access.admitted")["share"] == SUPPRESSED
    assert shown["births.born_before_plan"] == 0  # a 0 gives nothing away


def test_six_births_five_before_a_plan_do_not_give_the_one_with_a_plan_away(
    cases: Cases, catalogue: Catalogue, clock: FixedClock,
) -> None:
    """The leak the first version had: 6 births and "5 before a plan" beside "<5" gave the 1 away by subtraction."""
    made: dict[str, CaseRecord] = {}
    steps: list[Step] = []
    for index in range(6):
        name, opened_at = f"B{index}", OPENING + timedelta(minutes=10 * index)
        steps.append((opened_at, name, "open", {}))
        if index == 0:
            steps += planned_birth(name, index, 3)
        else:
            steps.append((utc(12, 20, 12) + timedelta(minutes=index), name, "record_birth", {}))
    run(cases, clock, steps, made)
    truth = counted(cases.db, catalogue, *DECEMBER, clock.now())
    assert (truth["births.births"], truth["births.born_before_plan"], truth["births.born_with_plan"]) == (6, 5, 1)
    shown = published(outcome_report(cases.db, catalogue, *DECEMBER, clock.now()))
    assert shown["births.born_with_plan"] == LESS_THAN
    assert SUPPRESSED in (shown["births.births"], shown["births.born_before_plan"])


def test_admission_times_against_the_72_hour_and_7_day_marks(
    cases: Cases, catalogue: Catalogue, clock: FixedClock,
) -> None:
    """Admissions 10 hours, 60 hours, 6 days and 9 days after identification, one never, as dates in New York."""
    made: dict[str, CaseRecord] = {}
    steps: list[Step] = []
    for index, hours in enumerate([10, 60, 6 * 24, 9 * 24, None]):
        name, opened_at = f"T{index}", utc(12, 1, 13) + timedelta(minutes=index)  # 08:00 in New York
        steps.append((opened_at, name, "open", {}))
        if hours is not None:
            steps += admitted(name, opened_at, hours)
    run(cases, clock, steps, made)
    truth = counted(cases.db, catalogue, *DECEMBER, clock.now())
    assert truth["treatment_access.median_days_to_admission"] == [0, 2, 6, 9]  # 18:00; 20:00 two days on...
    assert (truth["treatment_access.admitted_within_72h"], truth["treatment_access.admitted_within_7d"]) == (2, 3)
    assert [truth[f"treatment_access.{b}"] for b in ("wait_same_day", "wait_1_3", "wait_4_7", "wait_8_14",
                                                     "not_admitted")] == [1, 1, 1, 1, 1]
    shown = published(outcome_report(cases.db, catalogue, *DECEMBER, clock.now()))
    # Five parents, one in each bin: with 5 shown, every "<5" bin would have to be 1.
    assert shown["treatment_access.identified"] == SUPPRESSED
    assert shown["treatment_access.median_days_to_admission"] == SUPPRESSED  # over 4 parents


def test_retention_counts_only_parents_whose_mark_has_passed(
    cases: Cases, catalogue: Catalogue, clock: FixedClock,
) -> None:
    """Admitted on 1 December: one stops on day 29 (not retained at 30), one on day 30 (retained: the mark counts),
    one disengages and is re-admitted on day 3 (re-engaged within 7 days, in treatment at 30 days)."""
    made: dict[str, CaseRecord] = {}
    steps: list[Step] = []
    for index in range(3):
        name, opened_at = f"R{index}", utc(12, 1, 13) + timedelta(minutes=index)
        steps += [(opened_at, name, "open", {}), *admitted(name, opened_at, 1)]
    steps += [
        (utc(12, 30, 15), "R0", "record_disengagement", {"last_attended_on": "2026-12-30"}),  # day 29
        (utc(12, 31, 15), "R1", "record_disengagement", {"last_attended_on": "2026-12-31"}),  # day 30
        (utc(12, 2, 15), "R2", "record_disengagement", {"last_attended_on": "2026-12-02"}),
        (utc(12, 4, 15), "R2", "admit_to_treatment", {"admitted_on": "2026-12-04"}),
    ]
    run(cases, clock, steps, made)
    before = counted(cases.db, catalogue, *DECEMBER, utc(12, 30, 12))  # day 29: the 30-day mark not reached
    assert (before["retention.reached_7"], before["retention.reached_30"]) == (3, 0)
    after = counted(cases.db, catalogue, *DECEMBER, utc(1, 5, 12, year=2027))
    assert (after["retention.reached_30"], after["retention.retained_30"], after["retention.retained_7"]) == (3, 2, 3)
    assert (after["re_engagement.disengaged"], after["re_engagement.re_engaged_in_time"]) == (3, 1)


def test_a_period_with_nothing_in_it_shows_zeros_and_no_shares(
    cases: Cases, catalogue: Catalogue, clock: FixedClock, made: dict[str, CaseRecord],
) -> None:
    report = outcome_report(cases.db, catalogue, date(2025, 1, 1), date(2025, 12, 31), clock.now())
    for section in report["sections"]:
        for entry in section["figures"]:
            assert entry["value"] == (0 if entry["kind"] == "count" else None), entry["id"]
            assert entry.get("share") is None


def test_the_report_identifies_nobody(
    cases: Cases, catalogue: Catalogue, clock: FixedClock, made: dict[str, CaseRecord],
) -> None:
    for start, end in (DECEMBER, NOVEMBER, (date(2026, 1, 1), date(2026, 12, 31))):
        report = outcome_report(cases.db, catalogue, start, end, clock.now())
        text = json.dumps(report)
        for identifying in ("Alex", "Rivera", "1996-04-12", "PC-", "Sam Lee", *(c.id for c in made.values())):
            assert identifying not in text


def test_the_report_reads_a_fixed_number_of_queries(
    cases: Cases, catalogue: Catalogue, db: Database, clock: FixedClock, made: dict[str, CaseRecord],
) -> None:
    """One query finds the cases; per 500 cases, one reads their workflows and one their relevant events; one names
    the offices."""
    selects: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        outcome_report(db, catalogue, *DECEMBER, clock.now())
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len(selects) == 4
    assert "FROM cases" in selects[1] and "FROM events" in selects[2] and "ORDER BY case_id, seq" in selects[2]


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        (date(2026, 12, 2), date(2026, 12, 31), "from", "must be the first day of a month"),
        (date(2026, 12, 1), date(2026, 12, 30), "to", "must be the last day of a month"),
        (date(2026, 12, 1), date(2026, 11, 30), "to", "must be a whole month"),
        (date(2026, 2, 1), date(2026, 4, 30), "to", "must be a whole month"),  # three months, not a quarter
        (date(2026, 4, 1), date(2027, 3, 31), "to", "must be a whole month"),  # twelve months from April
        (date(2026, 1, 1), date(2027, 12, 31), "to", "must be a whole month"),
    ],
)
def test_a_period_that_is_not_a_whole_month_quarter_or_year_is_refused(
    db: Database, catalogue: Catalogue, start: date, end: date, field: str, message: str,
) -> None:
    with pytest.raises(InvalidForm) as refused:
        outcome_report(db, catalogue, start, end, OPENING)
    assert refused.value.form == "report"
    assert [e.field for e in refused.value.errors] == [field] and message in refused.value.errors[0].message


@pytest.mark.parametrize(("start", "end", "kind"), [
    (date(2026, 2, 1), date(2026, 2, 28), "month"), (date(2024, 2, 1), date(2024, 2, 29), "month"),
    (date(2026, 10, 1), date(2026, 12, 31), "quarter"), (date(2026, 1, 1), date(2026, 12, 31), "year"),
    (date(2025, 10, 1), date(2026, 9, 30), "year"),  # a federal fiscal year
])
def test_whole_months_quarters_and_years_are_accepted(
    db: Database, catalogue: Catalogue, start: date, end: date, kind: str,
) -> None:
    assert outcome_report(db, catalogue, start, end, OPENING)["period"]["kind"] == kind


def test_every_figure_carries_its_definition(db: Database, catalogue: Catalogue) -> None:
    report = outcome_report(db, catalogue, *DECEMBER, OPENING)
    assert report["suppression"] == SUPPRESSION
    for section in report["sections"]:
        assert section["cohort"].endswith(".")
        for entry in section["figures"]:
            assert entry["label"] and entry["definition"].endswith("."), entry["id"]


def test_the_docs_define_every_figure_as_the_report_does() -> None:
    from pathlib import Path

    from engine.reports.figures import reference

    text = (Path(__file__).resolve().parents[2] / "docs" / "figures.md").read_text()
    generated = text.split("keeps them the same -->\n", 1)[1].split("<!-- end of figures -->", 1)[0]
    assert generated == reference(), "regenerate the reference in docs/figures.md from engine/reports/figures.py"


def test_a_birth_entered_months_late_counts_in_the_month_it_happened(
    cases: Cases, catalogue: Catalogue, clock: FixedClock,
) -> None:
    made: dict[str, CaseRecord] = {}
    steps: list[Step] = [(OPENING, "Z1", "open", {})]
    steps += [(utc(2, 20, 15, year=2027), "Z1", "record_birth", {"born_at": "2026-12-20T08:00:00-05:00"})]
    run(cases, clock, steps, made)
    december = counted(cases.db, catalogue, *DECEMBER, clock.now())
    assert (december["births.births"], december["births.birth_entered_same_day"]) == (1, 0)
    assert december["births.median_birth_entry_days"] == [62]  # 20 December to 20 February
    february = counted(cases.db, catalogue, date(2027, 2, 1), date(2027, 2, 28), clock.now())
    assert february["births.births"] == 0


def test_72_hours_from_a_date_are_three_days_across_the_change_of_clocks(
    cases: Cases, catalogue: Catalogue, clock: FixedClock,
) -> None:
    """Identified on Friday 30 October, admitted on Monday 2 November: clocks went back on 1 November, so the hours
    between the two midnights are 73, but from a date to a date 72 hours are three days, as the bins count them."""
    from engine.reports.courses import Course
    from engine.reports.report import tabulate

    workflow = catalogue.workflow("charm-posc")

    def parent(identified: date) -> Course:
        return Course(workflow, workflow.plan_actions, identified_on=identified, admissions=[date(2026, 11, 2)],
                      first_admission=date(2026, 11, 2))

    tabulation = tabulate([parent(date(2026, 10, 30)), parent(date(2026, 10, 29))],
                          period(date(2026, 10, 1), date(2026, 10, 31)), clock.now())
    figures = {c.figure: v for c, v in zip(tabulation.cells, tabulation.values, strict=True) if c.breakdown == "period"}
    assert (figures["identified"], figures["admitted_within_72h"], figures["wait_1_3"], figures["wait_4_7"]) == (
        2, 1, 1, 1)


def test_a_period_s_cases_are_found_by_a_range_of_the_cohort_date_index(db: Database) -> None:
    """The query that finds a period's cases spells the cohort date exactly as the index does (migration 0009):
    otherwise the database decodes every finding event's form, 15 s for a year at a million cases."""
    from engine.reports.courses import by_cohort_date

    with db.read() as conn:
        query = by_cohort_date(conn.dialect.name, bounded=True)
        # An empty table has no statistics to prefer the index by: the query is made to use it (SQLite refuses
        # "no query solution" if it cannot; PostgreSQL falls back to a scan, which the assertion catches).
        if db.dialect == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            sql = f"EXPLAIN {query}"
        else:
            sql = f"EXPLAIN QUERY PLAN {query}".replace("FROM events", "FROM events INDEXED BY ix_events_cohort")
        rows = conn.execute(text(sql), {"low": "2026-01-01", "high": "2027-01-01"})
        plan = " ".join(str(row[-1]) for row in rows)
    # A range of the index: searched on the expression, not the whole index scanned and filtered.
    if db.dialect == "postgresql":
        assert "ix_events_cohort" in plan and "Index Cond: ((CASE action" in plan, plan
    else:
        assert "SEARCH events USING INDEX ix_events_cohort (<expr>>? AND <expr><?)" in plan, plan


def test_a_report_read_by_several_processes_counts_what_one_process_does(
    cases: Cases, catalogue: Catalogue, clock: FixedClock, made: dict[str, CaseRecord],
) -> None:
    """Many cases are shared among worker processes (here every 3 cases make a part): the figures are the same."""
    from engine.reports import reading
    from engine.reports.report import tabulate_columns

    window = period(date(2026, 10, 1), date(2026, 12, 31))
    workflow = catalogue.workflow("charm-posc")
    earliest, after = workflow.start_of_day(window.start), workflow.start_of_day(date(2027, 1, 1))
    progress: list[tuple[int, int]] = []
    alone = tabulate_columns(reading.read_columns(cases.db, catalogue, earliest, after, clock.now(), workers=1),
                             window)
    original = reading.PART
    reading.PART = 3
    try:
        shared = tabulate_columns(reading.read_columns(
            cases.db, catalogue, earliest, after, clock.now(), lambda done, total: progress.append((done, total)),
            workers=2, parallel_from=1), window)
    finally:
        reading.PART = original
    assert sum(alone.values) > 0
    assert (shared.cells, shared.values) == (alone.cells, alone.values)
    assert {k: sorted(v) for k, v in shared.medians.items()} == {k: sorted(v) for k, v in alone.medians.items()}
    total = progress[-1][1]
    assert progress[0] == (0, total) and progress[-1] == (total, total)
    steps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(progress)]
    assert len(steps) == -(-total // 3) and all(0 < step <= 3 for step in steps)  # part by part, not in this process


def test_a_report_whose_worker_processes_cannot_start_is_read_in_this_process(
    cases: Cases, catalogue: Catalogue, clock: FixedClock, made: dict[str, CaseRecord],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    from concurrent.futures.process import BrokenProcessPool

    from engine.reports import reading
    from engine.reports.report import tabulate_columns

    def broken(*_args: Any) -> None:
        raise BrokenProcessPool("a worker died")

    window = period(*DECEMBER)
    workflow = catalogue.workflow("charm-posc")
    earliest, after = workflow.start_of_day(window.start), workflow.start_of_day(date(2027, 1, 1))
    alone = tabulate_columns(reading.read_columns(cases.db, catalogue, earliest, after, clock.now(), workers=1),
                             window)
    monkeypatch.setattr(reading, "_in_processes", broken)
    with caplog.at_level("WARNING", logger="engine.reports.reading"):
        rescued = tabulate_columns(reading.read_columns(cases.db, catalogue, earliest, after, clock.now(),
                                                        workers=2, parallel_from=1), window)
    assert (rescued.cells, rescued.values) == (alone.cells, alone.values) and sum(alone.values) > 0
    assert "reading the report's cases in this process" in caplog.text


@pytest.mark.parametrize("zone", ["America/New_York", "America/Santiago", "Australia/Lord_Howe", "Asia/Kathmandu"])
def test_the_day_an_event_was_recorded_is_the_jurisdiction_s_at_every_minute(zone: str) -> None:
    """The fold takes a recording's local day from its UTC hour: exact across changes of clocks, including Chile's
    at midnight and Lord Howe's half hour, and zones a quarter of an hour off UTC."""
    from zoneinfo import ZoneInfo

    from engine.reports.courses import _hour_day

    tz = ZoneInfo(zone)
    moment, wrong = datetime(2026, 1, 1, tzinfo=UTC), []
    while moment.year == 2026:
        day = _hour_day(tz, moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:13])
        if day is not None and day != moment.astimezone(tz).date():
            wrong.append(moment)
        moment += timedelta(minutes=11)
    assert wrong == []
