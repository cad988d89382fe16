"""Every scenario in `features/`, run against the real HTTP API through the step library."""

from pytest_bdd import scenarios

from tests.features.conftest import FEATURES

scenarios(str(FEATURES))
