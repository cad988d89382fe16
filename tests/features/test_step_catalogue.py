"""The step library stays usable without Python: every step has an example, `posc steps` shows it, and no line of
any feature matches two steps (pytest-bdd would silently pick one of them)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

from api.step_catalogue import read_catalogue

REPO = Path(__file__).resolve().parents[2]
REPO_TODAY = date(2026, 11, 2)


def test_every_step_has_an_example_and_is_in_the_catalogue() -> None:
    catalogue = read_catalogue()
    assert len(catalogue) >= 25
    assert [s for s in catalogue if not s.example] == []
    printed = subprocess.run([sys.executable, "-m", "api.cli", "steps"], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
    assert printed.returncode == 0, printed.stderr
    for step in catalogue:
        assert step.readable in printed.stdout and step.example in printed.stdout


def test_every_feature_line_matches_exactly_one_step_and_names_what_the_pathway_knows() -> None:
    """`posc features check` on the shipped features: no line matches no step or two (pytest-bdd would silently
    pick one of them), and every action, state, field and person named exists."""
    printed = posc("features", "check")
    assert printed.returncode == 0, printed.stdout + printed.stderr
    assert "every step line matches exactly one step" in printed.stdout


def test_a_draft_feature_is_checked_line_by_line_with_suggestions(tmp_path: Path) -> None:
    draft = tmp_path / "draft.feature"
    draft.write_text(
        "Feature: a draft\n"
        "  Scenario: typos\n"
        "    Given a case opened by the prenatal clinic\n"
        "    When the hospitl takes record_brith\n"
        "    Then the hospital may take Record_Birth please\n"
        "    When the cps worker takes notify_cps with:\n"
        "      | field         | value |\n"
        "      | safety_concen | no    |\n"
    )
    printed = posc("features", "check", str(draft))
    assert printed.returncode == 1
    lines = printed.stdout.splitlines()
    assert lines[0].startswith("draft.feature:4: unknown person 'the hospitl'") and "the hospital" in lines[0]
    assert lines[1].startswith("draft.feature:4: unknown action 'record_brith'") and "record_birth" in lines[1]
    assert lines[2].startswith("draft.feature:5: no step matches") and "{who} may take {action}" in lines[2]
    assert lines[3].startswith("draft.feature:8: unknown field 'safety_concen'") and "safety_concern" in lines[3]
    assert len(lines) == 4  # the first line is fine


def test_the_catalogue_is_searched_by_the_words_an_analyst_would_use() -> None:
    printed = posc("steps", "--search", "may take record birth")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines()[0] == "Then  {who} may take {action}"
    assert "e.g. Then the hospital may take record_birth" in printed.stdout
    nothing = posc("steps", "--search", "zzzz qqqq")
    assert nothing.returncode == 1 and "no step is close to 'zzzz qqqq'" in nothing.stderr


def posc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def test_a_run_stopped_by_a_line_no_step_matches_names_the_closest_steps() -> None:
    """What the features' run reports for such a line (pytest-bdd's lookup error, turned into the report's words)."""
    from types import SimpleNamespace

    import pytest

    from tests.features import conftest

    node = SimpleNamespace(stash=pytest.Stash())
    conftest.pytest_bdd_step_func_lookup_error(
        request=SimpleNamespace(node=node),  # type: ignore[arg-type]
        feature=SimpleNamespace(filename="/x/features/draft.feature"), scenario=SimpleNamespace(name="a typo"),
        step=SimpleNamespace(name="the hospital may take Record_Birth please", keyword="Then", line_number=4),
        exception=LookupError(),
    )
    assert node.stash[conftest._FAILED_STEP] == (
        "draft.feature:4", "Then the hospital may take Record_Birth please", "a typo")
    advice = node.stash[conftest._NO_STEP]
    assert advice.startswith("no step matches this line; closest: Then {who} may take {action} "
                             "(e.g. Then the hospital may take record_birth)")


def test_the_guide_lists_the_organisations_people_and_case_data_a_scenario_starts_with() -> None:
    from tests.factories import KINDS, ORGANISATIONS, identification
    from tests.steps.world import WHO

    guide = (REPO / "features" / "README.md").read_text()
    table = guide.split("## Who and what a scenario starts with")[1].split("## The catalogue")[0]
    for org_id, kind in KINDS.items():
        row = next((line for line in table.splitlines() if line.startswith(f"| `{org_id}` |")), None)
        assert row is not None, f"{org_id} is not in the guide"
        assert f"| {ORGANISATIONS.get(org_id, '')} | {kind} |".replace("|  |", "| |") in row.replace("|  |", "| |")
    for phrase in WHO:
        assert phrase in table, f"the guide does not say features may name {phrase!r}"
    for field in identification(REPO_TODAY):
        assert field in table, f"the guide does not give the case's default {field}"


def test_every_example_is_a_use_of_its_own_step() -> None:
    """An analyst copies the example: it must be the step it is shown under (its keyword, a line it matches), not
    another phrasing of the same function ("When ... takes" shown for "Given ... has taken")."""
    from api.step_catalogue import example_fits

    wrong = [(s.keyword, s.readable, s.example) for s in read_catalogue() if not example_fits(s, s.example)]
    assert wrong == []


def test_every_example_is_run_by_a_shipped_feature() -> None:
    """An example is a real use of its step, not a sentence that only looks right: each one (without its comment,
    and up to `with:` for a table) is a line of some feature in `features/`, so the suite runs it."""
    from api.step_catalogue import feature_lines

    said = {(line.keyword, line.text.lower()) for path in (REPO / "features").glob("*.feature")
            for line in feature_lines(path)}
    unused = []
    for step in read_catalogue():
        text = re.split(r"\s{3,}", step.example.partition(" ")[2])[0].strip()
        if text.endswith("|") and ": |" in text:
            text = text.split(": |")[0] + ":"
        if (step.keyword, text.lower()) not in said:
            unused.append(f"{step.keyword.capitalize()} {text}")
    assert unused == []


def test_an_action_said_in_words_and_a_deadline_by_its_title_count_as_named(tmp_path: Path) -> None:
    """The Specifications page lists what no scenario names: a scenario that says "the hospital records the birth"
    names record_birth, and "the newborn visit deadline" names newborn_visit."""
    from api.step_catalogue import mentioned, read_features
    from engine import load_catalogue

    (tmp_path / "words.feature").write_text(
        "Feature: words\n"
        "  Scenario: said as partners say it\n"
        "    Given a case opened by the prenatal clinic\n"
        "    When the hospital records the birth\n"
        "    Then the newborn visit deadline is open\n"
    )
    missing = mentioned(read_features(tmp_path), load_catalogue())
    assert "record_birth" not in missing["actions"] and "admit_to_treatment" in missing["actions"]
    assert "newborn_visit" not in missing["deadlines"] and "follow_up_90" in missing["deadlines"]


def test_an_action_said_in_words_a_letter_out_is_corrected_in_full(tmp_path: Path) -> None:
    """A misspelt action in plain words gets the whole line it was meant to be, not a list of patterns."""
    draft = tmp_path / "draft.feature"
    draft.write_text(
        "Feature: a draft\n"
        "  This description says When things happen: it is not a step.\n"
        "  Scenario: typos in plain words\n"
        "    Given a case opened by the prenatal clinic\n"
        "    When the hospital recrds the birth\n"
        "    And the parent is admited to treatment by the treatment provider\n"
        "    Then the brith has been recorded\n"
    )
    printed = posc("features", "check", str(draft))
    assert printed.returncode == 1
    assert printed.stdout.splitlines() == [
        "draft.feature:5: no step matches 'When the hospital recrds the birth'; "
        "did you mean 'When the hospital records the birth'?",
        "draft.feature:6: no step matches 'When the parent is admited to treatment by the treatment provider'; "
        "did you mean 'When the parent is admitted to treatment by the treatment provider'?",
        "draft.feature:7: no step matches 'Then the brith has been recorded'; "
        "did you mean 'Then the birth has been recorded'?",
    ]


def test_a_file_that_is_not_gherkin_is_named_with_its_line(tmp_path: Path) -> None:
    draft = tmp_path / "prose.feature"
    draft.write_text(
        "Feature: prose\n"
        "  Scenario: four days later\n"
        "    Given a case opened by the prenatal clinic\n"
        "    When, four days later, the hospital records the birth\n"
    )
    printed = posc("features", "check", str(draft))
    assert printed.returncode == 1
    assert printed.stdout.startswith("prose.feature:4: not Gherkin, so no scenario of this file can run: "
                                     "'When, four days later, the hospital records the birth'")


def test_every_action_of_the_pathway_can_be_said_in_words() -> None:
    """An action added to the workflow needs its phrases in `DEEDS` (tests/steps/deeds.py), or analysts could only
    say `takes <action>` for it."""
    from api.step_catalogue import deeds
    from engine import load_catalogue

    said = {deed.action for deed in deeds()}
    assert set(load_catalogue().workflow("charm-posc").actions) - said == set()
    assert said - set(load_catalogue().workflow("charm-posc").actions) == set()
