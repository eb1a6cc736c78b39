"""The bot's database (storage/threaded.py): its work runs in threads, never on the event loop; sessions
take turns for the connections in order; a stuck database or a cancelled task loses no connection."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import TimeoutError as PoolTimeout

from storage.engine import is_outage, make_database
from storage.models import Delivery, DropoffStep
from storage.repository import Repository
from storage.threaded import Database


def _delivery(sender: int) -> Delivery:
    return Delivery(sender_id=sender, location_id=101, location_name="Civic Center", size_id=1, size_name="small")


async def test_no_statement_runs_on_the_event_loop(database: Database, repo: Repository) -> None:
    threads: set[int] = set()

    def seen(*_: Any) -> None:
        threads.add(threading.get_ident())

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        made = await repo.create_delivery(_delivery(1), actor_id=1)
        assert made.id is not None
        assert (await repo.get_delivery(made.id)) is not None
        await repo.set_chat_state(1, DropoffStep.ASK_LOCATION)
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)
    assert threads and threading.get_ident() not in threads


async def test_a_whole_hot_step_is_one_hand_off(database: Database, repo: Repository) -> None:
    """run_sync: the transaction's statements and its commit in one call to a database thread."""
    handed: list[str] = []
    submit = database._executor.submit

    def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        handed.append("call")
        return submit(fn, *args, **kwargs)

    database._executor.submit = counted  # type: ignore[method-assign]
    try:
        await repo.start_search(7, 7)  # reads the open drop-off, writes the step, reads the used places
    finally:
        database._executor.submit = submit  # type: ignore[method-assign]
    assert handed == ["call"]


async def test_sessions_wait_their_turn_for_the_one_sqlite_connection(tmp_path: Any) -> None:
    from storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'turns.sqlite3'}"
    upgrade(url)
    database = make_database(url)
    try:
        order: list[str] = []
        first_in = asyncio.Event()
        release_first = asyncio.Event()

        async def first() -> None:
            async with database.session() as session, session.begin():
                await session.execute(text("SELECT 1"))
                order.append("first in")
                first_in.set()
                assert database.in_use() == 1
                await release_first.wait()  # the transaction stays open meanwhile
            order.append("first out")

        async def second() -> None:
            await first_in.wait()
            async with database.session() as session:
                await session.execute(text("SELECT 1"))
                order.append("second in")

        tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
        await first_in.wait()
        await asyncio.sleep(0.05)
        assert database.waiting() == 1 and order == ["first in"]  # second waits for a connection
        release_first.set()
        await asyncio.gather(*tasks)
        assert order == ["first in", "first out", "second in"]
        assert database.in_use() == 0 and database.waiting() == 0
    finally:
        database.dispose()


async def test_a_database_that_never_frees_a_connection_is_an_outage(tmp_path: Any) -> None:
    from storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'stuck.sqlite3'}"
    upgrade(url)
    database = make_database(url)
    database.wait_timeout = 0.2
    try:
        async with database.session() as holder, holder.begin():
            await holder.execute(text("SELECT 1"))
            with pytest.raises(PoolTimeout) as raised:
                async with database.session() as waiter:
                    await waiter.execute(text("SELECT 1"))
            assert is_outage(raised.value)  # the person is told to try again in a moment
        async with database.session() as later:  # and nothing was lost: the connection is free again
            assert (await later.execute(text("SELECT 2"))).scalar_one() == 2
    finally:
        database.dispose()


async def test_a_task_cancelled_mid_statement_gives_its_connection_back(database: Database, repo: Repository) -> None:
    started, go_on = threading.Event(), threading.Event()

    def slow(*_: Any) -> None:
        if not started.is_set():
            started.set()
            go_on.wait(5)

    event.listen(database.engine, "before_cursor_execute", slow)
    try:
        task = asyncio.create_task(repo.create_delivery(_delivery(2), actor_id=2))
        await asyncio.to_thread(started.wait, 5)
        task.cancel()
        await asyncio.sleep(0.05)
        assert not task.done()  # it waits for its statement: nobody else may use that session meanwhile
        go_on.set()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        event.remove(database.engine, "before_cursor_execute", slow)
    assert database.in_use() == 0
    made = await repo.create_delivery(_delivery(3), actor_id=3)  # the connection is there for the next
    assert made.id is not None


async def test_after_the_server_drops_its_connections_the_next_call_just_works(
    database: Database, repo: Repository, engine: Engine
) -> None:
    """PostgreSQL restarted (its connections gone) while the bot was idle: the pool finds out before a
    statement does (a ping at checkout), so nobody is told to try again."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite has no server to drop connections")
    await repo.upsert_user(11, first_name="Ana")  # the bot's pool holds a connection now

    def drop_the_others() -> int:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            )

    assert await asyncio.to_thread(drop_the_others) >= 1
    assert (await repo.get_user(11)) is not None
