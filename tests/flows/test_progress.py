"""How a person sees that the bot is working: "finding location…" only when an answer to a message is
slow; for a pressed button, the progress bar Telegram clients show until the callback is answered."""

from __future__ import annotations

from tests.flows.harness import SF, World
from tests.flows.steps import reserve

SLOW = 1.4  # longer than the bot's one second before it shows a chat action; within its Harbor timeouts


def calls(w: World, method: str) -> list[float]:
    return [c.at for c in w.emulator.calls if c.method == method]


async def test_a_slow_search_shows_finding_location_a_quick_one_shows_nothing(w: World) -> None:
    alice = w.user(101, "Alice")
    await alice.command("dropoff")
    await alice.wait_for("where are you")
    await alice.share_location(*SF)
    await alice.wait_for("free lockers within")
    assert alice.chat_actions == []  # answered at once: a chat action would only be one more call

    w.simulator.add_fault(method="GET", path=r"/locations/in-area", stall=SLOW)
    await alice.command("dropoff")
    await alice.wait_for("where are you")
    await alice.share_location(*SF)
    nearby = await alice.wait_for("free lockers within")
    assert alice.chat_actions == ["find_location"]
    assert "Civic Center" in nearby.buttons[0]


async def test_a_slow_key_keeps_the_buttons_progress_bar_until_the_key_is_sent(w: World) -> None:
    alice = w.user(101, "Alice")
    held = await reserve(alice)
    w.simulator.add_fault(method="POST", path=r"/dropoff-locker-tokens$", stall=SLOW, stall_after=True)
    pressed = len(calls(w, "answerCallbackQuery"))
    await alice.press("key", held)
    await alice.wait_for(lambda m: m.photo is not None)

    assert alice.chat_actions == []
    [photo_at] = calls(w, "sendPhoto")
    answered = calls(w, "answerCallbackQuery")[pressed:]
    assert answered and min(answered) >= photo_at  # the bar stopped once the key was out, not before


async def test_a_slow_location_keeps_the_progress_bar_until_its_sizes_are_shown(w: World) -> None:
    alice = w.user(101, "Alice")
    await alice.command("dropoff")
    await alice.wait_for("where are you")
    await alice.share_location(*SF)
    nearby = await alice.wait_for("free lockers within")
    w.simulator.add_fault(method="GET", path=r"/locations/101/", stall=SLOW)
    edits, answers = len(calls(w, "editMessageText")), len(calls(w, "answerCallbackQuery"))
    await alice.press("Civic Center", nearby)
    await alice.wait_for("which locker size")

    assert alice.chat_actions == []
    [sizes_at] = calls(w, "editMessageText")[edits:]
    [answered_at] = calls(w, "answerCallbackQuery")[answers:]
    assert answered_at >= sizes_at
