"""When the outside world misbehaves: Harbor down or slow at each call of the drop-off, a POST whose
answer was lost after Harbor acted, Telegram rate limits; and what must never leak (keys in logs,
tracebacks in chat).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from sandbox.telegram_driver import ChatMessage, UserDriver
from storage.models import DeliveryState
from tests.flows.harness import SF, World, decode_key, world
from tests.flows.steps import reserve, to_sizes

# A Harbor client that gives up within half a second (the default retries GETs for 20 s).
# Short enough to keep the suite quick, long enough that a loaded CI machine (two test workers on two
# cores, coverage on) does not make a healthy Harbor look down; each stall outlasts both.
FAST_HARBOR = {"get_deadline": 1.5, "timeout": 1.0, "backoff_base": 0.05}
STALL = 1.6
HARBOR_DOWN = "not answering"


@pytest.fixture
async def fw(database_url: str) -> AsyncIterator[World]:
    async with world(database_url, harbor_options=FAST_HARBOR) as running:
        yield running


def held_by_bot(w: World) -> list[int]:
    return sorted(lk["id"] for lk in w.simulator.assigned_lockers(w.settings.harbor_client_id))


async def open_lockers(w: World) -> list[int]:
    """The lockers of the bot's open deliveries: Harbor should hold exactly these for the bot."""
    held = (DeliveryState.RESERVED, DeliveryState.AWAITING_DROPOFF, DeliveryState.IN_LOCKER)
    return sorted(d.locker_id for d in (await w.services.repo.deliveries_in(held)))


def no_tracebacks(*users: UserDriver) -> None:
    for user in users:
        for message in user.bot_messages:
            assert "Traceback" not in (message.content or ""), message.describe()


# Harbor down at each call ------------------------------------------------------------------------

# What Harbor fails at, and the call that fails there: (method, path regex).
OUTAGES = {
    "search": ("GET", r"/locations/in-area"),
    "location": ("GET", r"/locations/101/"),
    "reserve": ("POST", r"/reservations$"),
    "key": ("POST", r"/dropoff-locker-tokens$"),
    "cancel": ("DELETE", r"/reservations$"),
    "release": ("POST", r"/release-locker$"),
}


# Timeouts at one call of each kind the client retries differently: a GET, a POST, the DELETE.
CASES = [(step, "503") for step in OUTAGES] + [(step, "timeout") for step in ("search", "reserve", "cancel")]


@pytest.mark.parametrize(("step", "fault"), CASES)
async def test_harbor_outage_at_each_call_gets_a_retry_button(
    fw: World, step: str, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    w, alice = fw, fw.user(101, "Alice")
    method, path = OUTAGES[step]

    def harbor_fails() -> None:
        if fault == "503":
            w.simulator.add_fault(method=method, path=path, status=503, times=None)
        else:  # no answer before the client's deadline (and then a gateway timeout: Harbor never acted)
            w.simulator.add_fault(method=method, path=path, stall=STALL, status=504, times=None)

    async def outage_then_retry(act: object, success: str) -> ChatMessage:
        harbor_fails()
        await act  # type: ignore[misc]
        down = await alice.wait_for(HARBOR_DOWN)
        assert any("try again" in b.lower() for b in down.buttons), down.describe()
        w.simulator.clear_faults()
        await alice.press("try again", down)
        return await alice.wait_for(success)

    await alice.command("dropoff")
    await alice.wait_for("where are you")
    if step == "search":
        await outage_then_retry(alice.share_location(*SF), "free lockers within")
    else:
        await alice.share_location(*SF)
        await alice.wait_for("free lockers within")
    if step == "location":
        sizes = await outage_then_retry(alice.press("Civic Center"), "which locker size")
    else:
        await alice.press("Civic Center")
        sizes = await alice.wait_for("which locker size")
    if step == "reserve":
        held = await outage_then_retry(alice.press("small", sizes), "is held for you")
        assert len([r for r in w.harbor_requests("POST", "/reservations") if r.status == 200]) == 1
    else:
        await alice.press("small", sizes)
        held = await alice.wait_for("is held for you")
    assert held_by_bot(w) == (await open_lockers(w))

    if step == "key":
        photo = await outage_then_retry(alice.press("key", held), "drop-off key")
        assert (await w.use_at_tower(decode_key(photo))).status_code == 200
    elif step == "cancel":
        await outage_then_retry(alice.press("cancel", held), "cancelled")
    elif step == "release":
        await alice.press("key", held)
        photo = await alice.wait_for(lambda m: m.photo is not None)
        await outage_then_retry(alice.press("cancel", photo), "cancelled")
        assert (await w.use_at_tower(decode_key(photo))).status_code >= 400

    assert held_by_bot(w) == (await open_lockers(w))
    no_tracebacks(alice)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "an outage must not reach the error handler"


# A POST whose answer was lost after Harbor acted ---------------------------------------------------


async def test_a_reservation_whose_answer_was_lost_is_not_made_twice(fw: World) -> None:
    w, alice = fw, fw.user(101, "Alice")
    sizes = await to_sizes(alice)
    w.simulator.add_fault(method="POST", path=r"/reservations$", stall=STALL, stall_after=True)
    await alice.press("small", sizes)

    # Harbor reserved it, the bot never heard back, read Harbor's list and carried on.
    held = await alice.wait_for("is held for you")
    assert [r.status for r in w.harbor_requests("POST", "/reservations")] == [200]
    assert len(held_by_bot(w)) == 1 and held_by_bot(w) == (await open_lockers(w))
    delivery = await w.services.deliveries.open_dropoff(alice.id)
    assert f"Locker {delivery.locker_name}" in (held.content or "")


async def test_a_reservation_whose_outcome_cannot_be_read_leaves_no_locker_held(fw: World) -> None:
    w, alice = fw, fw.user(101, "Alice")
    sizes = await to_sizes(alice)
    w.simulator.add_fault(method="POST", path=r"/reservations$", stall=STALL, stall_after=True)
    w.simulator.add_fault(method="GET", path="assigned-lockers", status=503, times=None)
    await alice.press("small", sizes)

    down = await alice.wait_for(HARBOR_DOWN)
    assert held_by_bot(w) == (await open_lockers(w)) == []  # whatever Harbor did was given back
    w.simulator.clear_faults()
    await alice.press("try again", down)
    await alice.wait_for("is held for you")
    assert len(held_by_bot(w)) == 1 and held_by_bot(w) == (await open_lockers(w))


async def test_a_key_whose_answer_was_lost_is_replaced_and_nothing_stays_held(fw: World) -> None:
    w, alice = fw, fw.user(101, "Alice")
    held = await reserve(alice)
    w.simulator.add_fault(method="POST", path="dropoff-locker-tokens", stall=STALL, stall_after=True)
    await alice.press("key", held)
    down = await alice.wait_for(HARBOR_DOWN)
    assert len(w.simulator.issued_tokens()) == 1  # Harbor issued one the customer never got
    assert held_by_bot(w) == (await open_lockers(w))

    await alice.press("try again", down)
    photo = await alice.wait_for(lambda m: m.photo is not None)
    key = decode_key(photo)
    assert (key.payload, key.payload_auth) == tuple(
        w.simulator.issued_tokens()[-1][k] for k in ("payload", "payload_auth")
    )
    assert held_by_bot(w) == (await open_lockers(w))


async def test_a_key_lost_then_cancelled_leaves_no_locker_held(fw: World) -> None:
    w, alice = fw, fw.user(101, "Alice")
    held = await reserve(alice)
    w.simulator.add_fault(method="POST", path="dropoff-locker-tokens", stall=STALL, stall_after=True)
    await alice.press("key", held)
    await alice.wait_for(HARBOR_DOWN)
    # Harbor turned the reservation into a rental for the lost key; cancelling must end that too.
    await alice.press("cancel", held)
    await alice.wait_for("cancelled")
    assert held_by_bot(w) == (await open_lockers(w)) == []


async def test_a_cancel_whose_answer_was_lost_still_cancels(fw: World) -> None:
    w, alice = fw, fw.user(101, "Alice")
    held = await reserve(alice)
    w.simulator.add_fault(method="DELETE", path=r"/reservations$", stall=STALL, stall_after=True)
    await alice.press("cancel", held)
    await alice.wait_for("cancelled")
    assert held_by_bot(w) == (await open_lockers(w)) == []


# Telegram ----------------------------------------------------------------------------------------


async def test_telegram_rate_limit_is_waited_out(w: World) -> None:
    alice = w.user(101, "Alice")
    w.emulator.add_fault("sendMessage", status=429, retry_after=1)
    await alice.command("dropoff")
    await alice.wait_for("where are you", timeout=5)
    sends = w.emulator.calls_to("sendMessage")
    assert [c.error_code for c in sends[:2]] == [429, None]
    assert sends[1].at - sends[0].at >= 0.9  # after the wait Telegram asked for
    assert len([m for m in alice.bot_messages if "where are you" in (m.content or "").lower()]) == 1


# What must never leak ----------------------------------------------------------------------------


async def test_no_key_material_in_any_log_and_no_traceback_in_chat(w: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    alice = w.user(101, "Alice")
    held = await reserve(alice)
    await alice.press("key", held)
    photo = await alice.wait_for(lambda m: m.photo is not None)
    key = decode_key(photo)
    assert (await w.use_at_tower(key)).status_code == 200
    await w.watch()
    await alice.wait_for("is in locker")
    await alice.command("my")
    await alice.wait_for("in the locker")

    secrets = {"payload": key.payload, "payload_auth": key.payload_auth, "sdk_token": key.sdk_token}
    assert all(secrets.values())
    assert len(caplog.records) > 50  # the capture really saw the flow (PTB and HTTP debug lines)
    for record in caplog.records:
        logged = record.getMessage() + (record.exc_text or "")
        for name, secret in secrets.items():
            # A prefix too: a truncated key is still a leak.
            assert secret[:24] not in logged, f"{name} logged by {record.name}: {logged[:200]}"
    no_tracebacks(alice)
