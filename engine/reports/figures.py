"""Every figure, defined once: its name, the sentence that defines it (published beside the number in the API, the
page, the exports and the docs), and the rule that counts it. A figure belongs to a section, and a section to one
cohort: the cases whose cohort date (a birth, an identification, an admission...) falls in the period, by the
jurisdiction's calendar. Each cohort is followed through everything recorded about it so far, including what
happened after the period ended: running a report again later can raise a figure such as "referred" as the record
fills in; it never moves a case in or out of a cohort (unless a date is corrected).

A rule reads a cohort's courses as columns (`Columns`): a count's rule gives, for every course, whether it counts; a
median's gives each course's value (NaN where it has none). Days are day numbers; a missing one never counts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engine.reports.columns import Columns, Days, Mask, Texts
from engine.reports.courses import BORN_WITH_PLAN, CPS_ASSESSMENT

Test = Callable[[Columns], Mask]
Value = Callable[[Columns], Days]


@dataclass(frozen=True)
class Figure:
    """A count (with `test`) or a median (with `value`, in `unit`). A count's `of` is the figure it is a share of;
    a median's is the count it is taken over. `breakdown` figures are also given by month and by lead CPS office."""

    id: str
    label: str
    definition: str
    test: Test | None = None
    value: Value | None = None
    of: str | None = None
    unit: str | None = None
    breakdown: bool = False
    #: Other counts this one is part of by definition, besides `of` ("section.figure" for another section's).
    within: tuple[str, ...] = ()
    #: The same count in a wider cohort ("births.born_with_plan" for the substance-affected births with a plan):
    #: this is part of it, and so is what this leaves of its `of` part of what the counterpart leaves of its own.
    counterpart: str | None = None
    #: A median's bins: the counts (of the same section) that split what it is taken over, each with its lowest and
    #: highest value (None: no limit); a bin named None is the rest. A reader can bound the bins from the median.
    bins: tuple[tuple[str | None, int | None, int | None], ...] = ()

    @property
    def kind(self) -> str:
        return "count" if self.test is not None else "median"


@dataclass(frozen=True)
class Chart:
    """How the figures page draws some of a section's figures: `bars` (one bar per figure), `months` (the figures'
    months side by side) or `curve` (each figure's share, in order)."""

    id: str
    title: str
    kind: str
    figures: tuple[str, ...]
    #: For `bars`: a mark drawn after the figure with this id ("72 hours"), as (figure id, label) pairs.
    marks: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    cohort: str
    date: Callable[[Columns], Days]
    figures: tuple[Figure, ...]
    charts: tuple[Chart, ...] = ()
    #: Totals that are the sum of other counts by definition, as (total, parts): a reader can add them up too.
    sums: tuple[tuple[str, tuple[str, ...]], ...] = ()


def median(values: Sequence[float]) -> float:
    """The lower median: a value that occurred (whole days), never halfway between two, which would tell exactly
    how many are on either side."""
    ordered = sorted(values)
    return float(ordered[(len(ordered) - 1) // 2])


# --- the cohorts' dates ---


def _affected_birth(c: Columns) -> Days:
    return np.where(c.substance_affected, c.born_on, np.nan)


def _birth(c: Columns) -> Days:
    return c.born_on


def _prenatal_identification(c: Columns) -> Days:
    return np.where(c.identified_at_birth, np.nan, c.identified_on)


def _first_priority_referral(c: Columns) -> Days:
    return c.priority_referral_on.first()


def _first_admission(c: Columns) -> Days:
    return c.first_admission


def _first_disengagement(c: Columns) -> Days:
    return c.disengaged_at.day


# --- the rules ---


def _all(c: Columns) -> Mask:
    return np.ones(c.size, np.bool_)


def _present(days: Days) -> Mask:
    return ~np.isnan(days)


def _given(texts: Texts) -> Mask:
    return np.array([value is not None for value in texts], np.bool_)


def _with_plan(c: Columns) -> Mask:
    return c.born_to == BORN_WITH_PLAN  # type: ignore[no-any-return]


def _assessed(c: Columns) -> Mask:
    return c.notified_to == CPS_ASSESSMENT  # type: ignore[no-any-return]


def _admission_wait(c: Columns) -> Days:
    return c.first_admission - c.identified_on


def _between(value: Callable[[Columns], Days], low: int | None, high: int | None) -> Test:
    """Values from `low` to `high` (None: no limit); a missing value is in no bin."""
    def test(c: Columns) -> Mask:
        v = value(c)
        inside = _present(v)
        if low is not None:
            inside &= v >= low
        if high is not None:
            inside &= v <= high
        return inside
    return test


def _wait_between(low: int | None, high: int | None) -> Test:
    """Waits from `low` to `high` days; the lowest bin takes a (corrected) date out of order."""
    return _between(_admission_wait, low, high)


def _lead_time(c: Columns) -> Days:
    return np.where(_with_plan(c), c.born_on - c.meeting_on, np.nan)


def _lead_between(low: int | None, high: int | None) -> Test:
    return _between(_lead_time, low, high)


def _reached(days: int) -> Test:
    def test(c: Columns) -> Mask:
        return c.first_admission + days <= c.today
    return test


def _retained(days: int) -> Test:
    def test(c: Columns) -> Mask:
        mark = c.first_admission + days
        return (mark <= c.today) & c.in_treatment_on(mark)
    return test


def _re_engaged(c: Columns) -> Mask:
    stopped = c.disengaged_at
    back = c.admissions.first(since=stopped.day)
    return c.within("re_engagement", stopped, back)


def _interim_in_time(c: Columns) -> Mask:
    referred = _first_priority_referral(c)
    started = c.interim_on.joined(c.admissions).first(since=referred)
    return c.within("interim_services", referred, started)


def _plan_by_discharge(c: Columns) -> Mask:
    return _present(c.discharged_on) & c.plan_by_discharge


RETENTION_MARKS = (7, 30, 60, 90)
_NOT_PRENATAL = "Infants identified at birth are not in this cohort: their parents were never on the prenatal pathway."

SECTIONS: tuple[Section, ...] = (
    Section(
        "capta", "CAPTA: substance-affected infants",
        "Infants born in the period (by the date of birth recorded at delivery) whose birth record says they were "
        "affected by substance use, withdrawal or a fetal alcohol spectrum disorder.",
        _affected_birth,
        (
            Figure("substance_affected", "Infants identified as substance-affected",
                   "Every substance-affected infant born in the period.", _all, breakdown=True,
                   within=("births.births",)),
            Figure("identified_prenatally", "Identified before birth",
                   "The parent's case was opened before the birth.",
                   lambda c: ~c.identified_at_birth, of="substance_affected"),
            Figure("identified_at_birth", "Identified at birth",
                   "The case was opened by hospital staff at delivery, with the birth.",
                   lambda c: c.identified_at_birth, of="substance_affected", within=("births.born_before_plan",)),
            Figure("plan_agreed_before_birth", "With a plan agreed before birth",
                   "Born after the Plan of Safe Care was agreed at the prenatal planning meeting.",
                   _with_plan, of="substance_affected", breakdown=True,
                   within=("identified_prenatally",), counterpart="births.born_with_plan"),
            Figure("discharged", "Discharged from hospital", "Discharged so far.",
                   lambda c: _present(c.discharged_on), of="substance_affected",
                   counterpart="births.discharged_all"),
            Figure("plan_by_discharge", "With a plan by discharge",
                   "Discharged with a Plan of Safe Care recorded before the discharge (agreed before birth or "
                   "made at birth).", _plan_by_discharge, of="discharged", counterpart="births.plan_before_discharge"),
            Figure("referred_infant_services", "Referred to services for the infant",
                   "A referral to early intervention, home visiting or pediatric care, or a discharge that lists "
                   "referrals, whatever became of it.",
                   lambda c: c.infant_referral, of="substance_affected", breakdown=True),
            Figure("referred_caregiver_services", "Referred to services for the caregiver",
                   "A referral to or admission into substance use treatment at any point of the case, or a referral "
                   "to treatment, mental health or housing services.",
                   lambda c: c.caregiver_referral, of="substance_affected"),
            Figure("early_intervention_in_time", "Referred to early intervention within its deadline",
                   "An early intervention referral dated within the early intervention deadline (7 days) of the "
                   "birth.", lambda c: c.within("early_intervention_referral", c.born_at, c.early_intervention_on),
                   of="substance_affected", within=("referred_infant_services",)),
        ),
        (Chart("monthly", "Substance-affected infants by month", "months",
               ("substance_affected", "plan_agreed_before_birth", "referred_infant_services")),),
        sums=(
            ("substance_affected", ("identified_prenatally", "identified_at_birth")),
            ("discharged", ("plan_by_discharge",)),  # no discharge without a plan: the pathway's guard
        ),
    ),
    Section(
        "births", "Births and how they were met",
        "Every infant born in the period on the pathway, substance-affected or not, by the date of birth.",
        _birth,
        (
            Figure("births", "Births", "Every birth recorded for the period.", _all, breakdown=True),
            Figure("born_with_plan", "Born with a plan agreed before birth",
                   "The Plan of Safe Care was agreed at the prenatal planning meeting before the birth.",
                   _with_plan, of="births", breakdown=True),
            Figure("born_before_plan", "Born before a plan was agreed",
                   "No plan had been agreed when the infant was born (including infants identified at birth).",
                   lambda c: ~_with_plan(c), of="births"),
            Figure("assessed", "Met by a CPS assessment",
                   "The CAPTA notification led to a CPS assessment (no plan yet, or a safety concern was raised).",
                   _assessed, of="notified"),
            Figure("assessed_with_plan", "Met by a CPS assessment, with a plan",
                   "Of the births with a plan agreed before birth: the CAPTA notification led to a CPS assessment "
                   "(a safety concern was raised).",
                   lambda c: _with_plan(c) & _assessed(c),
                   of="born_with_plan"),
            Figure("assessed_without_plan", "Met by a CPS assessment, without a plan",
                   "Of the births before a plan was agreed: the CAPTA notification led to a CPS assessment.",
                   lambda c: ~_with_plan(c) & _assessed(c),
                   of="born_before_plan"),
            Figure("notified", "CAPTA notification made", "Hospital staff have notified CPS.",
                   lambda c: _given(c.notified_to), of="births"),
            Figure("notified_in_time", "CAPTA notification within its deadline",
                   "Notified on a date within the CAPTA notification deadline (48 hours) of the birth.",
                   lambda c: c.within("capta_notification", c.born_at, c.notified_on), of="births",
                   within=("notified",)),
            Figure("discharged_all", "Discharged from hospital", "Discharged so far.",
                   lambda c: _present(c.discharged_on), of="births"),
            Figure("plan_before_discharge", "With a plan before discharge",
                   "Discharged with a Plan of Safe Care recorded before the discharge.", _plan_by_discharge,
                   of="discharged_all"),
            Figure("home_with_parent", "Discharged home with a parent",
                   "The discharge form says the infant went home with a parent.",
                   lambda c: c.discharged_to == "parent", of="discharged_all"),
            Figure("median_lead_days", "Planning meeting lead time (median)",
                   "Days from the planning meeting that agreed the plan to the birth, over the births with a plan "
                   "agreed before birth.", value=_lead_time, of="born_with_plan", unit="days",
                   bins=(("lead_0_7", None, 7), ("lead_8_14", 8, 14), ("lead_15_30", 15, 30),
                         ("lead_over_30", 31, None))),
            Figure("lead_0_7", "Meeting 0 to 7 days before birth",
                   "Of the births with a plan agreed before birth (a birth dated before its meeting counts here).",
                   _lead_between(None, 7), of="born_with_plan"),
            Figure("lead_8_14", "Meeting 8 to 14 days before birth", "Of the births with a plan agreed before birth.",
                   _lead_between(8, 14), of="born_with_plan"),
            Figure("lead_15_30", "Meeting 15 to 30 days before birth",
                   "Of the births with a plan agreed before birth.", _lead_between(15, 30), of="born_with_plan"),
            Figure("lead_over_30", "Meeting more than 30 days before birth",
                   "Of the births with a plan agreed before birth.", _lead_between(31, None), of="born_with_plan"),
            Figure("birth_entered_same_day", "Birth entered the day it happened",
                   "Data quality: the birth was recorded on the day of birth.",
                   lambda c: c.birth_entered - c.born_on == 0, of="births"),
            Figure("median_birth_entry_days", "Days from birth to its entry (median)",
                   "Data quality: days from the date of birth to the day it was recorded.",
                   value=lambda c: c.birth_entered - c.born_on, of="births", unit="days",
                   bins=(("birth_entered_same_day", None, 0), (None, 1, None))),
        ),
        (Chart("lead_time", "Planning meeting lead time before birth", "bars",
               ("lead_0_7", "lead_8_14", "lead_15_30", "lead_over_30")),),
        sums=(
            ("births", ("born_with_plan", "born_before_plan")),
            ("assessed", ("assessed_with_plan", "assessed_without_plan")),
            ("discharged_all", ("plan_before_discharge",)),  # no discharge without a plan: the pathway's guard
            ("born_with_plan", ("lead_0_7", "lead_8_14", "lead_15_30", "lead_over_30")),
        ),
    ),
    Section(
        "treatment_access", "From identification to treatment",
        "Parents identified during pregnancy in the period, by the identification date. " + _NOT_PRENATAL,
        _prenatal_identification,
        (
            Figure("identified", "Parents identified", "Every case opened for a parent identified in the period.",
                   _all, breakdown=True),
            Figure("admitted", "Admitted to treatment", "Admitted to substance use treatment so far.",
                   lambda c: c.admissions.any(), of="identified"),
            Figure("admitted_within_72h", "Admitted within 72 hours",
                   "The first admission date is within the treatment admission deadline's target (72 hours) of "
                   "the identification date.",
                   lambda c: c.within("treatment_admission", c.identified_on, c.first_admission, target=True),
                   of="identified"),
            Figure("admitted_within_7d", "Admitted within 7 days",
                   "The first admission date is within the treatment admission deadline (7 days) of the "
                   "identification date.",
                   lambda c: c.within("treatment_admission", c.identified_on, c.first_admission),
                   of="identified", breakdown=True),
            Figure("median_days_to_admission", "Days from identification to admission (median)",
                   "Days from the identification date to the first admission date, over the parents admitted.",
                   value=_admission_wait, of="admitted", unit="days",
                   bins=(("wait_same_day", None, 0), ("wait_1_3", 1, 3), ("wait_4_7", 4, 7), ("wait_8_14", 8, 14),
                         ("wait_over_14", 15, None))),
            Figure("wait_same_day", "Admitted the same day",
                   "Of the parents identified (a corrected identification date after the admission counts here).",
                   _wait_between(None, 0), of="identified"),
            Figure("wait_1_3", "Admitted after 1 to 3 days", "Of the parents identified.", _wait_between(1, 3),
                   of="identified"),
            Figure("wait_4_7", "Admitted after 4 to 7 days", "Of the parents identified.", _wait_between(4, 7),
                   of="identified"),
            Figure("wait_8_14", "Admitted after 8 to 14 days", "Of the parents identified.", _wait_between(8, 14),
                   of="identified"),
            Figure("wait_over_14", "Admitted after more than 14 days", "Of the parents identified.",
                   _wait_between(15, None), of="identified"),
            Figure("not_admitted", "Not admitted yet", "Of the parents identified.",
                   lambda c: ~c.admissions.any(), of="identified"),
            Figure("identification_entered_same_day", "Identification entered the day it happened",
                   "Data quality: the case was opened on the identification date.",
                   lambda c: c.identification_entered - c.identified_on == 0, of="identified"),
            Figure("median_identification_entry_days", "Days from identification to its entry (median)",
                   "Data quality: days from the identification date to the day the case was opened.",
                   value=lambda c: c.identification_entered - c.identified_on, of="identified",
                   unit="days", bins=(("identification_entered_same_day", None, 0), (None, 1, None))),
        ),
        (Chart("admission_wait", "Days from identification to treatment admission", "bars",
               ("wait_same_day", "wait_1_3", "wait_4_7", "wait_8_14", "wait_over_14", "not_admitted"),
               marks=(("wait_1_3", "72 hours"), ("wait_4_7", "7 days"))),),
        sums=(
            ("identified", ("wait_same_day", "wait_1_3", "wait_4_7", "wait_8_14", "wait_over_14", "not_admitted")),
            ("identified", ("admitted", "not_admitted")),
            ("admitted", ("wait_same_day", "wait_1_3", "wait_4_7", "wait_8_14", "wait_over_14")),
            ("admitted_within_72h", ("wait_same_day", "wait_1_3")),
            ("admitted_within_7d", ("wait_same_day", "wait_1_3", "wait_4_7")),
        ),
    ),
    Section(
        "interim_services", "Priority referrals and interim services",
        "Parents whose first referral to treatment with priority requested is dated in the period.",
        _first_priority_referral,
        (
            Figure("priority_referrals", "Priority referrals", "Every parent referred with priority requested.",
                   _all),
            Figure("interim_in_time", "Interim services or admission within 48 hours",
                   "Interim services started, or treatment admission, on a date within the interim services "
                   "deadline (48 hours) of the referral date.", _interim_in_time, of="priority_referrals"),
        ),
    ),
    Section(
        "retention", "Staying in treatment",
        "Parents first admitted to treatment in the period, by the admission date.",
        _first_admission,
        (
            Figure("admissions", "Parents admitted", "Every parent first admitted in the period.",
                   _all),
            *(figure for days in RETENTION_MARKS for figure in (
                Figure(f"reached_{days}", f"Admitted at least {days} days ago",
                       f"Parents whose admission was at least {days} days before the report was run.",
                       _reached(days), of="admissions",
                       within=tuple(f"reached_{d}" for d in RETENTION_MARKS if d < days)[-1:]),
                Figure(f"retained_{days}", f"Still in treatment after {days} days",
                       f"In treatment {days} days after admission: not recorded as disengaged or as having left "
                       f"treatment since the last admission.", _retained(days), of=f"reached_{days}"),
            )),
        ),
        (Chart("retention", "Share still in treatment after admission", "curve",
               tuple(f"retained_{days}" for days in RETENTION_MARKS)),),
    ),
    Section(
        "re_engagement", "Re-engagement",
        "Parents whose first disengagement from treatment was recorded in the period.",
        _first_disengagement,
        (
            Figure("disengaged", "Parents disengaged", "Every parent recorded as disengaged in the period.",
                   _all),
            Figure("re_engaged_in_time", "Re-engaged within 7 days",
                   "Admitted to treatment again on a date within the re-engagement deadline (7 days) of the "
                   "disengagement.", _re_engaged, of="disengaged"),
        ),
    ),
)


def reference() -> str:
    """Every section and figure with its definition, as Markdown: the reference in `docs/figures.md` (a test keeps
    it the same as this)."""
    lines = []
    for section in SECTIONS:
        lines += [f"### {section.title} (`{section.id}`)", "", section.cohort, "", "| figure | what it counts |",
                  "| --- | --- |"]
        names = {f.id: f.label for f in section.figures}
        for figure in section.figures:
            text = figure.definition
            if figure.of and figure.kind == "count":
                text += f" Share of `{figure.of}` ({names[figure.of].lower()})."
            if figure.kind == "median":
                text += f" Median, in {figure.unit}; over `{figure.of}`."
            if figure.breakdown:
                text += " By month and by lead CPS office too."
            if figure.kind == "median":
                text += " The lower median (a value that occurred), shown when the count it is over is shown."
            lines.append(f"| `{figure.id}`: {figure.label} | {text} |")
        lines.append("")
    return "\n".join(lines)
