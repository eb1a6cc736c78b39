"""Issue 19: PostgreSQL unreachable for a while, right after a customer tapped "Get drop-off key".

The database is cut off by a TCP proxy of the test's own (tests/tcp_proxy.py), never by touching
the server. Meanwhile every tap and message is answered once and at once ("try again in a moment"),
the log gets one line per failure instead of tracebacks, and when the database is back the customer's
next tap brings the key. No button is answered twice.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from tests.flows.harness import decode_key, world
from tests.flows.steps import reserve
from tests.tcp_proxy import database_proxy

AT_ONCE = 3.0  # seconds: well before Telegram's clients give up on a button (and a connect timeout)
TRY_AGAIN = "try again in a moment"


async def test_taps_while_the_database_is_away_are_answered_once_and_at_once(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with database_proxy(pg_url) as proxy, world(proxy.url(pg_url)) as w:
        alice = w.user(101, "Alice")
        held = await reserve(alice)

        caplog.clear()
        caplog.set_level(logging.WARNING)
        first = asyncio.create_task(alice.press("key", held, timeout=AT_ONCE))
        await asyncio.sleep(0)  # the tap is on its way when the database goes
        await proxy.cut()
        cut_at = time.monotonic()
        answers = [await first]
        while time.monotonic() - cut_at < 8:  # about ten seconds of outage, a tap every two
            started = time.monotonic()
            answers.append(await alice.press("key", held, timeout=AT_ONCE))
            assert time.monotonic() - started < AT_ONCE
            await asyncio.sleep(1.5)
        await alice.command("my")
        told = await alice.wait_for(TRY_AGAIN, timeout=AT_ONCE)  # a message is answered too
        outage_log = [r for r in caplog.records if r.name.startswith(("bot", "telegram", "apscheduler", "storage"))]
        await proxy.restore()

        assert all(answer is not None for answer in answers), "a tap went unanswered"
        assert all(TRY_AGAIN in (answer.text or "") for answer in answers[1:])
        assert told.content is not None
        assert not [r for r in outage_log if r.exc_info], "tracebacks in the log during the outage"
        assert len([r for r in outage_log if "database is away" in r.getMessage()]) >= len(answers)

        # The database is back: the flow goes on where it was.
        async with asyncio.timeout(15):
            while True:
                answer = await alice.press("key", held, timeout=5)
                if answer is not None and TRY_AGAIN not in (answer.text or ""):
                    break
                await asyncio.sleep(0.5)  # the pool reconnects on its next checkout
        key = decode_key(await alice.wait_for(lambda m: m.photo is not None, timeout=10))
        assert key.kind == "dropoff"

        calls = w.emulator.calls_to("answerCallbackQuery")
        assert all(call.ok for call in calls), [call.description for call in calls if not call.ok]
        assert len(calls) == len({call.params["callback_query_id"] for call in calls})  # none answered twice
