"""Cases are pinned to the workflow version they opened on: shipping version 2 does not change running cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import Cases, Database, FixedClock, Forbidden, load_catalogue
from engine.definitions.catalogue import shipped_forms_dir, shipped_workflows_dir
from tests.factories import ACTORS, action_data, identification, local_date, opened, taken

ROOT_WORKFLOW = shipped_workflows_dir() / "charm-posc.yaml"


def version_2(tmp_path: Path) -> Path:
    """Version 2 lets peers admit to treatment too (a jurisdiction's change, made only in YAML)."""
    text = ROOT_WORKFLOW.read_text()
    text = text.replace("version: 1", "version: 2", 1)
    marker = "  admit_to_treatment:\n"
    head, tail = text.split(marker, 1)
    tail = tail.replace("    roles: [treatment]\n", "    roles: [treatment, peer]\n", 1)
    path = tmp_path / "charm-posc-v2.yaml"
    path.write_text(head + marker + tail)
    return path


def test_version_1_cases_keep_their_rules_when_version_2_ships(
    db: Database, clock: FixedClock, cases: Cases, tmp_path: Path
) -> None:
    today = local_date(clock.now())
    old = opened(cases, ACTORS["prenatal"], "charm-posc", identification(today))
    assert (old.workflow_id, old.workflow_version) == ("charm-posc", 1)

    both = load_catalogue([shipped_forms_dir(), ROOT_WORKFLOW, version_2(tmp_path)])
    assert sorted(both.workflows) == [("charm-posc", 1), ("charm-posc", 2)]
    upgraded = Cases(db, both, clock)
    new = opened(upgraded, ACTORS["prenatal"], "charm-posc", identification(today), new_pregnancy=True)
    assert new.workflow_version == 2

    admission = action_data("admit_to_treatment", clock.now(), today)
    consent = action_data("record_consent", clock.now(), today)
    for case in (old, new):  # the consent lets the peer network see both cases
        taken(upgraded, ACTORS["prenatal"], case.id, "record_consent", consent)
    with pytest.raises(Forbidden, match="peer role may not admit"):
        taken(upgraded, ACTORS["peer"], old.id, "admit_to_treatment", admission)
    assert taken(upgraded, ACTORS["peer"], new.id, "admit_to_treatment", admission).state == "in_treatment"
    assert upgraded.get(old.id).workflow_version == 1
    assert upgraded.verify(old.id) == [] and upgraded.verify(new.id) == []
