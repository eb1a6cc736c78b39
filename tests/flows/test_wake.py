"""Issue 18: an idle process sleeps until the next due time, and still misses nothing.

Nobody runs the deadlines round by hand here: the process's own wake loop must notice a deadline,
whether it wrote it itself or it was written behind its back (on PostgreSQL, by another process,
through the triggers' NOTIFY), and act on it long before its longest sleep (60 s here) is over.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event

from storage.models import DeliveryState
from tests.flows.harness import world
from tests.flows.steps import age_hold, reserve, settled

ASLEEP = {"wake_max_seconds": 60}


async def test_a_hold_ends_on_time_with_nobody_ticking(database_url: str) -> None:
    """The reservation written by this process moves the deadlines job to the hold's end: the locker
    is given back about then, not at the next minute's round."""
    async with world(database_url, reservation_seconds=2, **ASLEEP) as w:
        alice = w.user(101, "Alice")
        await reserve(alice)
        await alice.wait_for("ended unused", timeout=15)
        delivery = (await w.services.repo.deliveries_in([DeliveryState.EXPIRED]))[0]
        assert delivery.sender_id == alice.id


async def test_a_deadline_written_by_another_process_wakes_a_sleeping_one(pg_url: str) -> None:
    """PostgreSQL: the hold's end moved into the past by someone else (here a plain connection, as a
    second process would) reaches the sleeping process through NOTIFY, and it ends the hold."""
    async with world(pg_url, **ASLEEP) as w:
        listener = w.app.bot_data["wake_listener"]
        await asyncio.wait_for(listener.connected.wait(), 10)
        alice = w.user(101, "Alice")
        await reserve(alice)
        await settled(w)
        delivery = await w.services.deliveries.open_dropoff(alice.id)
        await age_hold(w, delivery.id)
        await alice.wait_for("ended unused", timeout=15)


async def test_an_idle_process_does_not_ask_the_database_every_second(database_url: str) -> None:
    async with world(database_url, **ASLEEP) as w:
        await settled(w)  # the start-up rounds (the first watch, the first deadlines round) are over
        await asyncio.sleep(0.5)
        statements: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
            statements.append(statement)

        engine = w.app.bot_data["database"].engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            await asyncio.sleep(3)  # the old tick asked ~8 times a second; a sleeping process not at all
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert len(statements) <= 2, statements
