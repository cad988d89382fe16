"""The CAPTA figures: a small population driven through the pathway on a moving clock, with every figure known
exactly, periods cut on local calendar days, small cells suppressed, and nothing that identifies a case."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from engine import CaseRecord, Cases, Catalogue, Database, FieldError, FixedClock, InvalidForm
from engine.reports import SUPPRESSED, SUPPRESSION, Count, capta_report
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


@pytest.mark.parametrize(("value", "shown"), [(0, 0), (1, "<5"), (3, "<5"), (4, "<5"), (5, 5), (6, 6), (120, 120)])
def test_counts_from_1_to_4_are_suppressed_and_0_is_shown(value: int, shown: int | str) -> None:
    assert Count(value).shown() == shown


def test_every_figure_for_the_period(cases: Cases, catalogue: Catalogue, made: dict[str, CaseRecord]) -> None:
    report = capta_report(cases.db, catalogue, *DECEMBER)
    assert report == {
        "period": {"from": "2026-12-01", "to": "2026-12-31"},
        "suppression": SUPPRESSION,
        "births": {
            "births": 16,  # X4, P1-P6, S1, N1, N2, A1, H1-H5
            "births_before_plan_agreed": 8,  # N1, N2, A1, H1-H5
            "identified_prenatally": 11,
            "identified_at_birth": 5,  # H1-H5
            "substance_affected": 14,  # not S1, A1
            "discharged": 7,  # not P3, N2
            "with_plan_by_discharge": 7,
            "plan_agreed_before_birth": 7,  # X4, P1-P6
            "referred_infant_services": 5,  # X4, P2, P4 at discharge; P3, N2 by referral
            "referred_caregiver_services": 8,  # all but P6: admitted, referred to treatment, mental health
        },
        "cases": {
            "cases_opened": 13,  # P1-P6, S1, N1, N2, A1, A2, A3, L1
            "admitted": 9,
            "median_hours_to_admission": 72.0,  # 10, 20, 50, 70, [72], 100, 168, 200, 300
            "admitted_within_72h": {"count": 5, "share": 0.385},  # 5 / 13
            "admitted_within_7d": {"count": 7, "share": 0.538},  # 7 / 13
            "median_days_meeting_to_birth": 4.0,  # 1, 2, 3, [4], 5, 6, 10
        },
    }


def test_small_cells_suppress_their_counts_shares_and_medians(
    cases: Cases, catalogue: Catalogue, made: dict[str, CaseRecord]
) -> None:
    report = capta_report(cases.db, catalogue, *NOVEMBER)
    assert report["births"] == {
        "births": "<5",  # X1, and X2 born on 30 November local
        "births_before_plan_agreed": 0,
        "identified_prenatally": "<5",
        "identified_at_birth": 0,  # a 0 gives nothing away
        "substance_affected": "<5",
        "discharged": "<5",
        "with_plan_by_discharge": "<5",
        "plan_agreed_before_birth": "<5",
        "referred_infant_services": "<5",
        "referred_caregiver_services": "<5",
    }
    assert report["cases"] == {
        "cases_opened": "<5",  # X1, X2, X4, and X3 opened on 30 November local
        "admitted": "<5",
        "median_hours_to_admission": SUPPRESSED,  # a median over 3 or 4 cases gives their values away
        "admitted_within_72h": {"count": "<5", "share": SUPPRESSED},
        "admitted_within_7d": {"count": "<5", "share": SUPPRESSED},
        "median_days_meeting_to_birth": SUPPRESSED,
    }


def test_a_period_with_nothing_in_it_shows_zeros_and_no_shares(
    cases: Cases, catalogue: Catalogue, made: dict[str, CaseRecord]
) -> None:
    report = capta_report(cases.db, catalogue, date(2025, 1, 1), date(2025, 12, 31))
    assert set(report["births"].values()) == {0}
    assert report["cases"] == {
        "cases_opened": 0, "admitted": 0, "median_hours_to_admission": None,
        "admitted_within_72h": {"count": 0, "share": None}, "admitted_within_7d": {"count": 0, "share": None},
        "median_days_meeting_to_birth": None,
    }


def test_a_share_of_zero_is_shown(cases: Cases, catalogue: Catalogue, clock: FixedClock) -> None:
    for _ in range(6):
        open_case(cases, clock)
        clock.advance(timedelta(minutes=1))
    day = NOVEMBER[0] + timedelta(days=1)
    figures = capta_report(cases.db, catalogue, day, day)["cases"]
    assert figures["cases_opened"] == 6
    assert figures["admitted_within_72h"] == {"count": 0, "share": 0.0}


def test_the_report_identifies_nobody(cases: Cases, catalogue: Catalogue, made: dict[str, CaseRecord]) -> None:
    for period in (DECEMBER, NOVEMBER, (date(2026, 1, 1), date(2027, 12, 31))):
        report = capta_report(cases.db, catalogue, *period)
        text = json.dumps(report)
        for identifying in ("Alex", "Rivera", "1996-04-12", "PC-", "Sam Lee", *(c.id for c in made.values())):
            assert identifying not in text
        allowed_strings = {"<5", SUPPRESSED, SUPPRESSION, *report["period"].values()}
        assert all(v is None or isinstance(v, int | float) or v in allowed_strings for v in leaves(report))


def test_the_report_reads_a_fixed_number_of_queries(
    cases: Cases, catalogue: Catalogue, db: Database, made: dict[str, CaseRecord]
) -> None:
    """One query finds the cases, one reads their relevant events: no query per case."""
    selects: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        capta_report(db, catalogue, *DECEMBER)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len(selects) == 2
    assert "events.action IN" in selects[1] and "events.case_id IN" in selects[1]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (date(2026, 12, 31), date(2026, 12, 1), "must not be before from"),
        (date(2024, 1, 1), date(2027, 1, 1), "must be at most 3 years after from"),
        (date(2024, 2, 29), date(2027, 3, 1), "must be at most 3 years after from"),
    ],
)
def test_a_bad_period_is_refused(db: Database, catalogue: Catalogue, start: date, end: date, message: str) -> None:
    with pytest.raises(InvalidForm) as refused:
        capta_report(db, catalogue, start, end)
    assert refused.value.form == "report"
    assert refused.value.errors == [FieldError("to", message)]


@pytest.mark.parametrize(
    ("start", "end"),
    [(date(2026, 12, 1), date(2026, 12, 1)), (date(2024, 1, 1), date(2026, 12, 31)),
     (date(2024, 2, 29), date(2027, 2, 28))],
)
def test_a_single_day_and_exactly_three_years_are_accepted(
    db: Database, catalogue: Catalogue, start: date, end: date
) -> None:
    assert capta_report(db, catalogue, start, end)["period"] == {"from": start.isoformat(), "to": end.isoformat()}


@pytest.mark.parametrize(("prenatal", "at_birth", "shown"), [
    (9, 2, ("suppressed", "<5")),  # with 11 births shown, 9 would give the 2 away
    (2, 9, ("<5", "suppressed")),
    (3, 0, ("<5", 0)),  # a 0 gives nothing away
    (6, 5, (6, 5)),
])
def test_how_parents_were_identified_is_suppressed_together(
    prenatal: int, at_birth: int, shown: tuple[Any, Any]
) -> None:
    from engine.reports import _complementary

    parts = _complementary({"identified_prenatally": Count(prenatal), "identified_at_birth": Count(at_birth)})
    assert (parts["identified_prenatally"], parts["identified_at_birth"]) == shown
