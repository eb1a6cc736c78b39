"""Several taps, several people and Harbor itself moving at once: the last locker of a size, someone
faster at Harbor, double taps, and the locker watch with many lockers in one tower.
"""

from __future__ import annotations

import asyncio

from bot.keys import LockerKey
from sandbox.telegram_driver import UserDriver
from storage.models import DeliveryState
from tests.flows.harness import World, decode_key
from tests.flows.steps import to_sizes

OTHER_PROVIDER = "other-provider"
YERBA_BUENA_LARGE = (1213, 1214, 1215, 1216)  # location 102, tower 0100000000000175, doors 13-16


def held_by_bot(w: World) -> list[int]:
    return [lk["id"] for lk in w.simulator.assigned_lockers(w.settings.harbor_client_id)]


async def open_lockers(w: World) -> list[int]:
    """The lockers of the bot's open deliveries: Harbor should hold exactly these for the bot."""
    watched = (DeliveryState.RESERVED, DeliveryState.AWAITING_DROPOFF, DeliveryState.IN_LOCKER)
    return sorted(d.locker_id for d in (await w.services.repo.deliveries_in(watched)))


async def test_two_people_race_for_the_last_large_locker(w: World) -> None:
    for locker_id in YERBA_BUENA_LARGE[1:]:
        w.simulator.set_locker_status(locker_id, "occupied", OTHER_PROVIDER)
    alice, bob = w.user(101, "Alice"), w.user(102, "Bob")
    alice_sizes, bob_sizes = await asyncio.gather(to_sizes(alice, "Yerba Buena"), to_sizes(bob, "Yerba Buena"))
    last = "large · up to 40 × 60 × 45 cm — 1 free"  # issue 17: each size says what it holds
    assert last in alice_sizes.buttons and last in bob_sizes.buttons

    await asyncio.gather(alice.press("large", alice_sizes), bob.press("large", bob_sizes))
    outcomes = await asyncio.gather(
        *(
            u.wait_for(lambda m: "is held for you" in (m.content or "") or "were just taken" in (m.content or ""))
            for u in (alice, bob)
        )
    )
    winners = [m for m in outcomes if "is held for you" in (m.content or "")]
    losers = [m for m in outcomes if "were just taken" in (m.content or "")]
    assert len(winners) == 1 and len(losers) == 1, [m.describe() for m in outcomes]

    # Harbor reserved the one locker once, for the winner.
    assert held_by_bot(w) == [YERBA_BUENA_LARGE[0]] == (await open_lockers(w))
    assert "(large)" in (winners[0].content or "")
    # The loser is told, and offered what is still free there (not large).
    lost = losers[0]
    assert "large" in (lost.content or "") and "Yerba Buena" in (lost.content or "")
    assert "still free" in (lost.content or "").lower()
    sizes_left = [b for b in lost.buttons if "free" in b]
    assert sizes_left and not any(b.startswith("large") for b in sizes_left)
    loser = bob if lost.chat_id == bob.id else alice
    await loser.press("medium", lost)
    await loser.wait_for("is held for you")
    assert sorted(held_by_bot(w)) == (await open_lockers(w))


async def test_someone_faster_at_harbor_the_bot_takes_the_next_locker(w: World) -> None:
    """Between the bot listing the lockers and reserving one, another provider takes it at Harbor."""
    alice = w.user(101, "Alice")
    sizes = await to_sizes(alice, "Yerba Buena")
    first, second = YERBA_BUENA_LARGE[:2]
    # Hold the bot's reservation request for the first free large locker a moment before Harbor
    # handles it; in that moment the other provider reserves the locker.
    w.simulator.add_fault(method="POST", path=f"/lockers/{first}/reservations", stall=0.3)
    pressed = asyncio.create_task(alice.press("large", sizes))  # answered once the reservation is done
    await _request_arrived(w, f"/lockers/{first}/reservations")
    w.simulator.set_locker_status(first, "reserved", OTHER_PROVIDER)
    await pressed

    held = await alice.wait_for("is held for you")
    delivery = await w.services.deliveries.open_dropoff(alice.id)
    assert delivery.locker_id == second
    assert f"Locker {w.simulator.locker(second)['name']} (large)" in (held.content or "")
    assert w.simulator.holder(first) == OTHER_PROVIDER
    assert held_by_bot(w) == [second]
    assert [r.status for r in w.harbor_requests("POST", "/reservations")] == [400, 200]


async def _request_arrived(w: World, path_part: str) -> None:
    """Wait (bounded) until Harbor has logged a request; it logs each one as it arrives."""
    async with asyncio.timeout(5):
        while not w.harbor_requests("POST", path_part):  # noqa: ASYNC110 - the simulator has no event for it
            await asyncio.sleep(0.005)


async def test_a_double_tap_on_a_size_reserves_once(w: World) -> None:
    alice = w.user(101, "Alice")
    sizes = await to_sizes(alice)
    answers = await asyncio.gather(alice.press("small", sizes), alice.press("small", sizes))

    await alice.wait_for("is held for you")
    assert len(w.harbor_requests("POST", "/reservations")) == 1
    assert held_by_bot(w) == (await open_lockers(w)) and len(await open_lockers(w)) == 1
    assert len([m for m in alice.bot_messages if "is held for you" in (m.content or "")]) == 1
    # The second tap got a friendly word, not silence (while the first is still being handled, or
    # just after the conversation ended).
    texts = [a.text.lower() for a in answers if a is not None and a.text]
    assert len(texts) == 1 and ("already" in texts[0] or "no longer active" in texts[0]), answers


async def test_a_double_tap_on_the_key_button_issues_one_key(w: World) -> None:
    alice = w.user(101, "Alice")
    sizes = await to_sizes(alice)
    await alice.press("small", sizes)
    held = await alice.wait_for("is held for you")
    answers = await asyncio.gather(alice.press("key", held), alice.press("key", held))

    photo = await alice.wait_for(lambda m: m.photo is not None)
    assert len(w.simulator.issued_tokens()) == 1
    assert len([m for m in alice.bot_messages if m.photo is not None]) == 1
    texts = [a.text for a in answers if a is not None and a.text]
    assert any("still valid" in t.lower() for t in texts), answers
    # The one key works.
    assert (await w.use_at_tower(decode_key(photo))).status_code == 200


async def test_the_watch_reads_each_tower_once_however_many_lockers_it_watches(w: World) -> None:
    people = [w.user(101 + i, name) for i, name in enumerate(("Alice", "Bob", "Carol"))]

    async def key_for(person: UserDriver) -> LockerKey:
        sizes = await to_sizes(person)
        await person.press("small", sizes)
        held = await person.wait_for("is held for you")
        await person.press("key", held)
        return decode_key(await person.wait_for(lambda m: m.photo is not None))

    # All at once: each gets one of the small lockers of Civic Center's first tower.
    keys = await asyncio.gather(*(key_for(p) for p in people))
    towers = {k.tower_id for k in keys}
    assert len(towers) == 1 and len({k.locker_id for k in keys}) == 3
    (tower,) = towers

    w.simulator.requests.clear()
    await w.watch()
    assert len(w.harbor_requests("GET", f"/towers/{tower}/lockers")) == 1
    assert not w.harbor_requests("GET", "/locations/")  # nothing else per locker either

    # Bob's item goes in: the next round tells Bob only, still with one read of the tower.
    assert (await w.use_at_tower(keys[1])).status_code == 200
    w.simulator.requests.clear()
    await w.watch()
    await people[1].wait_for("is in locker")
    assert len(w.harbor_requests("GET", f"/towers/{tower}/lockers")) == 1
    assert not any("is in locker" in (m.content or "") for p in (people[0], people[2]) for m in p.bot_messages)
