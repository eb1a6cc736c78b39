""" "It didn't fit": one tap gives the empty locker back and hands over a key to the next size up."""

from __future__ import annotations

from sqlmodel import Session, select

from storage.models import DeliveryEvent, DeliveryState
from tests.flows.harness import World, decode_key
from tests.flows.steps import harbor_status, sync_engine, to_sizes
from tests.flows.test_links import link_world, open_button


def events(w: World, delivery_id: int) -> list[DeliveryEvent]:
    with Session(sync_engine(w)) as session:
        rows = session.exec(select(DeliveryEvent).where(DeliveryEvent.delivery_id == delivery_id))
        return sorted(rows, key=lambda e: e.id or 0)


async def test_from_medium_to_large_on_the_key_message(w: World) -> None:
    alice = w.user(401, "Alice")
    await alice.press("medium", await to_sizes(alice))
    held = await alice.wait_for("is held for you")
    await alice.press("key", held)
    first = await alice.wait_for(lambda m: m.photo is not None)
    old = decode_key(first)
    before = len(w.harbor_requests("POST", "/reservations"))

    await alice.press("didn't fit", first)
    moved = await alice.wait_for("was given back")
    second = await alice.wait_for(lambda m: m.photo is not None and m.message_id != first.message_id)
    new = decode_key(second)

    assert f"locker {old.locker_name} (medium)" in moved.content.lower()
    assert "(large)" in moved.content and "large" in second.caption
    assert new.locker_id != old.locker_id and new.kind == "dropoff"
    # One reservation made for the large locker, the medium one given back at Harbor.
    assert len(w.harbor_requests("POST", "/reservations")) == before + 1
    assert len(w.harbor_requests("POST", f"/lockers/{old.locker_id}/release-locker")) == 1
    assert harbor_status(w, old.locker_id) == "available"
    assert harbor_status(w, new.locker_id) == "rented"
    assert all(m.message_id != first.message_id for m in alice.chat)  # the old QR is gone
    delivery = (await w.services.deliveries.open_deliveries(alice.id))[0]
    assert (delivery.locker_id, delivery.size_name, delivery.state) == (
        new.locker_id,
        "large",
        DeliveryState.AWAITING_DROPOFF,
    )
    assert "didnt_fit" in [e.kind for e in events(w, delivery.id)]
    assert (await w.use_at_tower(old)).status_code != 200  # the old key opens nothing any more
    assert (await w.use_at_tower(new)).status_code == 200
    await w.watch()
    await alice.wait_for("is in locker")


async def test_after_the_door_closed_on_an_empty_locker_the_customer_confirms(database_url: str) -> None:
    async with link_world(database_url, with_return_page=False) as w:
        bob = w.user(402, "Bob")
        await bob.press("medium", await to_sizes(bob))
        key = await bob.wait_for(lambda m: m.photo is not None)
        await w.open_link(open_button(key))
        await w.watch()
        inside = await bob.wait_for("is in locker")
        delivery = (await w.services.deliveries.open_deliveries(bob.id))[0]
        assert harbor_status(w, delivery.locker_id) == "occupied"

        await bob.press("didn't fit", inside)
        ask = await bob.wait_for("occupied")
        assert harbor_status(w, delivery.locker_id) == "occupied"  # nothing given back before the answer
        await bob.press("yes, it's empty", ask)
        await bob.wait_for("was given back")
        fresh = await bob.wait_for(lambda m: m.photo is not None and m.message_id != key.message_id)
        assert "large" in fresh.caption

        assert harbor_status(w, delivery.locker_id) == "available"
        moved = await w.services.deliveries.get(delivery.id)
        assert moved.state is DeliveryState.AWAITING_DROPOFF and moved.size_name == "large"
        assert moved.locker_id == w.simulator.links.records[-1].locker_id != delivery.locker_id
        trail = events(w, delivery.id)
        confirmed = [e for e in trail if e.kind == "empty_confirmed"]
        assert len(confirmed) == 1 and confirmed[0].actor_id == bob.id and "occupied" in confirmed[0].detail
        await w.open_link(open_button(fresh))
        await w.watch()
        await bob.wait_for(lambda m: "is in locker" in (m.content or "") and m.message_id != inside.message_id)
