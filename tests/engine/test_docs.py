"""The pathway guide for people (docs/pathway.md) keeps up with the workflow it describes."""

from __future__ import annotations

from pathlib import Path

from engine import load_catalogue

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "pathway.md"


def test_the_pathway_guide_names_every_state_action_and_deadline() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    workflow = load_catalogue().workflow("charm-posc")
    missing = [f"state {s}" for s in workflow.states if f"`{s}`" not in text]
    missing += [f"action {a}" for a in workflow.actions if f"`{a}`" not in text]
    missing += [f"deadline {d.title}" for d in workflow.deadlines.values() if d.title not in text]
    missing += [f"way in {v.title}" for v in workflow.variants.values() if v.title not in text]
    assert missing == [], f"docs/pathway.md does not mention: {', '.join(missing)}"
