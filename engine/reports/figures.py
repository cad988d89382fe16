"""Every figure, defined once: its name, the sentence that defines it (published beside the number in the API, the
page, the exports and the docs), and the rule that counts it. A figure belongs to a section, and a section to one
cohort: the cases whose cohort date (a birth, an identification, an admission...) falls in the period, by the
jurisdiction's calendar. Each cohort is followed through everything recorded about it so far, including what
happened after the period ended: running a report again later can raise a figure such as "referred" as the record
fills in; it never moves a case in or out of a cohort (unless a date is corrected)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from engine.reports.courses import BORN_WITH_PLAN, CPS_ASSESSMENT, Course, add_days, days_between


@dataclass(frozen=True)
class Context:
    """What the rules need besides a course: when the report is run."""

    now: datetime
    _days: dict[str, date] = field(default_factory=dict, compare=False)

    def today(self, course: Course) -> date:
        """The day the report is run, in the course's jurisdiction."""
        zone = course.workflow.timezone.key
        if zone not in self._days:
            self._days[zone] = course.workflow.today(self.now)
        return self._days[zone]


Test = Callable[[Course, Context], bool]
Value = Callable[[Course, Context], float | None]


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
    date: Callable[[Course], date | None]
    figures: tuple[Figure, ...]
    charts: tuple[Chart, ...] = ()
    #: Totals that are the sum of other counts by definition, as (total, parts): a reader can add them up too.
    sums: tuple[tuple[str, tuple[str, ...]], ...] = ()


def median(values: Sequence[float]) -> float:
    """The lower median: a value that occurred (whole days), never halfway between two, which would tell exactly
    how many are on either side."""
    return float(statistics.median_low(values))


# --- the cohorts' dates ---


def _affected_birth(c: Course) -> date | None:
    return c.born_on if c.substance_affected else None


def _birth(c: Course) -> date | None:
    return c.born_on


def _prenatal_identification(c: Course) -> date | None:
    return None if c.identified_at_birth else c.identified_on


def _first_priority_referral(c: Course) -> date | None:
    return min(c.priority_referral_on, default=None)


def _first_admission(c: Course) -> date | None:
    return c.first_admission


def _first_disengagement(c: Course) -> date | None:
    return c.workflow.today(c.disengaged_at[0]) if c.disengaged_at else None


# --- the rules ---


def _admission_wait(c: Course) -> int | None:
    first = _first_admission(c)
    return days_between(c.identified_on, first)


def _wait_between(low: int | None, high: int | None) -> Test:
    """Waits from `low` to `high` days (None: no limit); the lowest bin takes a (corrected) date out of order."""
    def test(c: Course, _: Context) -> bool:
        wait = _admission_wait(c)
        return wait is not None and (low is None or wait >= low) and (high is None or wait <= high)
    return test


def _lead_time(c: Course) -> int | None:
    return days_between(c.meeting_on, c.born_on) if c.born_to == BORN_WITH_PLAN else None


def _lead_between(low: int | None, high: int | None) -> Test:
    def test(c: Course, _: Context) -> bool:
        days = _lead_time(c)
        return days is not None and (low is None or days >= low) and (high is None or days <= high)
    return test


def _reached(days: int) -> Test:
    def test(c: Course, context: Context) -> bool:
        first = _first_admission(c)
        return first is not None and add_days(first, days) <= context.today(c)
    return test


def _retained(days: int) -> Test:
    reached = _reached(days)

    def test(c: Course, context: Context) -> bool:
        first = _first_admission(c)
        return first is not None and reached(c, context) and c.in_treatment_on(add_days(first, days))
    return test


def _re_engaged(c: Course, _: Context) -> bool:
    if not c.disengaged_at:
        return False
    stopped = c.disengaged_at[0]
    back = [d for d in c.admissions if d >= c.workflow.today(stopped)]
    return bool(back) and c.within("re_engagement", stopped, min(back))


def _interim_in_time(c: Course, _: Context) -> bool:
    referred = _first_priority_referral(c)
    if referred is None:
        return False
    started = [d for d in (*c.interim_on, *c.admissions) if d >= referred]
    return bool(started) and c.within("interim_services", referred, min(started))


def _plan_by_discharge(c: Course, _: Context) -> bool:
    return c.discharged_on is not None and c.plan_by_discharge


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
                   "Every substance-affected infant born in the period.", lambda c, _: True, breakdown=True,
                   within=("births.births",)),
            Figure("identified_prenatally", "Identified before birth",
                   "The parent's case was opened before the birth.",
                   lambda c, _: not c.identified_at_birth, of="substance_affected"),
            Figure("identified_at_birth", "Identified at birth",
                   "The case was opened by hospital staff at delivery, with the birth.",
                   lambda c, _: c.identified_at_birth, of="substance_affected", within=("births.born_before_plan",)),
            Figure("plan_agreed_before_birth", "With a plan agreed before birth",
                   "Born after the Plan of Safe Care was agreed at the prenatal planning meeting.",
                   lambda c, _: c.born_to == BORN_WITH_PLAN, of="substance_affected", breakdown=True,
                   within=("identified_prenatally",), counterpart="births.born_with_plan"),
            Figure("discharged", "Discharged from hospital", "Discharged so far.",
                   lambda c, _: c.discharged_on is not None, of="substance_affected",
                   counterpart="births.discharged_all"),
            Figure("plan_by_discharge", "With a plan by discharge",
                   "Discharged with a Plan of Safe Care recorded before the discharge (agreed before birth or "
                   "made at birth).", _plan_by_discharge, of="discharged", counterpart="births.plan_before_discharge"),
            Figure("referred_infant_services", "Referred to services for the infant",
                   "A referral to early intervention, home visiting or pediatric care, or a discharge that lists "
                   "referrals, whatever became of it.",
                   lambda c, _: c.infant_referral, of="substance_affected", breakdown=True),
            Figure("referred_caregiver_services", "Referred to services for the caregiver",
                   "A referral to or admission into substance use treatment at any point of the case, or a referral "
                   "to treatment, mental health or housing services.",
                   lambda c, _: c.caregiver_referral, of="substance_affected"),
            Figure("early_intervention_in_time", "Referred to early intervention within its deadline",
                   "An early intervention referral dated within the early intervention deadline (7 days) of the "
                   "birth.", lambda c, _: c.within("early_intervention_referral", c.born_at, c.early_intervention_on),
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
            Figure("births", "Births", "Every birth recorded for the period.", lambda c, _: True, breakdown=True),
            Figure("born_with_plan", "Born with a plan agreed before birth",
                   "The Plan of Safe Care was agreed at the prenatal planning meeting before the birth.",
                   lambda c, _: c.born_to == BORN_WITH_PLAN, of="births", breakdown=True),
            Figure("born_before_plan", "Born before a plan was agreed",
                   "No plan had been agreed when the infant was born (including infants identified at birth).",
                   lambda c, _: c.born_to != BORN_WITH_PLAN, of="births"),
            Figure("assessed", "Met by a CPS assessment",
                   "The CAPTA notification led to a CPS assessment (no plan yet, or a safety concern was raised).",
                   lambda c, _: c.notified_to == CPS_ASSESSMENT, of="notified"),
            Figure("assessed_with_plan", "Met by a CPS assessment, with a plan",
                   "Of the births with a plan agreed before birth: the CAPTA notification led to a CPS assessment "
                   "(a safety concern was raised).",
                   lambda c, _: c.born_to == BORN_WITH_PLAN and c.notified_to == CPS_ASSESSMENT,
                   of="born_with_plan"),
            Figure("assessed_without_plan", "Met by a CPS assessment, without a plan",
                   "Of the births before a plan was agreed: the CAPTA notification led to a CPS assessment.",
                   lambda c, _: c.born_to != BORN_WITH_PLAN and c.notified_to == CPS_ASSESSMENT,
                   of="born_before_plan"),
            Figure("notified", "CAPTA notification made", "Hospital staff have notified CPS.",
                   lambda c, _: c.notified_to is not None, of="births"),
            Figure("notified_in_time", "CAPTA notification within its deadline",
                   "Notified on a date within the CAPTA notification deadline (48 hours) of the birth.",
                   lambda c, _: c.within("capta_notification", c.born_at, c.notified_on), of="births",
                   within=("notified",)),
            Figure("discharged_all", "Discharged from hospital", "Discharged so far.",
                   lambda c, _: c.discharged_on is not None, of="births"),
            Figure("plan_before_discharge", "With a plan before discharge",
                   "Discharged with a Plan of Safe Care recorded before the discharge.", _plan_by_discharge,
                   of="discharged_all"),
            Figure("home_with_parent", "Discharged home with a parent",
                   "The discharge form says the infant went home with a parent.",
                   lambda c, _: c.discharged_to == "parent", of="discharged_all"),
            Figure("median_lead_days", "Planning meeting lead time (median)",
                   "Days from the planning meeting that agreed the plan to the birth, over the births with a plan "
                   "agreed before birth.", value=lambda c, _: _lead_time(c), of="born_with_plan", unit="days",
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
                   lambda c, _: days_between(c.born_on, c.birth_entered) == 0, of="births"),
            Figure("median_birth_entry_days", "Days from birth to its entry (median)",
                   "Data quality: days from the date of birth to the day it was recorded.",
                   value=lambda c, _: days_between(c.born_on, c.birth_entered), of="births", unit="days",
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
                   lambda c, _: True, breakdown=True),
            Figure("admitted", "Admitted to treatment", "Admitted to substance use treatment so far.",
                   lambda c, _: bool(c.admissions), of="identified"),
            Figure("admitted_within_72h", "Admitted within 72 hours",
                   "The first admission date is within the treatment admission deadline's target (72 hours) of "
                   "the identification date.",
                   lambda c, _: c.within("treatment_admission", c.identified_on, _first_admission(c), target=True),
                   of="identified"),
            Figure("admitted_within_7d", "Admitted within 7 days",
                   "The first admission date is within the treatment admission deadline (7 days) of the "
                   "identification date.",
                   lambda c, _: c.within("treatment_admission", c.identified_on, _first_admission(c)),
                   of="identified", breakdown=True),
            Figure("median_days_to_admission", "Days from identification to admission (median)",
                   "Days from the identification date to the first admission date, over the parents admitted.",
                   value=lambda c, _: _admission_wait(c), of="admitted", unit="days",
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
                   lambda c, _: not c.admissions, of="identified"),
            Figure("identification_entered_same_day", "Identification entered the day it happened",
                   "Data quality: the case was opened on the identification date.",
                   lambda c, _: days_between(c.identified_on, c.identification_entered) == 0, of="identified"),
            Figure("median_identification_entry_days", "Days from identification to its entry (median)",
                   "Data quality: days from the identification date to the day the case was opened.",
                   value=lambda c, _: days_between(c.identified_on, c.identification_entered), of="identified",
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
                   lambda c, _: True),
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
                   lambda c, _: True),
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
                   lambda c, _: True),
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
