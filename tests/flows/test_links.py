"""KEY_MODE=link: a whole delivery with Locker Open links (docs/harbor-api.md §6), as the customer lives it.

The customer never scans anything with an app of ours: each key is a button that opens Harbor's link
(and the same link as a QR code for a second phone). The simulator's hook plays the app clip at the
tower and the phone then opens the bot's return page, which makes the bot look at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlmodel import Session, select
from starlette.applications import Starlette

from bot.web_return import return_routes
from sandbox.telegram_driver import ChatMessage
from storage.models import DeliveryEvent, DeliveryState, IssuedKey
from tests.flows.harness import World, decode_qr, world
from tests.flows.steps import age_key, harbor_status, sync_engine, to_sizes
from tests.sandbox.telegram_fixtures import serve_app


@asynccontextmanager
async def link_world(database_url: str, *, with_return_page: bool = True) -> AsyncIterator[World]:
    """A bot in link mode; with a return page, WEBHOOK_URL points at the bot's own /harbor/return."""
    if not with_return_page:
        async with world(database_url, key_mode="link") as w:
            yield w
        return
    box: list[World] = []
    site = Starlette(routes=return_routes(lambda: box[0].app))  # type: ignore[arg-type, return-value]
    async with serve_app(site) as root, world(database_url, key_mode="link", webhook_url=root) as w:
        box.append(w)
        yield w


def open_button(message: ChatMessage) -> str:
    urls = [b.url for row in message.inline_buttons for b in row if b.url and "lockeropen" in b.url]
    assert len(urls) == 1, message.describe()
    return urls[0]


def events(w: World, delivery_id: int) -> list[str]:
    with Session(sync_engine(w)) as session:
        rows = session.exec(select(DeliveryEvent).where(DeliveryEvent.delivery_id == delivery_id))
        return [e.kind for e in sorted(rows, key=lambda e: e.id or 0)]


async def test_a_whole_delivery_with_links(database_url: str) -> None:
    async with link_world(database_url) as w:
        alice = w.user(301, "Alice")
        sizes = await to_sizes(alice)
        await alice.press("medium", sizes)
        held = await alice.wait_for("is held for you")
        key = await alice.wait_for(lambda m: m.photo is not None)

        # Harbor picked the locker for a drop-off request; nothing was reserved the SDK way.
        [request] = w.simulator.links.records
        delivery = (await w.services.deliveries.open_deliveries(alice.id))[0]
        assert (request.kind, request.locker_id) == ("dropoff", delivery.locker_id)
        assert request.client_info == f"harbor-bot:delivery:{delivery.id}"
        assert f"/harbor/return/{delivery.id}." in request.return_url  # signed: bot/deliveries/sealing.py
        assert not w.harbor_requests("POST", "/reservations")
        assert f"locker {delivery.locker_name}" in held.content.lower() and "medium" in held.content
        # One button opens the link on this phone; the QR under it is the same link for a second phone.
        url = open_button(key)
        assert url.startswith("https://lockeropen.com/dropoff?") and decode_qr(key) == url
        assert "drop-off link" in key.caption.lower()
        assert harbor_status(w, delivery.locker_id) == "rented"

        opened = await w.open_link(url)
        assert opened["status"] == "success"
        assert "go back to Telegram" in opened["page"].text  # the phone's page; the news comes in the chat
        inside = await alice.wait_for("is in locker")  # no watch round by hand: the return page asked
        assert f"locker {delivery.locker_name}" in inside.content.lower()
        assert (await _status(w.harbor_root, url)) == 409  # one open per link

        await alice.press("pick it up myself", inside)
        waiting = await alice.wait_for("waiting for you")
        await alice.press("pickup key", waiting)
        pickup = await alice.wait_for(lambda m: m.photo is not None and "pickup link" in (m.caption or "").lower())
        pickup_url = open_button(pickup)
        assert pickup_url.startswith("https://lockeropen.com/pickup?") and decode_qr(pickup) == pickup_url
        assert w.simulator.links.records[-1].locker_id == delivery.locker_id

        await w.open_link(pickup_url)
        done = await alice.wait_for("is complete")
        assert f"locker {delivery.locker_name}" in done.content.lower()
        assert harbor_status(w, delivery.locker_id) == "available"
        finished = await w.services.deliveries.get(delivery.id)
        assert finished.state is DeliveryState.COMPLETED
        trail = events(w, delivery.id)
        assert trail.index("dropoff_key_issued") < trail.index("in_locker") < trail.index("completed")
        with Session(sync_engine(w)) as session:  # the request ids are kept, the links themselves never
            stored = [k.harbor_token_id for k in session.exec(select(IssuedKey))]
        assert stored == [str(r.id) for r in w.simulator.links.records]


async def test_without_a_webhook_url_the_watch_notices(database_url: str) -> None:
    async with link_world(database_url, with_return_page=False) as w:
        bob = w.user(302, "Bob")
        await bob.press("small", await to_sizes(bob))
        key = await bob.wait_for(lambda m: m.photo is not None)
        assert w.simulator.links.records[0].return_url == ""  # no redirect (§6.1)
        opened = await w.open_link(open_button(key))
        assert opened["return_to"] is None
        await w.watch()
        await bob.wait_for("is in locker")


async def test_an_expired_link_is_replaced_by_a_new_request(database_url: str) -> None:
    async with link_world(database_url, with_return_page=False) as w:
        carol = w.user(303, "Carol")
        await carol.press("small", await to_sizes(carol))
        first = await carol.wait_for(lambda m: m.photo is not None)
        delivery = (await w.services.deliveries.open_deliveries(carol.id))[0]
        # Harbor's 5-minute hold ends; so does the key (its timer runs in the bot's clock).
        w.simulator.clock.advance(301)
        [record] = await w.services.repo.keys_of(delivery.id)
        await age_key(w, record.id)
        await w.deadlines()
        note = await carol.wait_for("expired unused")
        assert (await _status(w.harbor_root, open_button(first))) == 410  # our guess for an old link: refused
        await carol.press("new drop-off key", note)
        second = await carol.wait_for(lambda m: m.photo is not None and m.message_id != first.message_id)
        assert open_button(second) != open_button(first)
        assert len(w.simulator.links.records) == 2
        renewed = await w.services.deliveries.get(delivery.id)
        assert renewed.state is DeliveryState.AWAITING_DROPOFF
        assert renewed.locker_id == w.simulator.links.records[1].locker_id
        await w.open_link(open_button(second))
        await w.watch()
        await carol.wait_for("is in locker")


async def test_no_locker_of_the_size_offers_the_sizes_still_free(database_url: str) -> None:
    async with link_world(database_url, with_return_page=False) as w:
        dave = w.user(304, "Dave")
        sizes = await to_sizes(dave)
        for locker_id, locker in w.simulator.lockers.items():
            if locker.location_id == 101 and w.simulator.types[locker.type_id]["name"] == "medium":
                w.simulator.set_locker_status(locker_id, "occupied", "other-provider")
        # The listing still offered medium (it was read before); Harbor answers "No locker available".
        await dave.press("medium", sizes)
        ran_out = await dave.wait_for("were just taken")
        assert any("large" in b for b in ran_out.buttons) and not any("medium" in b for b in ran_out.buttons)
        await dave.press("large", ran_out)
        await dave.wait_for(lambda m: m.photo is not None)
        assert [r.kind for r in w.simulator.links.records] == ["dropoff"]


async def _status(root: str, url: str) -> int:
    async with httpx.AsyncClient(base_url=root) as client:
        return (await client.post("/_sim/open-link", json={"url": url})).status_code


async def test_the_return_page_trusts_nothing_it_is_given(database_url: str) -> None:
    async with link_world(database_url) as w:
        erin = w.user(305, "Erin")
        await erin.press("small", await to_sizes(erin))
        await erin.wait_for(lambda m: m.photo is not None)
        [request] = w.simulator.links.records
        delivery = (await w.services.deliveries.open_deliveries(erin.id))[0]
        # A forged "success" for a locker nobody opened changes nothing, and unknown ids are just a page.
        async with httpx.AsyncClient() as client:
            base = request.return_url
            forged = await client.get(base, params={"status": "success", "locker_id": delivery.locker_id})
            unknown = await client.get(base.rsplit("/", 1)[0] + "/99999999999999999999999")
        assert forged.status_code == unknown.status_code == 200
        assert "go back to Telegram" in forged.text and "t.me/harbor_test_bot" in forged.text
        await w.tick()
        still = await w.services.deliveries.get(delivery.id)
        assert still.state is DeliveryState.AWAITING_DROPOFF
        assert harbor_status(w, delivery.locker_id) == "rented"
