"""Steps the handover, admin and reminder flows share: an item in a locker, a pickup key, a link.

Each step plays users through the bot exactly as test_dropoff_happy.py does; nothing is written to
the database or to Harbor behind the bot's back.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.keys import LockerKey
from sandbox.telegram_driver import ChatMessage, UserDriver, snapshot
from storage.engine import make_async_engine, make_async_session_factory, make_engine
from storage.models import Delivery, IssuedKey, PickupLink
from storage.repository import Repository
from tests.flows.harness import SF, World, decode_key


async def to_sizes(user: UserDriver, location: str = "Civic Center") -> ChatMessage:
    await user.command("dropoff")
    await user.wait_for("where are you")
    await user.share_location(*SF)
    await user.wait_for("free lockers within")
    await user.press(location)
    return await user.wait_for("which locker size")


async def reserve(user: UserDriver, size: str = "small") -> ChatMessage:
    sizes = await to_sizes(user)
    await user.press(size, sizes)
    return await user.wait_for("is held for you")


def harbor_status(w: World, locker_id: int | None) -> str:
    assert locker_id is not None
    return w.simulator.locker(locker_id)["status"]["name"]


LINK = re.compile(r"https://t\.me/\S+\?start=([A-Za-z0-9_-]+)")


async def item_in_locker(w: World, sender: UserDriver, *, size: str = "small") -> tuple[int, ChatMessage]:
    """Drop an item off at Civic Center: returns the delivery id and the sender's 'item is in' message."""
    await sender.command("dropoff")
    await sender.wait_for("where are you")
    await sender.share_location(*SF)
    await sender.wait_for("free lockers within")
    await sender.press("Civic Center")
    await sender.wait_for("which locker size")
    await sender.press(size)
    held = await sender.wait_for("is held for you")
    await sender.press("key", held)
    photo = await sender.wait_for(lambda m: m.photo is not None)
    used = await w.use_at_tower(decode_key(photo))
    assert used.status_code == 200, used.text
    await w.watch()
    inside = await sender.wait_for("is in locker")
    delivery = (await w.services.deliveries.open_deliveries(sender.id))[0]
    return delivery.id, inside


async def share_link(sender: UserDriver, inside: ChatMessage | None = None) -> tuple[str, ChatMessage]:
    """The sender taps 'Share a pickup link'; returns the link and the message carrying it."""
    await sender.press("pickup link", inside)
    made = await sender.wait_for(LINK)
    found = LINK.search(made.content or "")
    assert found is not None
    return found.group(0), made


async def get_pickup_key(w: World, collector: UserDriver, message: ChatMessage | None = None) -> LockerKey:
    """The collector taps the pickup key button; returns the key read from the QR they received."""
    await collector.press("pickup key", message)
    photo = await collector.wait_for(lambda m: m.photo is not None and "pickup key" in (m.caption or "").lower())
    key = decode_key(photo)
    assert key.kind == "pickup"
    return key


def harbor_token_for(w: World, key: LockerKey) -> dict:
    """The token Harbor issued that this key carries (exactly one)."""
    pair = (key.payload, key.payload_auth)
    found = [t for t in w.simulator.issued_tokens() if (t["payload"], t["payload_auth"]) == pair]
    assert len(found) == 1, f"{len(found)} Harbor tokens match the key"
    return found[0]


def pickup_tokens(w: World) -> list[dict]:
    return [t for t in w.simulator.issued_tokens() if t["kind"] == "pickup"]


def sync_engine(w: World) -> Engine:
    """A plain engine on the bot's database, for a test to move time in it behind the bot's back."""
    return make_engine(w.settings.database_url)


# The bot runs on this event loop: a blocking write here would wait on a transaction the loop cannot
# finish (SQLite), so each of these writes runs in a thread.


async def expire_links(w: World, delivery_id: int) -> None:
    await asyncio.to_thread(_expire_links, w, delivery_id)


async def age_hold(w: World, delivery_id: int) -> None:
    await asyncio.to_thread(_age_hold, w, delivery_id)


async def age_key(w: World, key_id: int) -> None:
    await asyncio.to_thread(_age_key, w, key_id)


def _expire_links(w: World, delivery_id: int) -> None:
    """Move the expiry of a delivery's links into the past, as if PICKUP_LINK_DAYS had gone by."""
    past = w.services.deliveries.now() - timedelta(seconds=1)
    assert w.app is not None
    with Session(sync_engine(w)) as session:
        for link in session.exec(select(PickupLink).where(PickupLink.delivery_id == delivery_id)):
            link.expires_at = past
            session.add(link)
        session.commit()


def _age_hold(w: World, delivery_id: int) -> None:
    """Move a hold's end into the past, as if RESERVATION_SECONDS had gone by."""
    with Session(sync_engine(w)) as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        delivery.reserved_until = datetime.now(UTC) - timedelta(seconds=2)
        session.add(delivery)
        session.commit()


def _age_key(w: World, key_id: int) -> None:
    """Move a key's expiry into the past, as if KEY_SECONDS had gone by (its timer then finds it due)."""
    with Session(sync_engine(w)) as session:
        key = session.get(IssuedKey, key_id)
        assert key is not None
        key.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(key)
        session.commit()


async def settled(w: World, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait until the bot has done everything it was going to do: every update taken from Telegram and
    handled, a scheduler tick run (what fell due: timers, the watch, announcements), and every
    announcement sent, the ones a handler kicked off in the background included.

    So "nothing more was sent" holds by construction, not by timing: after this, nothing is in flight.
    """
    assert w.app is not None
    bot = w.emulator.bot()
    app = w.app
    scheduler = app.bot_data["scheduler"]
    notifier = w.services.notifier

    def idle() -> bool:
        return (
            not bot.updates
            and app.update_queue.empty()
            and app.update_processor.current_concurrent_updates == 0
            and app.bot_data["inbox"].quiet
        )

    # PTB offers no event for "every update handled", so this polls the three places an update can be.
    async def updates_handled() -> None:
        while not idle():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)  # an update handed over between the checks shows up in the second one
        while not idle():  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    async def wait() -> None:
        while True:
            await updates_handled()
            await scheduler.tick()  # what is due now runs now (after any tick in progress), not "soon"
            await notifier.settle()  # the sends kicked off by handlers, and anything they left due
            if idle():
                return

    await asyncio.wait_for(wait(), timeout)


def forward(w: World, message: ChatMessage, to: UserDriver, *, group_id: int | None = None) -> ChatMessage:
    """`to` gets a forwarded copy of a bot message, buttons included, in their private chat or in a group.

    Telegram keeps a forwarded message's inline buttons, and a press on them reaches the bot with the
    same callback data: the worst case for a key or admin button shown to the wrong person.
    """
    bot = w.emulator.bot()
    if group_id is None:
        chat = w.emulator.private_chat(bot, to.record)
    else:
        chat = w.emulator.group_chat(bot, group_id, to.record)
    kept = ("text", "entities", "caption", "caption_entities", "photo", "reply_markup")
    content = {k: v for k, v in message.raw.items() if k in kept}
    content["forward_origin"] = {"type": "user", "sender_user": bot.as_user(), "date": message.date}
    return snapshot(w.emulator, w.emulator.new_message(bot, chat, bot.as_user(), content, from_bot=True))


@asynccontextmanager
async def repository(w: World) -> AsyncIterator[Repository]:
    """The bot's database while the bot is stopped (as an operator's script would see it)."""
    engine = make_async_engine(w.settings.database_url)
    try:
        yield Repository(make_async_session_factory(engine))
    finally:
        await engine.dispose()


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Wait for a condition the test cannot be told about (the database's clock passing a time, a row
    written after the message it records went out)."""

    async def wait() -> None:
        while not await condition():  # noqa: ASYNC110 - nothing signals it
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), timeout)
