"""An outsider attacks the published figures: from what a report shows, and what any reader knows about how the
figures fit together, can a suppressed count be worked out?

The attack is written here, apart from the engine's suppression: it reads only the published report (values, "<5",
"suppressed", the breakdowns, which count each is a share `of`) and the identities below, which the test checks
against the true counts before relying on them. For every "<5" cell, and every difference a reader can take (a
count's complement within the count it is part of) that is truly 1 to 4, it asks a linear programme for the
smallest and largest value consistent with everything shown. If only one whole number fits, the cell is recovered
and the test fails. Random populations (hypothesis) and the pathway-driven population of `test_reports.py` are both
attacked.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from engine import Cases, Catalogue, FixedClock
from engine.reports import LESS_THAN, SUPPRESSED
from engine.reports.courses import Course
from engine.reports.report import Tabulation, period, protected_tabulation, publish, tabulate
from engine.reports.suppression import protect
from tests.engine.test_reports import DECEMBER, NOVEMBER, population

#: What any reader knows from the definitions: these totals are the sums of these parts (within each section).
IDENTITIES = [
    ("births.births", ["births.born_with_plan", "births.born_before_plan"]),
    ("births.born_with_plan", ["births.lead_0_7", "births.lead_8_14", "births.lead_15_30", "births.lead_over_30"]),
    ("capta.substance_affected", ["capta.identified_prenatally", "capta.identified_at_birth"]),
    ("treatment_access.identified", ["treatment_access.admitted", "treatment_access.not_admitted"]),
    ("treatment_access.admitted", [f"treatment_access.{b}" for b in
                                   ("wait_same_day", "wait_1_3", "wait_4_7", "wait_8_14", "wait_over_14")]),
    ("treatment_access.admitted_within_72h", ["treatment_access.wait_same_day", "treatment_access.wait_1_3"]),
    ("treatment_access.admitted_within_7d", ["treatment_access.wait_same_day", "treatment_access.wait_1_3",
                                            "treatment_access.wait_4_7"]),
    ("births.assessed", ["births.assessed_with_plan", "births.assessed_without_plan"]),
    # No discharge without a plan (the pathway's guard): "with a plan by discharge" is every discharge.
    ("capta.discharged", ["capta.plan_by_discharge"]), ("births.discharged_all", ["births.plan_before_discharge"]),
]
#: Counts that are part of a count in another section (or of another count than their `of`).
INCLUSIONS = [
    ("capta.substance_affected", "births.births"), ("capta.plan_agreed_before_birth", "births.born_with_plan"),
    ("capta.identified_at_birth", "births.born_before_plan"), ("capta.discharged", "births.discharged_all"),
    ("capta.plan_by_discharge", "births.plan_before_discharge"), ("births.notified_in_time", "births.notified"),
    ("capta.early_intervention_in_time", "capta.referred_infant_services"),
    ("capta.plan_agreed_before_birth", "capta.identified_prenatally"),  # a case opened at birth has no plan yet
]
#: Differences within differences: the substance-affected births before a plan are births before a plan, and so on.
COMPLEMENTS = [
    (("capta.substance_affected", "capta.plan_agreed_before_birth"), ("births.births", "births.born_with_plan")),
    (("capta.substance_affected", "capta.discharged"), ("births.births", "births.discharged_all")),
]
#: What a published median (the lower median, a value that occurred) says: at least half the values are at most
#: it, more than half at least it. The bins that split the count it is over, with their lowest and highest values.
MEDIAN_BINS = {
    "births.median_lead_days": [("births.lead_0_7", None, 7), ("births.lead_8_14", 8, 14),
                                ("births.lead_15_30", 15, 30), ("births.lead_over_30", 31, None)],
    "births.median_birth_entry_days": [("births.birth_entered_same_day", None, 0), (None, 1, None)],
    "treatment_access.median_days_to_admission": [
        ("treatment_access.wait_same_day", None, 0), ("treatment_access.wait_1_3", 1, 3),
        ("treatment_access.wait_4_7", 4, 7), ("treatment_access.wait_8_14", 8, 14),
        ("treatment_access.wait_over_14", 15, None)],
    "treatment_access.median_identification_entry_days": [
        ("treatment_access.identification_entered_same_day", None, 0), (None, 1, None)],
}


class Attack:
    """The reader's linear system over the published cells and the differences between them."""

    def __init__(self, report: dict[str, Any], truth: dict[tuple[str, str], int]) -> None:
        self.names: list[tuple[str, str]] = []  # (figure, slice) per variable
        self.bounds: list[tuple[float, float | None]] = []
        self.truth: list[int] = []
        self.sums: list[tuple[int, list[int]]] = []
        self.at_least: list[tuple[dict[int, float], float]] = []  # sum(coefficient x variable) >= least
        self.targets: list[int] = []  # variables the reader must not pin down
        self.index: dict[tuple[str, str], int] = {}
        figures = {f"{s['id']}.{f['id']}": f for s in report["sections"] for f in s["figures"] if f["kind"] == "count"}
        for name, entry in figures.items():
            self._shown(name, "", entry["value"], truth)
            for month in entry.get("by_month", []):
                self._shown(name, month["month"], month["value"], truth)
            for office in entry.get("by_office", []):
                self._shown(name, office["office"] or "", office["value"], truth)
            for key in ("by_month", "by_office"):
                if key in entry:
                    slices = [m.get("month") or m.get("office") or "" for m in entry[key]]
                    self.sums.append((self.index[(name, "")], [self.index[(name, k)] for k in slices]))
        section_of = {name: name.split(".")[0] for name in figures}
        pairs = [(n, f"{section_of[n]}.{e['of']}") for n, e in figures.items() if e["of"] in
                 {k.split(".")[1] for k in figures if section_of[k] == section_of[n]}] + INCLUSIONS
        for part, whole in pairs:
            for (name, key), _ in list(self.index.items()):
                if name == part and (whole, key) in self.index:
                    difference = self._variable((f"{whole} - {part}", key), (0.0, None),
                                                truth[(whole, key)] - truth[(part, key)])
                    if 0 < self.truth[difference] < 5:
                        self.targets.append(difference)
                    self.sums.append((self.index[(whole, key)], [self.index[(part, key)], difference]))
        for (whole, part), (wider, wider_part) in COMPLEMENTS:
            for (name, key), _ in list(self.index.items()):
                inner, outer = (f"{whole} - {part}", key), (f"{wider} - {wider_part}", key)
                if name == whole and inner in self.index and outer in self.index:
                    rest = self._variable((f"{outer[0]} - ({inner[0]})", key), (0.0, None),
                                          self.truth[self.index[outer]] - self.truth[self.index[inner]])
                    if 0 < self.truth[rest] < 5:
                        self.targets.append(rest)
                    self.sums.append((self.index[outer], [self.index[inner], rest]))
        medians = {f"{s['id']}.{f['id']}": f for s in report["sections"] for f in s["figures"] if f["kind"] == "median"}
        for name, bins in MEDIAN_BINS.items():
            middle, section = medians[name]["value"], name.split(".")[0]
            count = figures[f"{section}.{medians[name]['of']}"]["value"]
            if not isinstance(middle, float) or not isinstance(count, int):
                continue
            for side, extra in (("low", 0), ("high", 1)):
                terms: dict[int, float] = {}
                least = float(count + extra)
                for bin_name, low, high in bins:
                    if (low is not None and low > middle) if side == "low" else (high is not None and high < middle):
                        continue
                    if bin_name is None:  # the rest of the count
                        least -= 2 * count
                        for other, _, _ in bins:
                            if other is not None:
                                terms[self.index[(other, "")]] = terms.get(self.index[(other, "")], 0.0) - 2
                    else:
                        terms[self.index[(bin_name, "")]] = terms.get(self.index[(bin_name, "")], 0.0) + 2
                assert sum(c * self.truth[v] for v, c in terms.items()) >= least, (name, side)
                self.at_least.append((terms, least))
        for total, parts in IDENTITIES:
            for (name, key), _ in list(self.index.items()):
                if name == total and all((p, key) in self.index for p in parts):
                    assert truth[(total, key)] == sum(truth[(p, key)] for p in parts), (total, key)
                    self.sums.append((self.index[(total, key)], [self.index[(p, key)] for p in parts]))

    def _variable(self, name: tuple[str, str], bound: tuple[float, float | None], true: int) -> int:
        self.names.append(name)
        self.bounds.append(bound)
        self.truth.append(true)
        self.index[name] = len(self.names) - 1
        return self.index[name]

    def _shown(self, name: str, key: str, value: Any, truth: dict[tuple[str, str], int]) -> None:
        true = truth[(name, key)]
        if value == LESS_THAN:
            assert 0 < true < 5, (name, key, true)
            self.targets.append(self._variable((name, key), (1.0, 4.0), true))
        elif value == SUPPRESSED:  # any count but 0 (a "<5" the bounds alone would give away is shown so too)
            assert true >= 1, (name, key, true)
            self._variable((name, key), (1.0, None), true)
            if true < 5:
                self.targets.append(self.index[(name, key)])
        else:
            assert value == true, (name, key, value, true)
            self._variable((name, key), (float(value), float(value)), true)

    def recovered(self) -> list[tuple[tuple[str, str], int]]:
        """The protected cells whose value the reader can pin down, with it."""
        size = len(self.names)
        rows = np.zeros((len(self.sums), size))
        for row, (total, parts) in enumerate(self.sums):
            rows[row, total] -= 1
            for part in parts:
                rows[row, part] += 1
        upper = np.zeros((len(self.at_least), size))
        for row, (terms, _) in enumerate(self.at_least):
            for variable, coefficient in terms.items():
                upper[row, variable] -= coefficient
        limits = np.array([-least for _, least in self.at_least])
        inequalities = {"A_ub": upper, "b_ub": limits} if self.at_least else {}
        found = []
        for target in self.targets:
            objective = np.zeros(size)
            objective[target] = 1
            low = linprog(objective, A_eq=rows, b_eq=np.zeros(len(self.sums)), bounds=self.bounds, method="highs",
                          **inequalities)
            high = linprog(-objective, A_eq=rows, b_eq=np.zeros(len(self.sums)), bounds=self.bounds,
                           method="highs", **inequalities)
            assert low.status == 0, "the true counts are a solution: the system cannot be infeasible"
            if high.status == 3:
                continue
            if math.ceil(low.fun - 1e-6) >= math.floor(-high.fun + 1e-6):
                found.append((self.names[target], self.truth[target]))
        return found


def truth_of(tabulation: Tabulation) -> dict[tuple[str, str], int]:
    return {(f"{c.section}.{c.figure}", c.key): v for c, v in zip(tabulation.cells, tabulation.values, strict=True)
            if " but not " not in c.figure}


def attack(tabulation: Tabulation, report: dict[str, Any]) -> Attack:
    return Attack(report, truth_of(tabulation))


# --- populations built through the engine ---


@pytest.mark.parametrize("month", [DECEMBER, NOVEMBER])
def test_no_suppressed_cell_of_the_pathway_population_can_be_worked_out(
    cases: Cases, catalogue: Catalogue, clock: FixedClock, month: tuple[date, date],
) -> None:
    population(cases, clock)
    for start, end in (month, (date(2026, 10, 1), date(2026, 12, 31)), (date(2026, 1, 1), date(2026, 12, 31))):
        window = period(start, end)
        tabulation, protection = protected_tabulation(cases.db, catalogue, window, clock.now())
        report = publish(tabulation, protection, window, {}, clock.now())
        reader = attack(tabulation, report)
        assert reader.targets, "the population has small cells to protect"
        assert reader.recovered() == []


def test_the_attack_finds_what_small_cell_suppression_alone_would_give_away(
    cases: Cases, catalogue: Catalogue, clock: FixedClock,
) -> None:
    """The attack is not toothless: without complementary suppression it recovers cells of the same population."""
    population(cases, clock)
    window = period(*DECEMBER)
    tabulation, protection = protected_tabulation(cases.db, catalogue, window, clock.now())
    assert protection.complementary, "this population needs complementary suppression"
    naive = type(protection)(protection.small, frozenset())
    recovered = attack(tabulation, publish(tabulation, naive, window, {}, clock.now())).recovered()
    assert (("births.births - capta.substance_affected", ""), 2) in recovered  # S1 and A1, by subtraction


# --- random populations ---


def admit(course: Course, day: date) -> None:
    """An admission, as the fold records one."""
    course.admissions.append(day)
    course.first_admission = min(course.admissions)


QUARTER = period(date(2026, 10, 1), date(2026, 12, 31))
NOW = datetime(2027, 6, 1, 12, tzinfo=UTC)


@st.composite
def courses(draw: st.DrawFn, catalogue: Catalogue) -> list[Course]:
    workflow = catalogue.workflow("charm-posc")
    made = []
    days = st.integers(0, 91).map(lambda d: QUARTER.start + timedelta(days=d))
    for _ in range(draw(st.integers(0, 40))):
        course = Course(workflow, workflow.plan_actions, lead_office=draw(st.sampled_from(["a", "b", "c"])))
        if draw(st.booleans()):  # identified before birth
            course.identified_on = draw(days)
            course.identification_entered = course.identified_on + timedelta(days=draw(st.integers(0, 2)))
            if draw(st.booleans()):
                admit(course, course.identified_on + timedelta(days=draw(st.integers(0, 20))))
            if draw(st.integers(0, 3)) == 0:
                course.priority_referral_on.append(course.identified_on)
                if draw(st.booleans()):
                    course.interim_on.append(course.identified_on + timedelta(days=draw(st.integers(0, 4))))
        else:
            course.identified_at_birth = True
        if draw(st.booleans()):  # born
            born = draw(days)
            course.born_on, course.born_at = born, workflow.start_of_day(born) + timedelta(hours=12)
            course.birth_entered = born + timedelta(days=draw(st.integers(0, 1)))
            course.substance_affected = draw(st.integers(0, 4)) > 0
            planned = not course.identified_at_birth and draw(st.booleans())
            course.born_to = "born_with_plan" if planned else "born_without_plan"
            if planned:
                course.meeting_on = born - timedelta(days=draw(st.integers(0, 40)))
            # As the pathway allows: a birth before a plan is always assessed; discharge needs a notification and a
            # plan (made at birth if none was agreed before).
            notified = draw(st.booleans())
            if notified:
                course.notified_to = draw(st.sampled_from(["notified", "cps_assessment"])) if planned else \
                    "cps_assessment"
                course.notified_on = born + timedelta(days=draw(st.integers(0, 3)))
            if notified and draw(st.booleans()):
                course.discharged_on = born + timedelta(days=2)
                course.discharged_to = draw(st.sampled_from(["parent", "relative"]))
                course.plan_recorded = course.plan_by_discharge = True
            course.infant_referral = draw(st.booleans())
            if course.infant_referral and draw(st.booleans()):
                course.early_intervention_on = born + timedelta(days=draw(st.integers(0, 9)))
            course.caregiver_referral = draw(st.booleans())
        made.append(course)
    return made


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_suppressed_cell_of_a_random_population_can_be_worked_out(catalogue: Catalogue, data: st.DataObject) -> None:
    population_ = data.draw(courses(catalogue))
    tabulation = tabulate(population_, QUARTER, NOW)
    protection = protect(tabulation.values, tabulation.relations, tabulation.hidden)
    report = publish(tabulation, protection, QUARTER, {}, NOW)
    assert attack(tabulation, report).recovered() == []


# --- the ways in a review found, each now closed ---

WORKFLOW_ID = "charm-posc"


def course(catalogue: Catalogue, **values: Any) -> Course:
    workflow = catalogue.workflow(WORKFLOW_ID)
    made = Course(workflow, workflow.plan_actions, lead_office=values.pop("office", "a"))
    for name, value in values.items():
        setattr(made, name, value)
    return made


def birth(catalogue: Catalogue, day: date, **values: Any) -> Course:
    workflow = catalogue.workflow(WORKFLOW_ID)
    values.setdefault("born_to", "born_without_plan")
    values.setdefault("identified_at_birth", values["born_to"] == "born_without_plan")
    return course(catalogue, born_on=day, born_at=workflow.start_of_day(day) + timedelta(hours=12),
                  birth_entered=day, **values)


def attacked(population_: list[Course], now: datetime = NOW) -> Attack:
    tabulation = tabulate(population_, QUARTER, now)
    protection = protect(tabulation.values, tabulation.relations, tabulation.hidden)
    reader = attack(tabulation, publish(tabulation, protection, QUARTER, {}, now))
    assert reader.targets
    return reader


DAY = date(2026, 11, 10)


def test_seven_of_ten_discharged_with_a_plan_do_not_give_the_three_others_away(catalogue: Catalogue) -> None:
    """No discharge without a plan: "with a plan by discharge" is every discharge, and the reader knows it."""
    population_ = []
    for index in range(10):
        infant = birth(catalogue, DAY, notified_to="cps_assessment", notified_on=DAY)
        if index < 7:
            infant.discharged_on, infant.discharged_to = DAY + timedelta(days=2), "parent" if index < 5 else "relative"
            infant.plan_recorded = infant.plan_by_discharge = True
        population_.append(infant)
    assert attacked(population_).recovered() == []


def test_one_assessed_birth_with_a_plan_is_not_given_away_by_the_notifications(catalogue: Catalogue) -> None:
    population_ = [birth(catalogue, DAY, notified_to="cps_assessment", notified_on=DAY) for _ in range(10)]
    population_ += [birth(catalogue, DAY, born_to="born_with_plan", meeting_on=DAY - timedelta(days=5),
                          notified_to="cps_assessment" if i == 0 else None, notified_on=DAY if i == 0 else None)
                    for i in range(10)]
    assert attacked(population_).recovered() == []


def test_medians_do_not_give_their_bins_away(catalogue: Catalogue) -> None:
    six = [birth(catalogue, DAY) for _ in range(6)]
    for infant in six[3:]:
        infant.birth_entered = DAY + timedelta(days=1)
    seven = [birth(catalogue, DAY + timedelta(days=1)) for _ in range(7)]
    for infant in seven[4:]:
        infant.birth_entered = DAY + timedelta(days=3)
    waits = []
    for index in range(6):
        parent = course(catalogue, identified_on=DAY, identification_entered=DAY)
        admit(parent, DAY + timedelta(days=0 if index < 3 else 1))
        waits.append(parent)
    for group in (six, seven, waits):
        assert attacked(group).recovered() == []


def test_retention_marks_are_not_laid_against_admission_months(catalogue: Catalogue) -> None:
    """Run on 29 January, "admitted at least 90 days ago" is exactly October's admissions: so admissions are not
    published by month."""
    population_ = []
    for count, day in ((7, date(2026, 10, 5)), (10, date(2026, 11, 5)), (3, date(2026, 12, 5))):
        for _ in range(count):
            parent = course(catalogue)
            admit(parent, day)
            population_.append(parent)
    now = datetime(2027, 1, 29, 17, tzinfo=UTC)
    tabulation = tabulate(population_, QUARTER, now)
    assert not any(c.section == "retention" and c.breakdown == "month" for c in tabulation.cells)
    assert attacked(population_, now).recovered() == []


def test_substance_affected_births_before_a_plan_are_births_before_a_plan(catalogue: Catalogue) -> None:
    population_ = [birth(catalogue, DAY, identified_at_birth=i < 5, substance_affected=True) for i in range(10)]
    population_ += [birth(catalogue, DAY, born_to="born_with_plan", meeting_on=DAY - timedelta(days=5),
                          substance_affected=i < 4) for i in range(10)]
    assert attacked(population_).recovered() == []
