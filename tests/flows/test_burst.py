"""Issue 19: many people at once never freeze the bot for anyone else.

60 customers, each holding a locker, tap "Get drop-off key" at the same moment while Harbor takes
2 s over each token; meanwhile a stranger sends /start. Locks that held a pooled connection for the
whole Harbor call (and needed a second one for every query under them) stopped every update for the
pool's timeout; now the stranger is answered at once and every customer gets a key that opens their
locker. The same for a burst of forged "cancel" presses of deliveries that do not exist.
"""

from __future__ import annotations

import asyncio
import copy
import time

from sandbox.harbor import HarborSimulator
from sandbox.harbor_base import load_default_seed
from sandbox.telegram_driver import UserDriver
from storage.models import DeliveryState
from tests.flows.harness import World, decode_key, world

BURST_LOCATION = 777
TAPS = 60
HARBOR_LATENCY = 2.0
BYSTANDER_LIMIT = 1.0


def burst_simulator(lockers: int = 80) -> HarborSimulator:
    """The bundled seed plus one tower with `lockers` small lockers, so everyone can hold one there."""
    seed = load_default_seed()
    hall = copy.deepcopy(seed["locations"][0])
    hall.update(id=BURST_LOCATION, name="Burst Hall", lat=37.79, lon=-122.41, address1="1 Burst St")
    hall["towers"] = [
        {"id": "0c00000000000001", "firstLockerId": 30001, "lockers": [{"doors": f"1-{lockers}", "type": "small"}]}
    ]
    seed["locations"].append(hall)
    return HarborSimulator(seed=seed, rng_seed=7)


async def holding_customers(w: World, count: int) -> list[UserDriver]:
    """`count` customers who each hold a locker at Burst Hall and see its "Get drop-off key" button."""
    customers = [w.user(30_000 + i, f"C{i}") for i in range(count)]
    await asyncio.gather(*(w.services.deliveries.reserve(c.id, BURST_LOCATION, 1) for c in customers))

    async def see_hold(customer: UserDriver) -> None:
        await customer.command("my")
        await customer.wait_for(lambda m: any("drop-off key" in b.lower() for b in m.buttons), timeout=30)

    await asyncio.gather(*(see_hold(c) for c in customers))
    return customers


async def answered_in(user: UserDriver, command: str) -> float:
    started = time.monotonic()
    await user.command(command)
    await user.wait_for(lambda m: True, timeout=60)
    return time.monotonic() - started


async def in_flight(w: World, path: str, count: int, *, limit: float = 10.0) -> None:
    """Until Harbor has been asked `count` times (the burst is under way), or `limit` seconds went by."""
    deadline = time.monotonic() + limit
    while len(w.harbor_requests("POST", path)) < count and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


async def test_a_burst_of_key_taps_with_a_slow_harbor_holds_up_nobody(database_url: str) -> None:
    async with world(database_url, simulator=burst_simulator()) as w:
        customers = await holding_customers(w, TAPS)
        w.simulator.add_fault(method="POST", path="dropoff-locker-tokens", stall=HARBOR_LATENCY, times=None)

        async def tap(customer: UserDriver) -> None:
            await customer.press("key", timeout=60)
            await customer.wait_for(lambda m: m.photo is not None, timeout=60)

        taps = asyncio.gather(*(tap(c) for c in customers))
        await in_flight(w, "dropoff-locker-tokens", TAPS // 2)
        bystander = await answered_in(w.user(39_999, "Stranger"), "start")
        await taps

        assert bystander < BYSTANDER_LIMIT, f"the stranger waited {bystander:.2f} s during the burst"
        assert len(w.harbor_requests("POST", "dropoff-locker-tokens")) == TAPS  # one token each, none twice
        for customer in customers:
            [delivery] = await w.services.deliveries.open_deliveries(customer.id)
            assert delivery.state is DeliveryState.AWAITING_DROPOFF
            photos = [m for m in customer.bot_messages if m.photo is not None]
            assert len(photos) == 1
            key = decode_key(photos[0])
            assert (key.kind, key.locker_id) == ("dropoff", delivery.locker_id)
            assert not [m for m in customer.bot_messages if "went wrong" in (m.content or "").lower()]


async def test_forged_cancel_presses_of_unknown_deliveries_hold_up_nobody(database_url: str) -> None:
    # The per-user budget is tested on its own (test_hardening.py): here all 30 presses get through.
    async with world(database_url, user_update_burst=40) as w:
        mallory = w.user(31_337, "Mallory")
        await mallory.command("start")
        greeting = await mallory.wait_for(lambda m: True)
        chat = mallory.emulator.private_chat(mallory.bot, mallory.record)
        shown = chat.messages[greeting.message_id]
        # Buttons of deliveries that do not exist, pressed at once.
        presses = await asyncio.gather(
            *(
                mallory.emulator.press_callback(mallory.bot, mallory.record, shown, f"cancel:{900_000 + i}")
                for i in range(30)
            )
        )
        bystander = await answered_in(w.user(39_998, "Stranger"), "start")
        async with asyncio.timeout(30):
            await asyncio.gather(*(p.answered.wait() for p in presses))

        assert bystander < BYSTANDER_LIMIT, f"the stranger waited {bystander:.2f} s behind the forged presses"
        answers = [
            c
            for c in w.emulator.calls_to("answerCallbackQuery")
            if int(c.params["callback_query_id"]) in {int(p.query_id) for p in presses}
        ]
        assert len(answers) == 30 and all(c.ok for c in answers)  # each answered, once
        async with asyncio.timeout(10):  # each answer comes with one line saying so
            while sum("can't find that delivery" in (m.content or "") for m in mallory.bot_messages) < 30:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
