"""DeliveryService.remember (bot/deliveries/people.py): who is talking is written once, then again only
when it changed or a while passed (every update calls it; the write is a per-process optimisation away,
never a lost change)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.deliveries import Person
from bot.deliveries import people as service_module
from tests.bot.conftest import Lab

NEW_PERSON = 7_000_001


@pytest.fixture
def writes(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The user ids upsert_user was called with, in order (the real write still happens)."""
    seen: list[int] = []
    real = lab.repo.upsert_user

    async def counting(user_id: int, **kwargs: Any) -> Any:
        seen.append(user_id)
        return await real(user_id, **kwargs)

    monkeypatch.setattr(lab.repo, "upsert_user", counting)
    return seen


async def test_a_new_person_is_written_with_their_profile(lab: Lab, writes: list[int]) -> None:
    await lab.deliveries.remember(Person(NEW_PERSON, "Dana", "Doe", "dana", "de"))

    user = await lab.repo.get_user(NEW_PERSON)
    assert user is not None
    assert (user.first_name, user.last_name, user.username, user.language) == ("Dana", "Doe", "dana", "de")
    assert writes == [NEW_PERSON]


async def test_the_same_person_again_soon_is_not_written_again(lab: Lab, writes: list[int]) -> None:
    dana = Person(NEW_PERSON, "Dana", language="en")
    for _ in range(5):
        await lab.deliveries.remember(dana)

    assert writes == [NEW_PERSON]


async def test_a_changed_profile_is_written_at_once(lab: Lab, writes: list[int]) -> None:
    await lab.deliveries.remember(Person(NEW_PERSON, "Dana", language="en"))
    await lab.deliveries.remember(Person(NEW_PERSON, "Dana", language="de"))  # switched the app's language

    assert writes == [NEW_PERSON, NEW_PERSON]
    user = await lab.repo.get_user(NEW_PERSON)
    assert user is not None and user.language == "de"


async def test_a_person_is_written_again_after_a_while(
    lab: Lab, writes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    dana = Person(NEW_PERSON, "Dana")
    clock = [1000.0]
    monkeypatch.setattr(service_module.time, "monotonic", lambda: clock[0])
    await lab.deliveries.remember(dana)
    first_seen = (await lab.repo.get_user(NEW_PERSON)).last_seen_at  # type: ignore[union-attr]

    clock[0] += service_module.REMEMBER_SECONDS + 1
    await lab.deliveries.remember(dana)

    assert writes == [NEW_PERSON, NEW_PERSON]
    assert (await lab.repo.get_user(NEW_PERSON)).last_seen_at >= first_seen  # type: ignore[union-attr]


async def test_the_memory_is_bounded(lab: Lab, writes: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_module, "REMEMBER_MAX", 3)
    people = [Person(NEW_PERSON + i, f"P{i}") for i in range(5)]
    for p in people:
        await lab.deliveries.remember(p)
    await lab.deliveries.remember(people[0])  # forgotten (the oldest): written again

    assert writes == [p.id for p in people] + [people[0].id]
