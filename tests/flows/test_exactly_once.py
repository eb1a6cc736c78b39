"""Issue 19: every update takes effect once, however often Telegram delivers it (PostgreSQL, two `web`
processes behind a balancer).

Telegram delivers an update *at least once*. Here every update of a whole delivery is delivered twice,
to both processes, the second copy 50 ms after the first: the customer still sees each message once,
Harbor gets one reservation and one token of each kind, and no button is answered twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from sandbox.telegram_driver import UserDriver
from storage.models import DeliveryState
from tests.flows.cluster import Cluster, cluster
from tests.flows.harness import SF, decode_key
from tests.flows.test_many_processes import LINK


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
