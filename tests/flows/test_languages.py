"""Each person reads their own language: a Spanish-speaking sender and an English-speaking recipient on
one delivery (including the reminder the timer sends), /language overriding Telegram's language, and
the command menus per language."""

from __future__ import annotations

from datetime import timedelta

from sandbox.telegram_driver import ChatMessage, UserDriver
from tests.flows.harness import ADMIN_ID, SF, World, decode_key
from tests.flows.steps import LINK, get_pickup_key, repository, settled

# Words only the English texts have, and only the Spanish ones: a message must not mix them.
ENGLISH = ("locker ", "pickup", "waiting for you", "Reminder")
SPANISH = ("casillero", "recogida", "artículo", "Recordatorio")


def reads_only_spanish(message: ChatMessage) -> None:
    text = (message.content or "") + " ".join(message.buttons)
    assert not [w for w in ENGLISH if w in text], text


def reads_only_english(message: ChatMessage) -> None:
    text = (message.content or "") + " ".join(message.buttons)
    assert not [w for w in SPANISH if w in text], text


async def spanish_drop_off(w: World, sender: UserDriver) -> tuple[int, ChatMessage]:
    """item_in_locker() for a sender whose Telegram speaks Spanish, asserting what they read on the way."""
    await sender.command("dropoff")
    reads_only_spanish(await sender.wait_for("¿Dónde estás?"))
    await sender.share_location(*SF)
    nearby = await sender.wait_for("casilleros libres a menos de 5 km")
    assert "Toca una ubicación para elegir el tamaño." in (nearby.content or "")
    await sender.press("Civic Center")
    await sender.wait_for("¿Qué tamaño de casillero necesitas?")
    await sender.press("pequeño")  # issue 17: sizes in her language
    held = await sender.wait_for("está reservado para ti")
    assert "La reserva termina a las" in (held.content or "") and "Obtener llave de entrega" in " ".join(held.buttons)
    reads_only_spanish(held)
    await sender.press("llave de entrega", held)
    photo = await sender.wait_for(lambda m: m.photo is not None)
    assert "Llave de entrega" in (photo.caption or "") and "Válida hasta" in (photo.caption or "")
    assert (await w.use_at_tower(decode_key(photo))).status_code == 200
    await w.watch()
    inside = await sender.wait_for("Tu artículo está en el casillero")
    assert "¿Quién lo recoge?" in (inside.content or "")
    reads_only_spanish(inside)
    delivery = (await w.services.deliveries.open_deliveries(sender.id))[0]
    return delivery.id, inside


async def test_a_spanish_sender_and_an_english_recipient_each_read_their_own(w: World) -> None:
    sofia, bob = w.user(101, "Sofía", lang="es"), w.user(202, "Bob", lang="en")
    delivery_id, inside = await spanish_drop_off(w, sofia)

    await sofia.press("enlace de recogida", inside)
    made = await sofia.wait_for(LINK)
    assert "Envía este enlace de un solo uso" in (made.content or "")
    found = LINK.search(made.content or "")
    assert found is not None

    # Bob opens it: everything he reads is English, and what Sofía hears of it (sent to her by the
    # outbox while Bob acts) is Spanish.
    await bob.open_link(found.group(0))
    waiting = await bob.wait_for("An item is waiting for you")
    assert "Please collect it within 24 hours." in (waiting.content or "")
    assert "Get pickup key" in " ".join(waiting.buttons)
    reads_only_english(waiting)
    claimed = await sofia.wait_for("abrió tu enlace de recogida")
    assert "Bob" in (claimed.content or "")
    reads_only_spanish(claimed)

    # A day passes with the bot down; the reminder timer fires when it is back: each in their language.
    due = (await w.services.deliveries.get(delivery_id)).reminder_due_at
    await w.stop()
    async with repository(w) as repo:
        await repo.update_delivery(delivery_id, reminder_due_at=due - timedelta(hours=24, seconds=1))
    sofia.mark()
    bob.mark()
    await w.start()
    reminded = await bob.wait_for("Reminder: an item is still waiting for you")
    reads_only_english(reminded)
    told = await sofia.wait_for("todavía no se ha recogido")
    reads_only_spanish(told)

    key = await get_pickup_key(w, bob, reminded)
    assert (await w.use_at_tower(key)).status_code == 200
    await w.watch()
    reads_only_english(await bob.wait_for("Collected from locker"))
    done = await sofia.wait_for(f"La entrega #{delivery_id} está completa")
    reads_only_spanish(done)


async def test_language_command_wins_over_telegram_and_reaches_notices_and_the_menu(w: World) -> None:
    carol = w.user(303, "Carol", username="carol", lang="en")
    await carol.command("start")
    await carol.wait_for("What would you like to do?")

    await carol.command("language")
    choice = await carol.wait_for("Which language should I use?")
    assert choice.buttons == ["English", "Español"]
    await carol.press("Español", choice)
    await carol.wait_for("a partir de ahora te escribo en español")

    # Her Telegram still says English on every update; the stored choice wins.
    await carol.command("help")
    helped = await carol.wait_for("Cómo funciona")
    assert "te guardo un casillero durante 5 minutos" in (helped.content or "")
    await settled(w)
    bot = w.emulator.bot()
    assert {c["command"]: c["description"] for c in bot.commands_for("chat", chat_id=carol.id)}["dropoff"] == (
        "Dejar un artículo en un casillero cercano"
    )

    # A message caused by someone else (the admin) reaches her in her chosen language too.
    ada = w.user(ADMIN_ID, "Ada", username="ada")
    await ada.command("courier", "add @carol")
    await ada.wait_for("is now a courier")
    await carol.wait_for("Ahora eres repartidor de este servicio")

    # And back, with the short form.
    await carol.command("language", "en")
    await carol.wait_for("I'll write to you in English from now on")
    await carol.command("jobs")
    await carol.wait_for("You have no open pickups.")


async def test_menus_per_client_language(w: World) -> None:
    bot = w.emulator.bot()
    english = {c["command"]: c["description"] for c in bot.commands_for("default")}
    spanish = {c["command"]: c["description"] for c in bot.commands_for("default", "es")}
    assert english.keys() == spanish.keys() and "language" in english
    assert english["my"] == "Your open deliveries" and spanish["my"] == "Tus entregas abiertas"


async def test_each_persons_choice_comes_with_their_own_updates(w: World) -> None:
    """Issue 18: the choice is read with the update's claim, by its chat: never another person's."""
    people = [w.user(311 + i, f"P{i}", lang="en") for i in range(4)]
    for person in people:  # each has a row; only the second and the fourth choose Spanish
        await person.command("start")
        await person.wait_for("What would you like to do?")
    for person in people[1::2]:
        await person.command("language", "es")
        await person.wait_for("te escribo en español")
    for person in reversed(people):  # the Spanish ones' updates claimed beside the English ones'
        await person.command("help")
    for i, person in enumerate(people):
        await person.wait_for("Cómo funciona" if i % 2 else "How it works")
