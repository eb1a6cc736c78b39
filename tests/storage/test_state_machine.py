"""The delivery state machine, declared once (storage.models.TRANSITIONS), against DESIGN §3."""

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
DESIGN = Path(__file__).resolve().parents[3] / "shared" / "DESIGN.md"

# DESIGN §3 as it reads today; the test below checks this copy against the file when it is there.
DESIGN_ARROWS = {
    (S.DRAFT, S.RESERVED),
    (S.RESERVED, S.AWAITING_DROPOFF),
    (S.AWAITING_DROPOFF, S.IN_LOCKER),
    (S.IN_LOCKER, S.AWAITING_PICKUP),
    (S.AWAITING_PICKUP, S.COMPLETED),
    (S.RESERVED, S.CANCELLED),
    (S.RESERVED, S.EXPIRED),
    (S.AWAITING_DROPOFF, S.CANCELLED),
    (S.AWAITING_DROPOFF, S.EXPIRED),
    (S.IN_LOCKER, S.RELEASED),
    (S.AWAITING_PICKUP, S.RELEASED),
}


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


@pytest.mark.skipif(not DESIGN.exists(), reason="the design document lives beside the repository")
def test_the_copy_of_the_diagram_is_the_design() -> None:
    assert _arrows_in_design(DESIGN.read_text(encoding="utf-8")) == DESIGN_ARROWS


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


def test_the_moves_beyond_the_diagram_are_the_few_with_a_reason() -> None:
    extra = {
        (source, target)
        for source, targets in TRANSITIONS.items()
        for target in targets
        if source != target and (source, target) not in DESIGN_ARROWS
    }
    assert extra == {
        (S.DRAFT, S.AWAITING_DROPOFF),  # link mode
        (S.DRAFT, S.CANCELLED),  # nothing could be held
        (S.RESERVED, S.IN_LOCKER),  # a lost key answer
        (S.AWAITING_DROPOFF, S.RESERVED),  # didn't fit
        (S.IN_LOCKER, S.RESERVED),  # didn't fit
        (S.IN_LOCKER, S.AWAITING_DROPOFF),  # didn't fit, link mode
    }
