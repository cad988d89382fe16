"""The figures as CSV, the same for the API (`?format=csv`) and the figures page's download."""

from __future__ import annotations

import csv
import io
from typing import Any

from engine import FIGURES_CSV_COLUMNS, figures_csv_rows


def figures_csv(report: dict[str, Any]) -> str:
    """One row per published number (breakdowns included), with its definition; CRLF line ends (RFC 4180)."""
    lines = io.StringIO()
    writer = csv.DictWriter(lines, fieldnames=FIGURES_CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(figures_csv_rows(report))
    return lines.getvalue()
