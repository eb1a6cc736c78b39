"""Handing the pickup over through a one-time link: sender -> link -> recipient -> key -> tower -> done."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from storage.models import DeliveryState
from tests.flows.harness import BOT_USERNAME, World
from tests.flows.steps import (
    LINK,
    expire_links,
    get_pickup_key,
    harbor_token_for,
    item_in_locker,
    pickup_tokens,
    share_link,
)


async def test_link_recipient_collects_and_both_are_told(w: World) -> None:
    alice = w.user(101, "Alice", username="alice")
    bob = w.user(202, "Bob", username="bob")
    delivery_id, inside = await item_in_locker(w, alice)
    labels = " | ".join(inside.buttons).lower()
    assert "pickup link" in labels and "myself" in labels and "courier" in labels

    url, _ = await share_link(alice, inside)
    assert url.startswith(f"https://t.me/{BOT_USERNAME}?start=")
    code = LINK.search(url).group(1)  # type: ignore[union-attr]
    assert len(code) >= 22  # 128 random bits in base64url need 22 characters
    link = await w.services.repo.live_links(delivery_id, now=w.services.deliveries.now())
    assert len(link) == 1 and code not in link[0].code_hash  # only a hash is kept
    assert timedelta(days=6, hours=23) < link[0].expires_at - w.services.deliveries.now() <= timedelta(days=7)

    await bob.open_link(url)
    waiting = await bob.wait_for("waiting for you")
    # One message: where, until when, the key button and the way there.
    assert "Civic Center" in waiting.content and "McAllister" in waiting.content
    assert any(b.url and "destination=37.78" in b.url for row in waiting.inline_buttons for b in row)
    delivery = await w.services.deliveries.get(delivery_id)
    assert f"locker {delivery.locker_name}" in waiting.content.lower()
    assert "small" in waiting.content and "24 h" in waiting.content.replace("hours", "h")
    assert any("key" in b.lower() for b in waiting.buttons)
    told = await alice.wait_for("opened your pickup link")
    assert "Bob" in told.content

    key = await get_pickup_key(w, bob, waiting)
    token = harbor_token_for(w, key)
    assert token["kind"] == "pickup" and token["state"] == "live" and token["locker_id"] == delivery.locker_id
    assert datetime.fromisoformat(token["expires"]) - datetime.fromisoformat(token["created"]) == timedelta(
        seconds=w.settings.pickup_key_seconds  # short: Harbor cannot revoke it if the sender changes her mind
    )
    assert key.sdk_token and len(pickup_tokens(w)) == 1
    assert not [m for m in alice.bot_messages if m.photo and "pickup" in (m.caption or "").lower()]

    used = await w.use_at_tower(key)
    assert used.status_code == 200, used.text
    alice.mark()
    bob.mark()
    await w.watch()
    done = await alice.wait_for("is complete")
    assert f"#{delivery_id}" in done.content
    await bob.wait_for("collected from locker")
    assert (await w.services.deliveries.get(delivery_id)).state is DeliveryState.COMPLETED


REFUSAL = "this link doesn't work"


async def _refusal(w: World, who_id: int, name: str, url_or_code: str) -> str:
    """What a person sees after opening a link; asserts they learn nothing else."""
    person = w.user(who_id, name)
    if url_or_code.startswith("https://"):
        await person.open_link(url_or_code)
    else:
        await person.open_deep_link(url_or_code)
    answer = await person.wait_for(REFUSAL)
    later = [m for m in person.bot_messages if m.message_id >= answer.message_id]
    assert len(later) == 1 and not answer.buttons, [m.describe() for m in later]
    assert not [m for m in person.bot_messages if m.venue or m.photo]
    return answer.content or ""


async def test_every_dead_link_gets_the_same_polite_refusal(w: World) -> None:
    alice = w.user(101, "Alice", username="alice")
    delivery_id, inside = await item_in_locker(w, alice)
    delivery = await w.services.deliveries.get(delivery_id)

    revoked, made = await share_link(alice, inside)
    await alice.press("revoke", made)
    await alice.wait_for("no longer works")
    replaced, _ = await share_link(alice, inside)  # re-issued: a new link; the revoked one stays dead
    assert replaced != revoked
    stale, _ = await share_link(alice, inside)  # a second new link kills the first unclaimed one
    assert stale != replaced

    answers = {
        "revoked": await _refusal(w, 301, "Rita", revoked),
        "replaced": await _refusal(w, 302, "Reza", replaced),
        "made up": await _refusal(w, 303, "Mo", "x" * 43),
        "too short": await _refusal(w, 304, "Sid", "abc"),
    }

    bob = w.user(202, "Bob")
    await bob.open_link(stale)
    waiting = await bob.wait_for("waiting for you")
    answers["used"] = await _refusal(w, 305, "Una", stale)  # single use: the second opener is refused
    await bob.open_link(stale)  # even the claimer cannot claim it twice
    answers["reused by claimer"] = (await bob.wait_for(REFUSAL)).content or ""

    # An expired link: the sender makes one more, and its expiry is moved into the past.
    expired, _ = await share_link(alice)
    await expire_links(w, delivery_id)
    answers["expired"] = await _refusal(w, 306, "Eve", expired)

    # A live link of a delivery that then completes.
    late, _ = await share_link(alice)
    key = await get_pickup_key(w, bob, waiting)
    assert (await w.use_at_tower(key)).status_code == 200
    await w.watch()
    await alice.wait_for("is complete")
    answers["completed delivery"] = await _refusal(w, 307, "Cy", late)

    assert len(set(answers.values())) == 1, answers
    text = answers["used"]
    for secret in (delivery.locker_name, "Civic", "Alice", "Bob", str(delivery_id)):
        assert secret not in text
    assert (await w.services.deliveries.get(delivery_id)).collector_id == bob.id
    assert len(pickup_tokens(w)) == 1


async def test_two_people_opening_one_link_at_once_one_becomes_recipient(w: World) -> None:
    alice = w.user(101, "Alice")
    bob, carol = w.user(202, "Bob"), w.user(203, "Carol")
    delivery_id, inside = await item_in_locker(w, alice)
    url, _ = await share_link(alice, inside)
    await asyncio.gather(bob.open_link(url), carol.open_link(url))
    outcomes = await asyncio.gather(
        bob.wait_for(lambda m: "waiting for you" in (m.content or "") or REFUSAL in (m.content or "")),
        carol.wait_for(lambda m: "waiting for you" in (m.content or "") or REFUSAL in (m.content or "")),
    )
    winners = [o for o in outcomes if "waiting for you" in (o.content or "")]
    assert len(winners) == 1
    winner = bob if winners[0] is outcomes[0] else carol
    await alice.wait_for("opened your pickup link")
    claimed = [m for m in alice.bot_messages if "opened your pickup link" in (m.content or "")]
    assert len(claimed) == 1 and winner.first_name in claimed[0].content
    assert (await w.services.deliveries.get(delivery_id)).collector_id == winner.id


async def test_sender_opening_own_link_claims_nothing(w: World) -> None:
    alice = w.user(101, "Alice")
    delivery_id, inside = await item_in_locker(w, alice)
    url, _ = await share_link(alice, inside)
    await alice.open_link(url)
    await alice.wait_for("your own pickup link")
    bob = w.user(202, "Bob")
    await bob.open_link(url)  # still unclaimed: the first other person gets it
    await bob.wait_for("waiting for you")
    assert (await w.services.deliveries.get(delivery_id)).collector_id == bob.id
