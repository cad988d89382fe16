"""Runs the features in `features/` against the real API, and reports the workflow they leave untested."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from api.step_catalogue import pathway_names, read_catalogue, search, suggest_deed
from engine import load_catalogue
from tests.api.conftest import api  # noqa: F401  (the HTTP fixture the steps drive)
from tests.steps.world import REACHED, TAKEN, World

SHIPPED = Path(__file__).resolve().parents[2] / "features"
#: The folder of features the run takes: the shipped ones, or an analyst's drafts (`POSC_FEATURES=drafts/ pytest
#: tests/features`), which the coverage report and the Specifications page leave out.
FEATURES = Path(os.environ.get("POSC_FEATURES") or SHIPPED).resolve()
REPORT = Path(__file__).resolve().parents[2] / "reports" / "feature-coverage.txt"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After a full run of the features: which actions and states no scenario reached. Every action must be taken
    in some feature, or the run fails."""
    features = [i for i in session.items if "tests/features/test_features" in str(getattr(i, "path", ""))]
    scenarios = sum(
        line.strip().startswith("Scenario:") for path in FEATURES.glob("*.feature") for line in path.open()
    )
    if FEATURES != SHIPPED or len(features) < scenarios or not TAKEN:  # only a full run of the shipped features
        return  # says what none of them covers
    workflow = load_catalogue().workflow("charm-posc")
    missing_actions = sorted(set(workflow.actions) - TAKEN)
    missing_states = sorted(set(workflow.states) - REACHED)
    lines = [f"actions never taken: {', '.join(missing_actions) or 'none'}",
             f"states never reached: {', '.join(missing_states) or 'none'}"]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("feature coverage: " + "; ".join(lines))
    if missing_actions:
        if reporter is not None:
            reporter.write_line("FAILED: every action of the workflow must be taken in some feature")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _scenario_world(world: World) -> World:
    """Puts the (database-parametrised) world in every scenario, so each runs on SQLite and PostgreSQL."""
    return world


def pytest_bdd_step_error(
    request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any, step_func: Any, step_func_args: Any,
    exception: Exception,
) -> None:
    """Remembers which step failed, so the report can say it in the feature's words."""
    request.node.stash[_FAILED_STEP] = (f"{feature.filename.rsplit('/', 1)[-1]}:{step.line_number}",
                                        f"{step.keyword} {step.name}", scenario.name)


def pytest_bdd_step_func_lookup_error(
    request: pytest.FixtureRequest, feature: Any, scenario: Any, step: Any, exception: Exception,
) -> None:
    """A line no step matches: the report names it and the closest steps of the catalogue, with their examples."""
    meant = suggest_deed(getattr(step, "type", step.keyword.lower()), step.name)
    closest = search(read_catalogue(), step.name, pathway_names(load_catalogue()), limit=3)
    advice = "; ".join(f"{s.keyword.capitalize()} {s.readable} (e.g. {s.example.split('   ')[0]})" for s in closest)
    advice = f"did you mean {meant!r}? Or: {advice}" if meant else advice
    request.node.stash[_FAILED_STEP] = (f"{feature.filename.rsplit('/', 1)[-1]}:{step.line_number}",
                                        f"{step.keyword} {step.name}", scenario.name)
    request.node.stash[_NO_STEP] = "no step matches this line" + (f"; closest: {advice}" if advice else
                                                                  "; `posc steps` lists them all")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing scenario reads as the scenario, the step, and what was expected and found; not a traceback."""
    outcome = yield
    report = outcome.get_result()
    failed = item.stash.get(_FAILED_STEP, None)
    if report.failed and failed is not None and call.excinfo is not None:
        where, step, scenario = failed
        reason = str(call.excinfo.value).splitlines()[0] if str(call.excinfo.value) else call.excinfo.typename
        reason = item.stash.get(_NO_STEP, reason)
        report.longrepr = f"Scenario: {scenario}\n  {where}: {step}\n  failed: {reason}"


_FAILED_STEP = pytest.StashKey[tuple[str, str, str]]()
_NO_STEP = pytest.StashKey[str]()
