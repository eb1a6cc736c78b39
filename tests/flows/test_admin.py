"""Admin commands: the scoped menu, every command, a release in the middle of a delivery, and refusals."""

from __future__ import annotations

import html
import re

from bot.ui.texts import t
from sandbox.harbor import DEFAULT_CLIENTS
from sandbox.telegram_driver import UserDriver
from storage.models import DeliveryState
from tests.flows.harness import ADMIN_ID, World
from tests.flows.steps import forward, get_pickup_key, item_in_locker, settled, share_link

ME = next(iter(DEFAULT_CLIENTS))  # the bot's Harbor client id
ORPHAN, ORPHAN_TOWER = 1020, "010000000000001a"
ADMIN_COMMANDS = ("lockers", "deliveries", "delivery", "release", "courier", "couriers", "stats")
ONLY_ADMINS = html.unescape(t("admin.only"))


async def admin_of(w: World) -> UserDriver:
    ada = w.user(ADMIN_ID, "Ada", username="ada")
    await ada.command("start")
    await ada.wait_for("what would you like")
    return ada


def menu(w: World, chat_id: int | None = None) -> list[str]:
    bot = w.emulator.bot()
    if chat_id is None:
        return [c["command"] for c in bot.commands_for("default")]
    return [c["command"] for c in bot.commands_for("chat", chat_id=chat_id)]


async def test_admin_menu_is_scoped_to_the_admin_and_set_once_they_start(w: World) -> None:
    assert "dropoff" in menu(w) and not set(ADMIN_COMMANDS) & set(menu(w))
    assert menu(w, ADMIN_ID) == []  # no chat with the admin yet: Telegram has nothing to scope to

    await admin_of(w)
    await settled(w)
    assert set(ADMIN_COMMANDS) <= set(menu(w, ADMIN_ID)) and "dropoff" in menu(w, ADMIN_ID)

    alice = w.user(101, "Alice")
    await alice.command("start")
    await alice.wait_for("what would you like")
    await settled(w)
    assert menu(w, alice.id) == []

    await w.restart()  # at start-up the admin's chat exists now, and the menu is set again
    assert set(ADMIN_COMMANDS) <= set(menu(w, ADMIN_ID))


async def test_non_admins_get_one_sentence_and_no_data(w: World) -> None:
    alice = w.user(101, "Alice", username="alice")
    delivery_id, _ = await item_in_locker(w, alice)
    mallory = w.user(666, "Mallory", username="mallory")
    for command, args in [
        ("lockers", ""), ("deliveries", ""), ("deliveries", "in_locker"), ("delivery", str(delivery_id)),
        ("release", str(delivery_id)), ("courier", "add @mallory"), ("courier", "remove @alice"),
        ("couriers", ""), ("stats", ""),
    ]:  # fmt: skip
        await mallory.command(command, args)
        answer = await mallory.next_reply()
        assert answer.content == ONLY_ADMINS, (command, answer.describe())
        await settled(w)
        later = [m for m in mallory.bot_messages if m.message_id > answer.message_id]
        assert not later, (command, [m.describe() for m in later])
    # In a group, too.
    await mallory.command("lockers", chat_id=-1009999, mention=True)
    answer = await mallory.next_reply(chat_id=-1009999)
    assert answer.content == ONLY_ADMINS
    assert (await w.services.deliveries.get(delivery_id)).state is DeliveryState.IN_LOCKER
    assert w.simulator.holder((await w.services.deliveries.get(delivery_id)).locker_id) == ME
    assert (await w.services.handover.couriers()) == []


async def test_lockers_flags_orphans_and_releases_them(w: World) -> None:
    ada = await admin_of(w)
    alice = w.user(101, "Alice")
    delivery_id, _ = await item_in_locker(w, alice)
    delivery = await w.services.deliveries.get(delivery_id)
    w.simulator.set_locker_status(ORPHAN, "reserved", holder=ME)  # held by the service, no delivery

    await ada.command("lockers")
    listing = await ada.wait_for("lockers held at harbor")
    assert "Lockers held at Harbor: 2" in listing.content and "without an open delivery: 1" in listing.content
    assert f"delivery #{delivery_id}, in the locker" in listing.content
    assert "⚠️ 20 (large)" in listing.content and "no open delivery" in listing.content
    assert len(listing.buttons) == 1 and "Release 20" in listing.buttons[0]

    # A non-admin with a forwarded copy of the list cannot press its button.
    mallory = w.user(666, "Mallory")
    await mallory.press("Release 20", forward(w, listing, mallory))
    refused = await mallory.wait_for(ONLY_ADMINS)
    assert refused.content == ONLY_ADMINS
    # Nor forge the button's data: with arbitrary callback data the bot only knows buttons it made.
    bot = w.emulator.bot()
    chat = w.emulator.private_chat(bot, mallory.record)
    record = chat.messages[refused.message_id]
    forged = await w.emulator.press_callback(bot, mallory.record, record, f'["arel", "{ORPHAN_TOWER}", {ORPHAN}]')
    await forged.answered.wait()
    assert "no longer active" in (forged.answer or {}).get("text", "")
    await settled(w)
    assert w.simulator.holder(ORPHAN) == ME

    await ada.press("Release 20", listing)
    await ada.wait_for("was released at Harbor")
    assert w.simulator.locker(ORPHAN)["status"]["name"] == "available"
    assert w.simulator.holder(delivery.locker_id) == ME  # the delivery's locker is untouched
    await ada.command("lockers")
    again = await ada.wait_for("lockers held at harbor")
    assert "without an open delivery: 0" in again.content and not again.buttons


async def test_deliveries_and_one_delivery_with_its_history(w: World) -> None:
    ada = await admin_of(w)
    await ada.command("deliveries")
    await ada.wait_for("no deliveries yet")
    alice, bob = w.user(101, "Alice", username="alice"), w.user(202, "Bob")
    delivery_id, inside = await item_in_locker(w, alice)
    url, _ = await share_link(alice, inside)
    await bob.open_link(url)
    await bob.wait_for("waiting for you")

    await ada.command("deliveries")
    listing = await ada.wait_for("Deliveries")
    assert f"#{delivery_id} in the locker" in listing.content and "Alice (@alice) [101]" in listing.content
    await ada.command("deliveries", "in_locker")
    assert f"#{delivery_id}" in (await ada.wait_for("in state in the locker")).content
    await ada.command("deliveries", "in the locker")  # the words work as well as the code name
    assert f"#{delivery_id}" in (await ada.wait_for("in state in the locker")).content
    await ada.command("deliveries", "completed")
    await ada.wait_for("no deliveries in state completed")
    await ada.command("deliveries", "lost")
    nobody = await ada.wait_for("Nobody whose name contains")
    assert "in the locker" in nobody.content and "@username" in nobody.content  # how to ask

    await ada.command("delivery", str(delivery_id))
    card = await ada.wait_for(f"Delivery #{delivery_id}")
    assert "· in the locker" in card.content and "Collector: Bob [202] (recipient)" in card.content
    events = card.content[card.content.index("Events") :]
    order = ["created", "reserved", "dropoff_key_issued", "in_locker", "link_created", "collector_recipient"]
    positions = [events.index(kind) for kind in order]
    assert positions == sorted(positions), events
    await ada.command("delivery", "999")
    await ada.wait_for("There is no delivery #999")
    await ada.command("delivery")
    await ada.wait_for("Usage: /delivery")

    # Not in a group, where everyone would read it.
    await ada.command("deliveries", chat_id=-1007777, mention=True)
    answer = await ada.next_reply(chat_id=-1007777)
    assert "only in a private chat" in answer.content and "Civic" not in answer.content


async def test_release_in_the_middle_of_a_delivery(w: World) -> None:
    ada = await admin_of(w)
    alice, bob = w.user(101, "Alice"), w.user(202, "Bob")
    delivery_id, inside = await item_in_locker(w, alice)
    url, _ = await share_link(alice, inside)
    await bob.open_link(url)
    waiting = await bob.wait_for("waiting for you")
    key = await get_pickup_key(w, bob, waiting)
    locker_id = (await w.services.deliveries.get(delivery_id)).locker_id

    alice.mark()
    bob.mark()
    await ada.command("release", str(delivery_id))
    question = await ada.wait_for("Release it?")  # an item is inside: the admin confirms first
    assert w.simulator.holder(locker_id) == ME
    await ada.press("Yes, release", question)
    done = await ada.wait_for("is closed as")
    assert "released" in done.content and "could not message" not in done.content
    told = [await alice.wait_for("has released locker"), await bob.wait_for("has released locker")]
    assert not any(m.edited for m in told)  # new messages: an edit would make no sound
    assert not [m for m in bob.bot_messages if m.photo]  # the dead key's QR is gone
    assert (await w.services.deliveries.get(delivery_id)).state is DeliveryState.RELEASED
    assert w.simulator.locker(locker_id)["status"]["name"] == "available" and w.simulator.holder(locker_id) is None
    assert (await w.use_at_tower(key)).status_code != 200

    await bob.press("pickup key", waiting)
    await bob.wait_for("no longer possible")
    await ada.command("release", str(delivery_id))
    await ada.wait_for("is already released")
    await ada.command("delivery", str(delivery_id))
    assert "released_by_admin" in (await ada.wait_for(f"Delivery #{delivery_id}")).content
    await ada.command("release", "abc")
    await ada.wait_for("Usage: /release")


async def test_couriers_add_list_remove(w: World) -> None:
    ada = await admin_of(w)
    await ada.command("couriers")
    await ada.wait_for("no couriers yet")
    await ada.command("courier", "add @carl")
    await ada.wait_for("I don't know @carl")
    carl = w.user(401, "Carl", username="carl")
    await carl.command("start")
    await carl.wait_for("what would you like")

    await ada.command("courier", "add @Carl")
    await ada.wait_for("Carl (@carl) is now a courier")
    await carl.wait_for("you are now a courier")
    await ada.command("courier", "add 401")
    await ada.wait_for("is already a courier")
    await ada.command("couriers")
    listing = await ada.wait_for("Couriers")
    assert "Carl (@carl)" in listing.content and "401" in listing.content
    await ada.command("courier", "remove 401")
    await ada.wait_for("is no longer a courier")
    await carl.wait_for("no longer a courier")
    await ada.command("couriers")
    await ada.wait_for("no couriers yet")
    await ada.command("courier", "fire carl")
    await ada.wait_for("Usage: /courier")


async def test_stats(w: World) -> None:
    ada = await admin_of(w)
    await ada.command("stats")
    empty = await ada.wait_for("Stats")
    assert "no deliveries in the last 7 days" in empty.content and "Lockers held at Harbor now: 0" in empty.content

    alice = w.user(101, "Alice")
    _, inside = await item_in_locker(w, alice)
    await alice.press("myself", inside)
    key = await get_pickup_key(w, alice, await alice.wait_for("waiting for you"))
    assert (await w.use_at_tower(key)).status_code == 200
    await w.watch()
    await alice.wait_for("is complete")
    w.simulator.set_locker_status(ORPHAN, "reserved", holder=ME)

    await ada.command("stats")
    stats = await ada.wait_for("Stats")
    assert "completed: 1 · 1" in stats.content and "total: 1 · 1" in stats.content
    assert "(1 pickup)" in stats.content and "Lockers held at Harbor now: 1" in stats.content


async def test_deliveries_by_person_and_by_locker(w: World) -> None:
    ada = await admin_of(w)
    alice, bob = w.user(101, "Alice", username="alice"), w.user(202, "Bob")
    bob.record.last_name = "Root"  # the bot stores the name from Bob's next message
    carol = w.user(303, "Carol", username="carol")
    alices, inside = await item_in_locker(w, alice)
    url, _ = await share_link(alice, inside)
    await bob.open_link(url)
    await bob.wait_for("waiting for you")
    carols, _ = await item_in_locker(w, carol)
    delivery = await w.services.deliveries.get(alices)
    alices_locker, tower = delivery.locker_name, delivery.tower_id
    assert tower is not None

    def ids(text: str | None) -> set[int]:
        return {int(n) for n in re.findall(r"#(\d+) ", text or "")}

    await ada.command("deliveries", "@Alice")  # any case
    found = await ada.wait_for("Deliveries of Alice (@alice) [101]")
    assert ids(found.content) == {alices}
    await ada.command("deliveries", "202")  # the collector finds it too, by Telegram id
    assert ids((await ada.wait_for("Deliveries of Bob Root [202]")).content) == {alices}
    await ada.command("deliveries", "root")  # part of a name: "Root" was the operator's complaint
    by_name = await ada.wait_for("whose name contains")
    assert ids(by_name.content) == {alices} and "Bob Root [202]" in by_name.content
    await ada.command("deliveries", f"locker {alices_locker}")
    assert ids((await ada.wait_for(f"Deliveries in locker {alices_locker}")).content) == {alices}
    await ada.command("deliveries", f"locker {tower[:6].upper()}/{alices_locker}")
    assert ids((await ada.wait_for("Deliveries in locker")).content) == {alices}
    await ada.command("deliveries", f"locker ffff/{alices_locker}")
    await ada.wait_for("There are no deliveries in locker")
    await ada.command("deliveries", "@nobody")
    await ada.wait_for("@nobody has no deliveries")
    await ada.command("deliveries")
    assert ids((await ada.wait_for("the latest 2")).content) == {alices, carols}


async def test_release_asks_first_with_an_item_inside_and_acts_only_on_yes(w: World) -> None:
    ada = await admin_of(w)
    alice = w.user(101, "Alice")
    delivery_id, _ = await item_in_locker(w, alice)
    locker_id = (await w.services.deliveries.get(delivery_id)).locker_id

    await ada.command("release", str(delivery_id))
    question = await ada.wait_for("Release it?")
    assert "in the locker" in question.content and question.buttons == [f"🔓 Yes, release #{delivery_id}", "Keep it"]
    await settled(w)
    assert (await w.services.deliveries.get(delivery_id)).state is DeliveryState.IN_LOCKER
    assert w.simulator.holder(locker_id) == ME

    await ada.press("Keep it", question)
    await ada.wait_for(f"Nothing was released: delivery #{delivery_id} stays in the locker")
    assert not (await ada.wait_for(lambda m: m.message_id == question.message_id)).buttons  # answered
    assert (await w.services.deliveries.get(delivery_id)).state is DeliveryState.IN_LOCKER

    # A stale yes (asked while "reserved", say) or a forged one does nothing but ask again.
    bot = w.emulator.bot()
    record = w.emulator.private_chat(bot, ada.record).messages[question.message_id]
    ada.mark()
    stale = await w.emulator.press_callback(bot, ada.record, record, f"arelok:{delivery_id}:reserved")
    await stale.answered.wait()
    again = await ada.wait_for("changed since you were asked")
    assert "Release it?" in again.content
    for data in (f"arelok:{delivery_id}:bogus", f'["arelok", {delivery_id}]', "arelok:999:in_locker"):
        forged = await w.emulator.press_callback(bot, ada.record, record, data)
        await forged.answered.wait()
    await settled(w)
    assert (await w.services.deliveries.get(delivery_id)).state is DeliveryState.IN_LOCKER
    assert w.simulator.holder(locker_id) == ME

    await ada.press("Yes, release", again)
    await ada.wait_for("is closed as released")
    assert (await w.services.deliveries.get(delivery_id)).state is DeliveryState.RELEASED
    assert w.simulator.holder(locker_id) is None
    assert not (await ada.wait_for(lambda m: m.message_id == again.message_id)).buttons
    # A second tap that raced the first (its data is the same): nothing is released twice.
    ada.mark()
    await w.emulator.press_callback(bot, ada.record, record, f"arelok:{delivery_id}:in_locker")
    await ada.wait_for("is already released")


async def test_admins_read_states_in_their_language(w: World) -> None:
    ada = w.user(ADMIN_ID, "Ada", lang="es")
    await ada.command("start")
    await ada.next_reply()
    alice = w.user(101, "Alice")
    delivery_id, _ = await item_in_locker(w, alice)
    await ada.command("deliveries")
    assert f"#{delivery_id} en el casillero" in (await ada.wait_for("Entregas")).content
    await ada.command("deliveries", "en el casillero")
    assert f"#{delivery_id}" in (await ada.wait_for("en el estado en el casillero")).content
    await ada.command("delivery", str(delivery_id))
    assert "· en el casillero" in (await ada.wait_for(f"Entrega #{delivery_id}")).content
    await ada.command("stats")
    stats = await ada.wait_for("en el casillero: 1")
    assert "in_locker" not in stats.content
    await ada.command("release", str(delivery_id))
    assert (await ada.wait_for("¿Lo libero?")).buttons == [f"🔓 Sí, liberar #{delivery_id}", "Mejor no"]
