"""Who may get a pickup key, and where; buttons in the wrong hands; keys that run out."""

from __future__ import annotations

from bot.ui import format as fmt
from sandbox.telegram_driver import ChatMessage, UserDriver
from storage.models import KeyKind, KeyState
from tests.flows.harness import World
from tests.flows.steps import (
    age_key,
    forward,
    get_pickup_key,
    harbor_token_for,
    item_in_locker,
    pickup_tokens,
    settled,
    share_link,
)
from tests.flows.test_handover_collect import make_courier

GROUP = -1001234567890

NOT_FOUND = "can't find that delivery"


async def claimed(w: World) -> tuple[UserDriver, UserDriver, int, ChatMessage, ChatMessage]:
    """Alice's item in a locker, claimed by Bob through a link: (alice, bob, id, her buttons, his message)."""
    alice, bob = w.user(101, "Alice"), w.user(202, "Bob")
    delivery_id, inside = await item_in_locker(w, alice)
    url, _ = await share_link(alice, inside)
    await bob.open_link(url)
    waiting = await bob.wait_for("waiting for you")
    return alice, bob, delivery_id, inside, waiting


async def test_a_stranger_pressing_a_forwarded_key_button_gets_nothing(w: World) -> None:
    _, bob, delivery_id, inside, waiting = await claimed(w)
    mallory = w.user(666, "Mallory")
    copy = forward(w, waiting, mallory)
    await mallory.press("pickup key", copy)
    refused = await mallory.wait_for(NOT_FOUND)
    assert not refused.buttons
    await settled(w)
    assert not [m for m in mallory.bot_messages if m.photo or m.venue]
    assert not pickup_tokens(w)
    delivery = await w.services.deliveries.get(delivery_id)
    assert delivery.locker_name not in (refused.content or "") and "Civic" not in (refused.content or "")

    # The same for the sender's handover buttons: no link, no courier names, no collector change.
    await make_courier(w, 401, "Carl", "carl")
    for label in ("pickup link", "myself", "courier"):
        mallory.mark()
        await mallory.press(label, forward(w, inside, mallory))
        await mallory.wait_for(NOT_FOUND)
    await settled(w)
    assert not [m for m in mallory.bot_messages if "t.me/" in (m.content or "") or "Carl" in str(m.buttons)]
    assert (await w.services.deliveries.get(delivery_id)).collector_id == bob.id
    assert not (await w.services.repo.live_links(delivery_id, now=w.services.deliveries.now()))


async def test_keys_only_in_a_private_chat(w: World) -> None:
    alice, bob, delivery_id, _, waiting = await claimed(w)
    in_group = forward(w, waiting, bob, group_id=GROUP)
    answer = await bob.press("pickup key", in_group, chat_id=GROUP)
    assert answer is not None and answer.show_alert and "private chat" in (answer.text or "")
    mallory = w.user(666, "Mallory")
    answer = await mallory.press("pickup key", in_group, chat_id=GROUP)
    assert answer is not None and answer.show_alert and "private chat" in (answer.text or "")
    await settled(w)
    assert not pickup_tokens(w)
    assert not [m for m in bob.messages(GROUP) if m.from_bot and m.message_id != in_group.message_id]

    # In his own chat Bob gets it; so may the sender, in hers.
    key = await get_pickup_key(w, bob, waiting)
    assert harbor_token_for(w, key)["kind"] == "pickup"
    await alice.command("my")
    mine = await alice.wait_for(f"#{delivery_id}")
    alice_key = await get_pickup_key(w, alice, mine)
    assert alice_key.payload != key.payload and len(pickup_tokens(w)) == 2


async def test_a_courier_taken_off_the_job_gets_no_key(w: World) -> None:
    carl = await make_courier(w, 401, "Carl", "carl")
    alice = w.user(101, "Alice")
    delivery_id, inside = await item_in_locker(w, alice)
    await alice.press("courier", inside)
    await alice.press("Carl", await alice.wait_for("which courier"))
    job = await carl.wait_for("waiting for you")
    await get_pickup_key(w, carl, job)  # Carl already holds a key when the sender changes her mind

    # Harbor cannot revoke Carl's token: Alice hears until when it works and chooses; waiting changes nothing.
    await alice.press("myself", inside)
    asked = await alice.wait_for("holds a pickup key")
    [carl_key] = await w.services.repo.keys_of(delivery_id, kind=KeyKind.PICKUP)
    until = fmt.local_time(carl_key.expires_at, "America/Los_Angeles")
    assert f"works until {until}" in asked.content and "cannot withdraw" in asked.content
    await alice.press("wait", asked)
    await alice.wait_for(f"After {until}, choose again")
    await settled(w)
    assert (await w.services.deliveries.get(delivery_id)).collector_id == carl.id
    assert not [m for m in carl.bot_messages if "no longer yours" in (m.content or "")]

    await alice.press("myself", inside)
    await alice.press("Hand it over now", await alice.wait_for("holds a pickup key"))
    await alice.wait_for("pick it up yourself")
    dropped = await carl.wait_for("no longer yours to collect")
    # The wording is true: the key is gone from his chat but would still open the locker until it expires.
    assert f"still open the locker until {until}" in dropped.content and "void" not in dropped.content
    assert not [m for m in carl.bot_messages if m.photo]  # his key's QR is gone
    [record] = await w.services.repo.keys_of(delivery_id, kind=KeyKind.PICKUP)
    assert record.state is KeyState.VOID
    await carl.press("pickup key", job)
    await carl.wait_for(NOT_FOUND)
    await settled(w)
    assert len(pickup_tokens(w)) == 1
    await carl.command("jobs")
    await carl.wait_for("no open pickups")

    # The sender herself is never dropped: handing over to a link's claimer leaves her able to collect.
    url, _ = await share_link(alice, inside)
    bob = w.user(202, "Bob")
    await bob.open_link(url)
    await bob.wait_for("waiting for you")
    await settled(w)
    assert not [m for m in alice.bot_messages if "no longer yours" in (m.content or "")]


async def test_an_expired_pickup_key_is_replaced_on_request(w: World) -> None:
    _, bob, delivery_id, _, waiting = await claimed(w)
    first = await get_pickup_key(w, bob, waiting)
    [record] = await w.services.repo.keys_of(delivery_id, kind=KeyKind.PICKUP)
    await age_key(w, record.id)
    await w.deadlines()  # as the scheduler does every tick
    note = await bob.wait_for("expired unused")
    assert not [m for m in bob.bot_messages if m.photo and "pickup" in (m.caption or "").lower()]  # QR removed
    assert (await w.services.repo.get_key(record.id)).state is KeyState.EXPIRED
    second = await get_pickup_key(w, bob, note)
    assert second.payload != first.payload and len(pickup_tokens(w)) == 2
    assert (await w.use_at_tower(second)).status_code == 200
    await w.watch()
    await bob.wait_for("thank you")
