"""Issue 15: KEY_MODE=link keys that outlive the bot's records, played with the simulator's Locker Open
requests (a pick-up request opens its locker until it is used; a drop-off request until its 5-minute
hold ends), and the budgets and logs around them.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from sqlmodel import Session, select

from bot import logs
from sandbox.telegram_driver import ChatMessage, UserDriver
from storage.models import Delivery, DeliveryState, IssuedKey, KeyState
from tests.flows.harness import ADMIN_ID, World
from tests.flows.steps import age_key, harbor_status, settled, sync_engine, to_sizes
from tests.flows.test_links import events, link_world, open_button


def is_key(message: ChatMessage) -> bool:
    return message.photo is not None


async def dropped_in(w: World, user: UserDriver, size: str = "small") -> tuple[Delivery, ChatMessage]:
    """A drop-off with a link, the item in; returns the delivery and the 'is in locker' message."""
    await user.press(size, await to_sizes(user))
    key = await user.wait_for(is_key)
    await w.open_link(open_button(key))
    await w.watch()
    inside = await user.wait_for("is in locker")
    [delivery] = await w.services.deliveries.open_deliveries(user.id)
    return delivery, inside


async def pickup_link(user: UserDriver, inside: ChatMessage) -> ChatMessage:
    await user.press("pick it up myself", inside)
    waiting = await user.wait_for("waiting for you")
    await user.press("pickup key", waiting)
    return await user.wait_for(lambda m: is_key(m) and "pickup link" in (m.caption or "").lower())


def keys_of(w: World, delivery_id: int) -> list[IssuedKey]:
    with Session(sync_engine(w)) as session:
        rows = session.exec(select(IssuedKey).where(IssuedKey.delivery_id == delivery_id))
        return sorted(rows, key=lambda k: k.id or 0)


# 1. a live request is sent again, not doubled -------------------------------------------------------


async def test_a_new_pickup_key_is_the_same_link_while_it_may_still_open(database_url: str) -> None:
    async with link_world(database_url, with_return_page=False) as w:
        alice = w.user(501, "Alice")
        delivery, inside = await dropped_in(w, alice)
        first = await pickup_link(alice, inside)
        url = open_button(first)
        assert "works until it is used" in first.caption  # the truth, not "valid until"
        # The bot's key period ends; the request at Harbor does not.
        [record] = [k for k in keys_of(w, delivery.id) if k.kind.value == "pickup"]
        await age_key(w, record.id)
        await w.deadlines()
        note = await alice.wait_for("may still open the locker until it is used")
        await alice.press("new pickup key", note)
        again = await alice.wait_for(lambda m: is_key(m) and m.message_id != first.message_id)

        assert open_button(again) == url  # the same link: no second live request
        assert [r.kind for r in w.simulator.links.records] == ["dropoff", "pickup"]
        assert "link_resent" in events(w, delivery.id)
        stored = keys_of(w, delivery.id)
        assert all(url not in (k.sealed_link or "") for k in stored)  # kept sealed, never in clear
        await w.open_link(url)
        await w.watch()
        await alice.wait_for("is complete")
        # Harbor calls the request used: nothing of it is kept any more.
        await w.services.deliveries.link_requests.spent(str(w.simulator.links.records[-1].id))
        assert {k.sealed_link for k in keys_of(w, delivery.id) if k.kind.value == "pickup"} == {""}


async def test_a_new_drop_off_key_within_harbors_hold_is_the_same_link(database_url: str) -> None:
    async with link_world(database_url, with_return_page=False) as w:
        await w.restart(key_seconds=60)  # the bot's key period ends before Harbor's 5-minute hold
        alice = w.user(505, "Alice")
        await alice.press("small", await to_sizes(alice))
        first = await alice.wait_for(is_key)
        [delivery] = await w.services.deliveries.open_deliveries(alice.id)
        [record] = keys_of(w, delivery.id)
        await age_key(w, record.id)
        await w.deadlines()
        note = await alice.wait_for("may still open the locker until it is used")
        await alice.press("new drop-off key", note)
        again = await alice.wait_for(lambda m: is_key(m) and m.message_id != first.message_id)
        assert open_button(again) == open_button(first)
        assert len(w.simulator.links.records) == 1  # no second request holding a second locker
        await w.open_link(open_button(again))
        await w.watch()
        await alice.wait_for("is in locker")


async def test_an_open_nobody_had_a_key_for_is_reported_to_sender_and_admins(database_url: str) -> None:
    async with link_world(database_url, with_return_page=False) as w:
        alice, bob = w.user(511, "Alice"), w.user(512, "Bob")
        admin = w.user(ADMIN_ID, "Admin")
        await admin.command("start")
        await admin.wait_for(lambda m: True)
        first, inside = await dropped_in(w, alice)
        kept = open_button(await pickup_link(alice, inside))  # Alice keeps her pickup link...
        await w.services.handover.release(first.id, ADMIN_ID)  # ...and the service releases the locker
        assert harbor_status(w, first.locker_id) == "available"

        second, _ = await dropped_in(w, bob)  # Harbor hands the same locker to Bob's item
        assert second.locker_id == first.locker_id
        # On record, and the admins told: an older request may still open it.
        assert "locker_link_live" in events(w, second.id)
        await admin.wait_for("may still be live")

        opened = await w.open_link(kept)  # Alice's old link still opens it, and takes Bob's item
        assert opened["status"] == "success" and harbor_status(w, second.locker_id) == "available"
        await w.watch()
        await bob.wait_for("opened although I gave nobody a key")
        await admin.wait_for("was opened without a key I gave out")
        closed = await w.services.deliveries.get(second.id)
        assert closed.state is DeliveryState.RELEASED
        assert "opened_without_key" in events(w, second.id)


async def test_a_drop_off_link_left_by_didnt_fit_cannot_fill_the_next_customers_locker(database_url: str) -> None:
    async with link_world(database_url, with_return_page=False) as w:
        alice, bob = w.user(521, "Alice"), w.user(522, "Bob")
        await alice.press("small", await to_sizes(alice))
        old_key = await alice.wait_for(is_key)
        [delivery] = await w.services.deliveries.open_deliveries(alice.id)
        old_locker, old_url = delivery.locker_id, open_button(old_key)

        await alice.press("didn't fit", old_key)
        await alice.wait_for("please don't use that link")  # not "given back": it is not, yet
        await alice.wait_for(lambda m: is_key(m) and m.message_id != old_key.message_id)
        assert "old_link_live" in events(w, delivery.id)
        assert harbor_status(w, old_locker) == "rented"  # kept until Harbor's hold ends, not given away

        await bob.press("small", await to_sizes(bob))
        await bob.wait_for(is_key)
        [bobs] = await w.services.deliveries.open_deliveries(bob.id)
        assert bobs.locker_id != old_locker
        opened = await w.open_link(old_url)  # the old link opens only the locker nobody else has
        assert opened["locker"]["id"] == old_locker != bobs.locker_id
        assert harbor_status(w, bobs.locker_id) == "rented"  # Bob's locker is still empty, waiting for him


async def test_a_replaced_collector_is_told_a_link_works_until_used(database_url: str) -> None:
    async with link_world(database_url, with_return_page=False) as w:
        alice, carol = w.user(531, "Alice"), w.user(532, "Carol", username="carol")
        delivery, inside = await dropped_in(w, alice)
        await alice.press("share a pickup link", inside)
        made = await alice.wait_for("one-time link")
        code = made.content.split("start=")[1].split()[0]
        await carol.open_deep_link(code)
        waiting = await carol.wait_for("waiting for you")
        await carol.press("pickup key", waiting)
        carols = await carol.wait_for(is_key)
        [record] = [k for k in keys_of(w, delivery.id) if k.kind.value == "pickup"]
        await age_key(w, record.id)  # the bot's period is over; Carol's link is not
        await w.deadlines()
        await carol.wait_for("may still open the locker until it is used")

        await alice.press("myself", inside)
        asked = await alice.wait_for("Locker Open link")
        assert "works until it is used" in asked.content and not any("wait" in b.lower() for b in asked.buttons)
        await alice.press("hand it over now", asked)
        await carol.wait_for("it would still open the locker until it is used")
        await alice.wait_for(lambda m: "pick it up yourself" in (m.content or "").lower())
        await alice.press("pickup key", await alice.wait_for("waiting for you"))
        hers = await alice.wait_for(lambda m: is_key(m) and "pickup link" in (m.caption or "").lower())
        assert open_button(hers) == open_button(carols)  # one request: whoever uses it first collects


# 2. "It didn't fit" within the caps, and no offer of the size that did not fit ----------------------


async def test_didnt_fit_with_links_stops_at_the_key_cap(database_url: str) -> None:
    async with link_world(database_url, with_return_page=False) as w:
        await w.restart(dropoff_max_keys=3)
        alice = w.user(541, "Alice")
        await alice.press("small", await to_sizes(alice))
        key = await alice.wait_for(is_key)
        for _ in range(2):  # small -> medium -> large: three links in all
            await alice.press("didn't fit", key)
            key = await alice.wait_for(lambda m, last=key: is_key(m) and m.message_id != last.message_id)
        await alice.press("didn't fit", key)
        await alice.wait_for("as long as one reservation may be")
        held = w.simulator.assigned_lockers(w.settings.harbor_client_id)
        assert not [lk for lk in held if lk["type"]["name"] == "x-large"]  # no fourth hold
        assert [r.kind for r in w.simulator.links.records] == ["dropoff"] * 3
        assert await w.services.deliveries.open_dropoff(alice.id) is None


async def test_no_bigger_size_offers_other_sizes_not_the_one_that_did_not_fit(database_url: str) -> None:
    async with link_world(database_url, with_return_page=False) as w:
        alice = w.user(551, "Alice")
        await alice.press("x-large", await to_sizes(alice))
        key = await alice.wait_for(is_key)
        await alice.press("didn't fit", key)
        offer = await alice.wait_for("No bigger locker")
        assert not any("x-large" in b for b in offer.buttons), offer.buttons


# 3. a renewal that lands on a locker another open delivery holds ------------------------------------


async def test_a_new_link_on_a_locker_still_in_use_is_void_and_said_so(database_url: str) -> None:
    async with link_world(database_url, with_return_page=False) as w:
        bob, alice = w.user(561, "Bob"), w.user(562, "Alice")
        bobs, inside = await dropped_in(w, bob)
        await alice.press("small", await to_sizes(alice))
        alices_key = await alice.wait_for(is_key)
        [delivery] = await w.services.deliveries.open_deliveries(alice.id)
        # Bob collects; the watch has not seen it yet, so his delivery still holds the locker.
        await w.open_link(open_button(await pickup_link(bob, inside)))
        assert harbor_status(w, bobs.locker_id) == "available"
        # Alice's link lapses with Harbor's hold; she asks for a new one and Harbor picks Bob's locker.
        w.simulator.clock.advance(301)
        [record] = keys_of(w, delivery.id)
        await age_key(w, record.id)
        await w.deadlines()
        note = await alice.wait_for("expired unused")
        await alice.press("new drop-off key", note)
        told = await alice.wait_for("another delivery still uses it")
        assert f"locker {bobs.locker_name}" in told.content.lower()
        assert not [k for k in keys_of(w, delivery.id) if k.state is KeyState.ACTIVE]  # the unsent key is void
        assert "link_locker_in_use" in events(w, delivery.id)
        assert all(m.message_id != alices_key.message_id or not is_key(m) for m in alice.chat)

        await w.watch()  # Bob's pickup is seen; his locker is free for real
        await bob.wait_for("is complete")
        await alice.press("new drop-off key", note)
        await alice.wait_for(lambda m: is_key(m) and m.message_id != alices_key.message_id)


# 4. the link is never in a log line ------------------------------------------------------------------


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in logs.NOISY_LOGGERS}
    stream = io.StringIO()
    logs.setup("DEBUG", stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, noisy_level in noisy.items():
        logging.getLogger(name).setLevel(noisy_level)


async def test_a_locker_open_link_never_reaches_the_log(database_url: str, debug_log: io.StringIO) -> None:
    async with link_world(database_url) as w:
        alice = w.user(571, "Alice")
        _, inside = await dropped_in(w, alice)
        await pickup_link(alice, inside)
        await settled(w)
    output = debug_log.getvalue()
    assert "sendPhoto" in output and "locker-open-requests" in output  # DEBUG saw the calls
    tokens = [r.token for r in w.simulator.links.records]
    assert len(tokens) == 2
    for token in tokens:
        for part in token.split("."):
            assert part not in output


# 9. size taps are searches ----------------------------------------------------------------------------


async def test_forged_size_taps_are_searches_and_write_no_delivery(database_url: str) -> None:
    async with link_world(database_url, with_return_page=False) as w:
        mallory = w.user(581, "Mallory")
        sizes = await to_sizes(mallory)  # two searches of the ten a minute
        chat = w.emulator.bot().chats[mallory.id]
        before = len(w.simulator.requests)
        for _ in range(25):
            await w.emulator.press_callback(
                mallory.bot, mallory.record, chat.messages[sizes.message_id], "size:101:999"
            )
        await settled(w, timeout=20)
        calls = len(w.simulator.requests) - before
        assert calls <= 2 * w.settings.user_searches_per_minute, calls
        assert not w.simulator.links.records
        with Session(sync_engine(w)) as session:
            assert session.exec(select(Delivery).where(Delivery.sender_id == mallory.id)).all() == []
        await mallory.wait_for("a lot of searches")
