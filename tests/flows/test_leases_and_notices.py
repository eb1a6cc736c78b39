"""Announcements and shared jobs happen exactly once, whatever the clocks and Telegram do (issue 19).

A lease that lapses while its work still runs hands the work to a second process: the news would be
sent twice, a watch round run twice. Leases are measured by the database's clock and renewed while
the work runs. And two real events of one kind (a courier assigned twice) are two announcements.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta

import pytest

from bot.jobs import Scheduler
from bot.notify import Notifier
from storage import types
from storage.models import JobKind, OutboxState
from tests.flows.harness import World, decode_key, world
from tests.flows.steps import get_pickup_key, item_in_locker, settled, until
from tests.flows.test_handover_collect import make_courier


async def past(w: World, moment: datetime) -> None:
    """Until the database's clock (the one leases are measured by) has passed `moment`."""

    async def passed() -> bool:
        return await w.services.repo.database_now() > moment + timedelta(seconds=0.2)

    await until(passed)


async def test_a_retry_after_longer_than_the_lease_sends_the_news_once(database_url: str) -> None:
    async with world(database_url) as w:
        alice = w.user(101, "Alice")
        await alice.command("dropoff")
        await alice.wait_for("where are you")
        await alice.share_location(37.7793, -122.4193)
        await alice.wait_for("free lockers within")
        await alice.press("Civic Center")
        await alice.press("small", await alice.wait_for("which locker size"))
        await alice.press("key", await alice.wait_for("is held for you"))
        photo = await alice.wait_for(lambda m: m.photo is not None)
        assert (await w.use_at_tower(decode_key(photo))).status_code == 200

        # Two processes' notifiers on one database, with a short lease; Telegram's flood control holds
        # the first send back for longer than that lease.
        first, second = w.services.notifier, Notifier(w.app, w.services.repo, reminder_hours=24)
        first.lease = second.lease = timedelta(seconds=1)
        w.emulator.add_fault("sendMessage", status=429, retry_after=2)
        await w.services.watch.poll()  # the item is in: "your item is in the locker" is recorded
        sending = asyncio.create_task(first.deliver())

        async def flood_controlled() -> bool:
            return any(c.method == "sendMessage" and c.error_code == 429 for c in w.emulator.calls)

        await until(flood_controlled)
        [row] = [r for r in await w.services.repo.outbox(chat_id=alice.id) if r.state is OutboxState.PENDING]
        assert row.lease_until is not None
        await past(w, row.lease_until)  # the first claim's lease, had it not been renewed, is over
        await second.deliver()  # the other process looks for due news meanwhile
        await sending
        await first.settle()

        told = [m for m in alice.bot_messages if "is in locker" in (m.content or "")]
        assert len(told) == 1, [m.content for m in told]
        [row] = [r for r in await w.services.repo.outbox(chat_id=alice.id) if r.id == row.id]
        assert row.state is OutboxState.SENT


class Round:
    """The watch round as a test sees it: the first one waits until the test lets it finish."""

    def __init__(self, w: World, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real = w.services.watch.poll
        self.started = asyncio.Event()
        self.go_on = asyncio.Event()
        self.runs = 0
        monkeypatch.setattr(w.services.watch, "poll", self.poll)

    async def poll(self, *args: object, **kwargs: object) -> None:
        self.runs += 1
        if self.runs == 1:
            self.started.set()
            await self.go_on.wait()
        await self.real(*args, **kwargs)


async def test_a_watch_round_longer_than_its_lease_runs_in_one_process(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(database_url, locker_poll_seconds=2) as w:  # a 2 s lease
        round_ = Round(w, monkeypatch)
        await w.services.repo.schedule(JobKind.WATCH, "")
        await asyncio.wait_for(round_.started.wait(), 20)  # this process's tick runs the round ...
        job = await w.services.repo.job(JobKind.WATCH)
        assert job is not None and job.lease_until is not None
        await past(w, job.lease_until)  # ... for longer than its first lease

        other = Scheduler(w.services, owner="another process")
        try:
            await other.tick()
        finally:
            round_.go_on.set()
        assert round_.runs == 1, "a second process ran the watch round still running in the first"

        async def released() -> bool:
            job = await w.services.repo.job(JobKind.WATCH)
            return job is not None and job.lease_owner is None

        await until(released)
        job = await w.services.repo.job(JobKind.WATCH)
        assert job is not None and job.last_run_at is not None and job.due_at > job.last_run_at


async def test_a_process_whose_clock_runs_fast_does_not_take_a_live_lease(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(database_url) as w:  # a 30 s lease
        round_ = Round(w, monkeypatch)
        await w.services.repo.schedule(JobKind.WATCH, "")
        await asyncio.wait_for(round_.started.wait(), 20)

        # Another process whose clock is a minute ahead: by its own clock the lease is over.
        real = types.utcnow

        def fast() -> datetime:
            return real() + timedelta(minutes=1)

        for module in list(sys.modules.values()):
            name = getattr(module, "__name__", "")
            if name.startswith(("bot.", "storage.")) and getattr(module, "utcnow", None) is real:
                monkeypatch.setattr(module, "utcnow", fast)
        other = Scheduler(w.services, owner="a process with a fast clock")
        try:
            await other.tick()
        finally:
            round_.go_on.set()
        assert round_.runs == 1, "the fast clock took over a lease that is still live"


async def test_every_assignment_and_unassignment_of_a_courier_is_announced(w: World) -> None:
    carl = await make_courier(w, 401, "Carl", "carl")
    alice = w.user(101, "Alice")
    _, inside = await item_in_locker(w, alice)
    for _ in range(2):
        carl.mark()
        await alice.press("courier", inside)
        await alice.press("Carl", await alice.wait_for("which courier"))
        job = await carl.wait_for("waiting for you")
        await get_pickup_key(w, carl, job)  # Carl holds a key each time
        await alice.press("myself", inside)
        await alice.press("Hand it over now", await alice.wait_for("holds a pickup key"))
        await alice.wait_for("pick it up yourself")
        dropped = await carl.wait_for("no longer yours to collect")
        assert "still open the locker until" in (dropped.content or "")
    await settled(w)
    texts = [m.content or "" for m in carl.bot_messages]
    assert len([t for t in texts if "waiting for you" in t]) == 2, texts
    assert len([t for t in texts if "no longer yours to collect" in t]) == 2, texts


async def test_settled_waits_for_the_news_a_handler_sends_in_the_background(w: World) -> None:
    """`settled()` is what "nothing more was sent" checks rest on: it must wait for the announcements a
    handler hands to the notifier, even one that Telegram's flood control holds back for a second."""
    carl = await make_courier(w, 401, "Carl", "carl")
    alice = w.user(101, "Alice")
    _, inside = await item_in_locker(w, alice)
    await alice.press("courier", inside)
    w.emulator.add_fault("sendMessage", status=429, retry_after=1)  # the courier's news, sent after her answer
    await alice.press("Carl", await alice.wait_for("which courier"))
    await alice.wait_for("will collect the item")
    await settled(w)
    assert [m for m in carl.bot_messages if "waiting for you" in (m.content or "")], "settled() returned early"
