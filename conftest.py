"""Loads the analysts' step library (tests/steps) for every test module, so features can use any step, and
writes a cucumber JSON report of the features (reports/cucumber.json) for tools that read one."""

import os
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.steps.world",
    "tests.steps.time",
    "tests.steps.pathway",
    "tests.steps.deadlines",
    "tests.steps.disclosure",
    "tests.steps.people",
    "tests.steps.deeds",
]


def pytest_configure(config: pytest.Config) -> None:
    drafts = bool(os.environ.get("POSC_FEATURES"))  # an analyst's drafts do not replace the last run's report
    if not drafts and getattr(config.option, "cucumber_json_path", None) is None and hasattr(
            config.option, "cucumber_json_path"):
        reports = Path(__file__).resolve().parent / "reports"
        reports.mkdir(exist_ok=True)
        config.option.cucumber_json_path = str(reports / "cucumber.json")
