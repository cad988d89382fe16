"""The outcome figures (`/reports/capta`): what a state reports each year under CAPTA about infants born affected by
substance use and their Plans of Safe Care, and whether the pathway works: how fast parents reach treatment, whether
they stay, whether plans are made before birth and fewer births are met by a CPS assessment.

Computed from the event log (events are the truth; the case row is only a cache), de-identified (counts, shares and
medians, never a case) and protected by small-cell and complementary suppression (`suppression.py`). Every figure is
defined once, in `figures.py`, with the sentence published beside it.
"""

from engine.reports.report import (
    CSV_COLUMNS,
    Period,
    check_may_read_figures,
    csv_rows,
    figures_for,
    outcome_report,
    period,
)
from engine.reports.suppression import LESS_THAN, SMALL_CELL, SUPPRESSED, SUPPRESSION

__all__ = [
    "CSV_COLUMNS", "LESS_THAN", "SMALL_CELL", "SUPPRESSED", "SUPPRESSION", "Period", "check_may_read_figures",
    "csv_rows", "figures_for", "outcome_report", "period",
]

#: The names the engine's face (`engine/__init__.py`) gives these, distinct among everything it offers.
FIGURES_CSV_COLUMNS = CSV_COLUMNS
figures_csv_rows = csv_rows
report_period = period
__all__ += ["FIGURES_CSV_COLUMNS", "figures_csv_rows", "report_period"]
