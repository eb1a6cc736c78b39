"""Issue 19: every update takes effect once, however often Telegram delivers it (PostgreSQL, two `web`
processes behind a balancer; the last test polls, on SQLite and PostgreSQL).

Telegram delivers an update *at least once*. Here every update of a whole delivery is delivered twice,
to both processes, the second copy 50 ms after the first: the customer still sees each message once,
Harbor gets one reservation and one token of each kind, and no button is answered twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlmodel import col, select

from sandbox.telegram_driver import UserDriver
from storage.engine import make_async_engine, make_async_session_factory
from storage.models import DeliveryState, InboxUpdate
from storage.repository import Repository
from tests.flows.cluster import Cluster, cluster
from tests.flows.harness import SF, TOKEN, decode_key, world
from tests.flows.steps import settled
from tests.flows.test_many_processes import LINK
from tests.web_process import web_cluster


def texts_sent(c: Cluster, user: UserDriver) -> Counter[str]:
    return Counter(
        str(call.params.get("text"))
        for call in c.emulator.calls_to("sendMessage")
        if call.ok and int(call.params["chat_id"]) == user.id
    )


async def test_every_update_of_a_delivery_twice_on_both_processes_takes_effect_once(pg_url: str) -> None:
    async with cluster(pg_url, duplicate_after=0.05) as c:
        alice, bob = c.user(101, "Alice"), c.user(202, "Bob")
        await alice.command("dropoff")
        await alice.wait_for("where are you")
        await alice.share_location(*SF)
        await alice.wait_for("free lockers within")
        await alice.press("Civic Center")
        await alice.press("small", await alice.wait_for("which locker size"))
        await alice.press("key", await alice.wait_for("is held for you"))
        photo = await alice.wait_for(lambda m: m.photo is not None)
        [delivery] = await c.services(0).deliveries.open_deliveries(alice.id)

        assert (await c.use_at_tower(decode_key(photo))).status_code == 200
        await c.watch(0)
        inside = await alice.wait_for("is in locker")
        await alice.press("pickup link", inside)
        made = await alice.wait_for(LINK)
        url = LINK.search(made.content or "")
        assert url is not None
        await bob.open_link(url.group(0))
        waiting = await bob.wait_for("waiting for you")
        await alice.wait_for("opened your pickup link")
        await bob.press("pickup key", waiting)
        key = decode_key(await bob.wait_for(lambda m: m.photo is not None))
        assert (await c.use_at_tower(key)).status_code == 200
        await c.watch(1)
        await alice.wait_for("is complete")
        await bob.wait_for("collected from locker")
        await asyncio.sleep(0)

        # Every update went to both processes...
        pushed = [f for f in c.balancer.forwarded if f.path == "/telegram"]
        assert {f.upstream for f in pushed} == set(c.roots)
        assert len(pushed) == 2 * len({a.update_id for a in c.emulator.webhooks.attempts})
        # ...and took effect once: each message, each reservation and token, each button's answer.
        for user in (alice, bob):
            repeated = {text: n for text, n in texts_sent(c, user).items() if n > 1}
            assert not repeated, f"{user.first_name} got these more than once: {repeated}"
            photos = [call for call in c.emulator.calls_to("sendPhoto") if int(call.params["chat_id"]) == user.id]
            assert len(photos) == 1  # the key (deleted from the chat once used)
        harbor = Counter((r.method, r.path.rsplit("/", 1)[-1]) for r in c.simulator.requests)
        assert harbor[("POST", "reservations")] == 1
        assert harbor[("POST", "dropoff-locker-tokens")] == 1
        assert harbor[("POST", "pickup-locker-tokens")] == 1
        answers = c.emulator.calls_to("answerCallbackQuery")
        assert all(call.ok for call in answers), [call.description for call in answers if not call.ok]
        assert len(answers) == len({call.params["callback_query_id"] for call in answers})
        assert (await c.services(1).deliveries.get(delivery.id)).state is DeliveryState.COMPLETED


async def _inbox_row(database_url: str, update_id: int) -> InboxUpdate:
    engine = make_async_engine(database_url)
    try:
        return await Repository(make_async_session_factory(engine)).inbox_update(update_id) or InboxUpdate(
            update_id=update_id, body=""
        )
    finally:
        await engine.dispose()


async def _holder_of_open_update(database_url: str) -> tuple[int, int]:
    """(update_id, pid of the process holding it) of the one update being handled right now."""
    engine = make_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(InboxUpdate.update_id, InboxUpdate.lease_owner).where(
                        col(InboxUpdate.done_at).is_(None), col(InboxUpdate.lease_owner).is_not(None)
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    [(update_id, owner)] = rows
    return update_id, int(owner.split(":")[1])  # the owner is host:pid:nonce (bot.jobs.process_name)


async def test_a_process_killed_while_handling_an_update_another_finishes_it_once(pg_url: str) -> None:
    """Real processes: the one that took a tap is killed with SIGKILL while Harbor is slow to answer it;
    the other takes the update over when its lease runs out, and the tap is answered, once."""
    settings = {
        "LOCKER_POLL_SECONDS": "3600",
        "INBOX_LEASE_SECONDS": "2",
        "TELEGRAM_CHAT_RATE": "50",
        "LOG_LEVEL": "WARNING",
    }
    async with web_cluster(pg_url, processes=2, **settings) as web:
        emulator, simulator, processes = web.emulator, web.simulator, web.processes

        alice = emulator.user(101, "Alice", bot_token=TOKEN)
        await alice.command("dropoff")
        await alice.wait_for("where are you", timeout=10)
        await alice.share_location(*SF)
        await alice.wait_for("free lockers within", timeout=10)
        simulator.add_fault(method="GET", path=r"/locations/101/lockers", stall=30, times=1)
        tap = asyncio.create_task(alice.press("Civic Center", timeout=30))
        async with asyncio.timeout(10):  # the tap is taken and its process waits on Harbor
            while simulator.pending_faults():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        update_id, pid = await _holder_of_open_update(pg_url)
        [doomed] = [p for p in processes if p.pid == pid]
        doomed.kill()  # SIGKILL: the update stays claimed by nobody alive
        await doomed.wait()

        answer = await tap  # the survivor took it over once the lease ran out
        sizes = await alice.wait_for("which locker size", timeout=10)
        assert answer is not None and sizes.buttons
        answers = [
            c for c in emulator.calls_to("answerCallbackQuery") if c.params["callback_query_id"] == answer.query_id
        ]
        assert len(answers) == 1 and answers[0].ok
        asked = [r for r in simulator.requests if r.method == "GET" and r.path.endswith("/locations/101/lockers")]
        assert len(asked) == 2  # the dead process's call, and the survivor's
        async with asyncio.timeout(5):  # marked done once its handlers have returned
            while (row := await _inbox_row(pg_url, update_id)).done_at is None:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert row.attempts == 2  # claimed by the dead process, then by the survivor, and done


async def test_polled_updates_fetched_before_a_stop_are_handled_after_the_restart(database_url: str) -> None:
    """Polling: a chat's second update waits for its first, which Harbor holds up; the bot stops
    meanwhile (it finishes the update in hand, and stops without waiting for the queue behind it).
    Telegram was told both were received; the second is in the inbox and answered after the restart."""
    async with world(database_url) as w:
        alice = w.user(101, "Alice")
        await alice.command("dropoff")
        await alice.wait_for("where are you")
        w.simulator.add_fault(method="GET", path="locations/in-area", stall=5, times=1)
        await alice.share_location(*SF)
        await alice.command("help")
        async with asyncio.timeout(10):  # the location's search waits on Harbor, /help behind it
            while w.simulator.pending_faults():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        async with asyncio.timeout(20):
            await w.stop()
        assert not [m for m in alice.bot_messages if "how it works" in (m.content or "").lower()]
        assert not w.emulator.bot().updates  # confirmed to Telegram: it will not send them again

        await w.start()
        await alice.wait_for("how it works", timeout=10)
        await settled(w)
        assert len([m for m in alice.bot_messages if "how it works" in (m.content or "").lower()]) == 1
        assert len([m for m in alice.bot_messages if "free lockers within" in (m.content or "").lower()]) == 1
