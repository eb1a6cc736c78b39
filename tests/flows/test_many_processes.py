"""Many processes, one bot (docs/design.md §8): updates spread over two `web` bots on one PostgreSQL database.

Consecutive updates of one user go to different bots; nothing a bot keeps in memory may matter.
"""

from __future__ import annotations

import asyncio
import re

import httpx

from sandbox.telegram_driver import UserDriver
from storage.models import DeliveryState, OutboxState
from tests.flows.cluster import HARBOR_SECRET, Cluster, cluster
from tests.flows.harness import SF, TOKEN, decode_key
from tests.flows.steps import until
from tests.web_process import web_cluster

LINK = re.compile(r"https://t\.me/\S+\?start=([A-Za-z0-9_-]+)")


def sent_to(c: Cluster, user: UserDriver, text: str) -> int:
    return len([m for m in user.bot_messages if text in (m.content or "").lower()])


async def drop_off(c: Cluster, user: UserDriver, *, double_tap: bool = False) -> tuple[int, object]:
    """Through the balancer: /dropoff, location, location tap, size, key (twice at once if asked)."""
    await user.command("dropoff")
    await user.wait_for("where are you")
    await user.share_location(*SF)
    await user.wait_for("free lockers within")
    await user.press("Civic Center")
    sizes = await user.wait_for("which locker size")
    if double_tap:
        await asyncio.gather(user.press("small", sizes), user.press("small", sizes))
    else:
        await user.press("small", sizes)
    held = await user.wait_for("is held for you")
    if double_tap:
        await asyncio.gather(user.press("key", held), user.press("key", held))
    else:
        await user.press("key", held)
    photo = await user.wait_for(lambda m: m.photo is not None)
    [delivery] = await c.services(0).deliveries.open_deliveries(user.id)
    return delivery.id, photo


async def test_a_whole_delivery_over_two_processes(pg_url: str) -> None:
    async with cluster(pg_url) as c:
        alice, bob = c.user(101, "Alice"), c.user(202, "Bob")
        delivery_id, photo = await drop_off(c, alice, double_tap=True)
        # A double tap whose taps reached different processes made one reservation and one key.
        assert len(c.simulator.issued_tokens()) == 1
        assert len([r for r in c.simulator.requests if r.method == "POST" and "reservations" in r.path]) == 1
        assert len([m for m in alice.bot_messages if m.photo is not None]) == 1

        assert (await c.use_at_tower(decode_key(photo))).status_code == 200
        await asyncio.gather(c.watch(0), c.watch(1))  # both processes look; one announces
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
        await asyncio.gather(c.watch(1), c.watch(0))
        await alice.wait_for("is complete")
        await bob.wait_for("collected from locker")

        assert (await c.services(1).deliveries.get(delivery_id)).state is DeliveryState.COMPLETED
        assert sent_to(c, alice, "is in locker") == 1
        assert sent_to(c, alice, "is complete") == 1 and sent_to(c, bob, "collected from locker") == 1
        assert len(c.upstreams_used()) == 2  # both processes took updates


async def test_fifty_users_sharing_their_location_at_once_all_get_the_list(pg_url: str) -> None:
    async with cluster(pg_url) as c:
        users = [c.user(1000 + i, f"User{i}") for i in range(50)]

        async def one(user: UserDriver) -> None:
            await user.command("dropoff")
            # The location goes the instant the keyboard appears, to whichever process is next.
            await user.wait_for("where are you")
            await user.share_location(*SF)
            await user.wait_for("free lockers within", timeout=30)

        await asyncio.gather(*(one(u) for u in users))
        assert all(sent_to(c, u, "didn't get that") == 0 for u in users)


async def test_updates_without_the_secret_are_refused_and_not_processed(pg_url: str) -> None:
    async with cluster(pg_url) as c:
        update = {
            "update_id": 999,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 101, "type": "private", "first_name": "Mallory"},
                "from": {"id": 101, "is_bot": False, "first_name": "Mallory"},
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        before = len(c.emulator.calls_to("sendMessage"))
        async with httpx.AsyncClient(base_url=c.roots[0]) as web:
            missing = await web.post("/telegram", json=update)
            wrong = await web.post("/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"})
            health = await web.get("/healthz")
        assert (missing.status_code, wrong.status_code) == (401, 403)
        assert health.status_code == 200
        assert len(c.emulator.calls_to("sendMessage")) == before
        assert await c.services(0).repo.get_user(101) is None  # nothing was handled


async def test_harbor_events_notice_a_drop_off_at_once(pg_url: str) -> None:
    async with cluster(pg_url, harbor_webhook_secret=HARBOR_SECRET) as c:
        c.simulator.webhooks.configure(f"{c.balancer_root}/harbor", HARBOR_SECRET, duplicate_events=True)
        alice = c.user(101, "Alice")
        delivery_id, photo = await drop_off(c, alice)
        assert (await c.use_at_tower(decode_key(photo))).status_code == 200

        async def noticed() -> None:
            while (await c.services(1).deliveries.get(delivery_id)).state is not DeliveryState.IN_LOCKER:  # noqa: ASYNC110
                await asyncio.sleep(0.02)

        # Nobody runs the watch (it polls hourly here): the event makes a process look at once.
        async with asyncio.timeout(1.0):
            await noticed()
        await alice.wait_for("is in locker", timeout=3)  # the chat's 1 message/s limit may delay the words
        await c.simulator.webhooks_idle()
        assert sent_to(c, alice, "is in locker") == 1  # every event came twice; one announcement

        # A forged event (no or a wrong signature) is refused.
        async with httpx.AsyncClient(base_url=c.roots[1]) as web:
            forged = await web.post("/harbor", content=b'{"event": "LOCKER_OPERATION", "data": {}}')
            signed_wrong = await web.post(
                "/harbor", content=b"{}", headers={"X-Harbor-Signature": "sha256=" + "0" * 64}
            )
            ready = await web.get("/readyz")
        assert (forged.status_code, signed_wrong.status_code) == (401, 403)
        assert ready.status_code == 200, ready.text


async def test_a_blocked_sender_and_a_burst_of_429s_hold_up_nobody_elses_news(pg_url: str) -> None:
    async with cluster(pg_url) as c:
        alice, carol = c.user(101, "Alice"), c.user(303, "Carol")
        _, alice_key = await drop_off(c, alice)
        _, carol_key = await drop_off(c, carol)
        for photo in (alice_key, carol_key):
            assert (await c.use_at_tower(decode_key(photo))).status_code == 200
        await alice.block()
        c.emulator.add_fault("sendMessage", status=429, retry_after=1, times=4)

        await c.watch(0)
        await carol.wait_for("is in locker", timeout=10)

        async def in_locker_states() -> dict[int, OutboxState]:
            rows = await c.services(0).repo.outbox()
            return {row.chat_id: row.state for row in rows if row.dedupe_key.startswith("in_locker:")}

        async def both_ended() -> bool:  # a row is marked once Telegram has answered: just after Carol sees it
            return OutboxState.PENDING not in (await in_locker_states()).values()

        await until(both_ended, timeout=10)
        assert await in_locker_states() == {alice.id: OutboxState.FAILED, carol.id: OutboxState.SENT}
        assert sent_to(c, carol, "is in locker") == 1


async def test_kill_9_of_one_process_mid_flow_the_other_carries_on(pg_url: str) -> None:
    """Real processes: one dies with SIGKILL right after sending buttons; the other serves those buttons,
    fires the timers and runs the watch."""
    settings = {
        "LOCKER_POLL_SECONDS": "1",
        "RESERVATION_SECONDS": "6",
        "TELEGRAM_CHAT_RATE": "50",
        "LOG_LEVEL": "WARNING",
    }
    async with web_cluster(pg_url, processes=2, **settings) as web:
        emulator, harbor_root, balancer = web.emulator, web.harbor_root, web.balancer
        doomed, survivor = web.processes

        alice, bob = emulator.user(101, "Alice", bot_token=TOKEN), emulator.user(202, "Bob", bot_token=TOKEN)
        for user in (alice, bob):
            await user.command("dropoff")
            await user.wait_for("where are you", timeout=10)
            await user.share_location(*SF)
            await user.wait_for("free lockers within", timeout=10)
            await user.press("Civic Center")
            await user.press("small", await user.wait_for("which locker size", timeout=10))
        held = await alice.wait_for("is held for you", timeout=10)
        await bob.wait_for("is held for you", timeout=10)

        doomed.kill()  # SIGKILL: no shutdown, no flush, leases left behind
        await doomed.wait()

        # The buttons sent before the crash work, whichever process gets the tap.
        await alice.press("key", held, timeout=10)
        photo = await alice.wait_for(lambda m: m.photo is not None, timeout=10)
        async with httpx.AsyncClient(base_url=harbor_root) as harbor:
            key = decode_key(photo)
            body = {"payload": key.payload, "payload_auth": key.payload_auth, "sdk_token": key.sdk_token}
            assert (await harbor.post("/_sim/use-token", json=body)).status_code == 200
        # The watch continues in the survivor (within its lease and one poll), and so do the timers.
        inside = await alice.wait_for("is in locker", timeout=15)
        await bob.wait_for("ended unused", timeout=15)
        assert survivor.returncode is None

        # The dead process comes back (a restart); the buttons of before still work on either process.
        await web.restart(0)
        before = len(balancer.forwarded)
        await alice.press("myself", inside, timeout=10)
        await alice.wait_for("pick it up yourself", timeout=10)
        for _ in range(3):
            await alice.command("my")
            await alice.wait_for("your open deliveries", timeout=10)
        served = {f.upstream for f in balancer.forwarded[before:] if f.status == 200}
        assert len(served) == 2, balancer.forwarded[before:]
