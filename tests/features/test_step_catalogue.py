"""The step library stays usable without Python: every step has an example, `posc steps` shows it, and no line of
any feature matches two steps (pytest-bdd would silently pick one of them)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import parse

from api.step_catalogue import StepDoc, read_catalogue
from tests.features.conftest import FEATURES

REPO = Path(__file__).resolve().parents[2]


def feature_steps() -> list[tuple[str, str, str]]:
    """(file:line, keyword, text) of every step line; And/But take the keyword before them."""
    found = []
    for path in sorted(FEATURES.glob("*.feature")):
        keyword = "given"
        for number, raw in enumerate(path.read_text().splitlines(), start=1):
            line = raw.strip()
            head, _, rest = line.partition(" ")
            if head in ("Given", "When", "Then"):
                keyword = head.lower()
            elif head not in ("And", "But"):
                continue
            found.append((f"{path.name}:{number}", keyword, rest.strip()))
    return found


def matches(step: StepDoc, text: str) -> bool:
    if step.regex:
        return re.fullmatch(step.pattern, text) is not None
    if "{" in step.pattern:
        return parse.compile(step.pattern).parse(text) is not None
    return step.pattern == text


def test_every_step_has_an_example_and_is_in_the_catalogue() -> None:
    catalogue = read_catalogue()
    assert len(catalogue) >= 25
    assert [s for s in catalogue if not s.example] == []
    printed = subprocess.run([sys.executable, "-m", "api.cli", "steps"], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
    assert printed.returncode == 0, printed.stderr
    for step in catalogue:
        assert step.readable in printed.stdout and step.example in printed.stdout


def test_every_feature_line_matches_exactly_one_step() -> None:
    catalogue = read_catalogue()
    problems = []
    for where, keyword, text in feature_steps():
        hits = [s for s in catalogue if s.keyword == keyword and matches(s, text)]
        if len(hits) != 1:
            names = [s.readable for s in hits] or ["no step"]
            problems.append(f"{where}: {keyword} {text!r} matches {names}")
    assert problems == []
