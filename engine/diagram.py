"""The workflow as a Mermaid state diagram, drawn by the `transitions` library's own diagram support, with the
pathway's phases as nested states. Built on demand (never on the hot path) from the compiled workflow."""

from __future__ import annotations

from typing import Any

from transitions.extensions.diagrams import HierarchicalGraphMachine

from engine.definitions.compiled import CompiledWorkflow

#: Separates phase and state in the diagram's nested names; state names themselves contain underscores.
_SEPARATOR = "__"


class _PhaseGraphMachine(HierarchicalGraphMachine):
    state_cls = type("PhaseState", (HierarchicalGraphMachine.state_cls,), {"separator": _SEPARATOR})


class _Model:
    """Stand-in model: the diagram machine needs one to draw, and marks its state as active."""


#: How a case's current state stands out: dark fill, white text and a thick border (not colour alone).
CURRENT_CLASS = "current"
_CURRENT_STYLE = "fill:#12305a,color:#ffffff,stroke:#000000,stroke-width:4px,font-weight:bold"


def mermaid(
    workflow: CompiledWorkflow, current: str | None = None, *, internal: bool = True, direction: str = "LR"
) -> str:
    """Mermaid `stateDiagram-v2` text. `current` highlights a case's state; `internal=False` leaves out the actions
    that record information without changing the state (a lighter drawing for people; they are listed elsewhere).
    `direction` is Mermaid's: LR (left to right) or TB (top to bottom, which fits a page's width better)."""
    if direction not in ("LR", "TB"):
        raise ValueError(f"direction must be LR or TB, not {direction!r}")
    phases: dict[str, list[str]] = {p: [] for p in workflow.spec.phases}
    for name, state in workflow.states.items():
        phases[state.phase].append(name)
    nested = {name: f"{state.phase}{_SEPARATOR}{name}" for name, state in workflow.states.items()}
    states: list[Any] = [{"name": p, "children": children} for p, children in phases.items() if children]
    machine = _PhaseGraphMachine(
        model=_Model(), states=states, initial=nested[workflow.initial], auto_transitions=False,
        graph_engine="mermaid", show_conditions=True, title=f"{workflow.title} (v{workflow.version})",
    )
    for action in workflow.actions.values():
        for branch in action.branches:
            # Named, never called: the diagram machine only draws them.
            conditions: Any = [
                f"{k} = {v if isinstance(v, str) else ' or '.join(v)}"
                for k, v in {**branch.case_when, **branch.when}.items()
            ]
            drawn = sorted(s for s in branch.sources if internal or (branch.target not in (None, s)))
            if not drawn:
                continue
            sources: Any = [nested[s] for s in drawn]
            machine.add_transition(
                action.name, sources, nested[branch.target] if branch.target else None, conditions=conditions
            )
    text = str(machine.get_graph().draw(None)).replace("direction LR", f"direction {direction}", 1)
    # Other ways in (identification at birth): from the start straight to where the variant's action leads.
    entries = ""
    for way in workflow.variants.values():
        for target in workflow.actions[way.then].targets_from(workflow.initial):
            entries += f"  [*] --> {nested[target]}: {way.title.lower()} ({way.then})\n"
    if entries:
        initial = f"  [*] --> {nested[workflow.initial]}\n"
        text = text.replace(initial, initial + entries, 1) if initial in text else text.rstrip("\n") + "\n" + entries
    if current is not None:
        highlight = f"  classDef {CURRENT_CLASS} {_CURRENT_STYLE}\n  class {nested[current]} {CURRENT_CLASS}\n"
        text = text.rstrip("\n") + "\n" + highlight
    return text
