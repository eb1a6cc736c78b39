"""The delivery state machine, declared once (storage.models.TRANSITIONS), against docs/design.md §3."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from storage.models import (
    AFTER_DROPOFF_STATES,
    OPEN_STATES,
    PRE_DROPOFF_STATES,
    TRANSITIONS,
    DeliveryState,
)

S = DeliveryState
DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"


def _arrows_in_design(text: str) -> set[tuple[DeliveryState, DeliveryState]]:
    section = text.split("## 3.", 1)[1].split("\n## ", 1)[0]
    diagram = section.split("```")[1]
    arrows = set()
    for line in diagram.splitlines():
        # "a --verb--> b --verb--> c" and "a/b --verb--> c / d"
        parts = re.split(r"\s*--[^>]*-->\s*", line.split("(")[0].strip())
        for left, right in itertools.pairwise(parts):
            for source in re.split(r"\s*/\s*", left.strip()):
                for target in re.split(r"\s*/\s*", right.strip()):
                    arrows.add((S(source.split()[-1]), S(target.split()[0])))
    return arrows


# docs/design.md §3, the diagram of every move a delivery may make.
DESIGN_ARROWS = _arrows_in_design(DESIGN.read_text(encoding="utf-8"))


def test_the_diagram_is_the_state_machine() -> None:
    """Every arrow of docs/design.md §3 is a move TRANSITIONS allows, and every move between two
    different states is drawn (a move to the same state records an event, it is no arrow)."""
    declared = {(source, target) for source, targets in TRANSITIONS.items() for target in targets if target != source}
    assert declared == DESIGN_ARROWS


@pytest.mark.parametrize(("source", "target"), sorted(DESIGN_ARROWS))
def test_every_move_of_the_design_is_allowed(source: DeliveryState, target: DeliveryState) -> None:
    assert source.may_become(target)


def test_closed_states_lead_nowhere_and_open_ones_somewhere() -> None:
    for state in DeliveryState:
        if state.is_open:
            assert TRANSITIONS[state], state
        else:
            assert not any(state.may_become(other) for other in DeliveryState), state


def test_the_groups_split_the_open_states() -> None:
    assert PRE_DROPOFF_STATES | AFTER_DROPOFF_STATES == OPEN_STATES
    assert not PRE_DROPOFF_STATES & AFTER_DROPOFF_STATES
    assert all(s.before_dropoff for s in PRE_DROPOFF_STATES)
    assert all(s.after_dropoff for s in AFTER_DROPOFF_STATES)
