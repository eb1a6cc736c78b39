"""The per-user budget: a burst, then a steady rate; one warning per run of excess; users apart."""

from __future__ import annotations

import pytest

from bot.throttle import Buckets, UserBudget, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_warning_then_silence_until_it_refills() -> None:
    clock = Clock()
    budget = UserBudget(burst=3, per_minute=60, searches_per_minute=2, clock=clock)
    assert [budget.update(1) for _ in range(6)] == [Verdict.ALLOW] * 3 + [Verdict.WARN, Verdict.DROP, Verdict.DROP]
    assert budget.update(2) is Verdict.ALLOW  # another user is not affected
    clock.now += 1.0  # one token back
    assert budget.update(1) is Verdict.ALLOW
    assert budget.update(1) is Verdict.WARN  # a new run of excess earns a new (single) warning


def test_searches_have_their_own_smaller_budget() -> None:
    clock = Clock()
    budget = UserBudget(burst=100, per_minute=600, searches_per_minute=2, clock=clock)
    assert [budget.search(1) for _ in range(3)] == [True, True, False]
    clock.now += 30
    assert budget.search(1)


def test_idle_buckets_are_forgotten_when_many_are_tracked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.throttle.MAX_TRACKED", 10)
    clock = Clock()
    buckets = Buckets(capacity=2, per_second=1, clock=clock)
    for user in range(10):
        buckets.take(user)
    clock.now += 5
    buckets.take(99)
    assert len(buckets._buckets) == 1
