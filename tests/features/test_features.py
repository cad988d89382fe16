"""Every scenario in `features/` (or the folder `POSC_FEATURES` names), run against the real HTTP API through the
step library. A file that is not Gherkin at all becomes one failing test that says where, and the others still run."""

from __future__ import annotations

import pytest
from pytest_bdd import scenarios
from pytest_bdd.exceptions import FeatureError

from tests.features.conftest import FEATURES


def _unreadable(name: str, error: FeatureError) -> None:
    def test(request: pytest.FixtureRequest) -> None:
        pytest.fail(f"{name}:{error.args[1]}: not Gherkin, so none of its scenarios ran: {error.args[2].strip()!r} "
                    f"({error.args[0]})", pytrace=False)

    globals()[f"test_{name.removesuffix('.feature')}_is_gherkin"] = test


for _path in sorted(FEATURES.rglob("*.feature")):
    try:
        scenarios(str(_path))
    except FeatureError as _error:
        _unreadable(_path.name, _error)
