"""Issue 18: the hot path of a drop-off costs one transaction per phase of a step.

Each update a customer sends is recorded in the inbox (one transaction for its batch, the language its
sender chose read in it, and the updates handled meanwhile marked done in it); then its handlers run.
No transaction is held across a call to Harbor or Telegram (issue 19), so a step has one transaction
per stretch between those calls: /dropoff one (the open drop-off, else the step and the places used
before), the location and the location tap one each (the step), the size tap two (the sender's open
drop-off, the lockers others hold and the draft, before Harbor holds a locker; the reservation and the
end of the search after), the key tap three (the delivery and its keys before Harbor makes the token;
the key's record and the move after; the photo's message id once Telegram has it). On PostgreSQL the
key tap also takes the delivery's shared lock (a leased row: taken, given back) after reading that the
tapper owns it. Counted per update by the BEGINs in the task that processes it (PTB runs all of an
update's handlers in one task), so the scheduler's or another update's work is never counted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from telegram import Update
from telegram.ext import TypeHandler

from tests.flows.harness import SF, World
from tests.flows.steps import settled

_current: ContextVar[int | None] = ContextVar("current_update", default=None)


@contextmanager
def transactions_per_update(w: World) -> Iterator[dict[int, Counter[str]]]:
    """BEGINs and statements per update_id, while the block runs."""
    seen: dict[int, Counter[str]] = defaultdict(Counter)

    def on_begin(conn: Any) -> None:
        update_id = _current.get()
        if update_id is not None:
            seen[update_id]["transactions"] += 1

    def on_statement(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        update_id = _current.get()
        if update_id is not None:
            seen[update_id][statement.split()[0].upper()] += 1

    async def mark(update: object, context: Any) -> None:
        assert isinstance(update, Update)
        _current.set(update.update_id)

    assert w.app is not None
    marker = TypeHandler(Update, mark)
    w.app.add_handler(marker, group=-100)
    event.listen(Engine, "begin", on_begin)
    event.listen(Engine, "before_cursor_execute", on_statement)
    try:
        yield seen
    finally:
        event.remove(Engine, "begin", on_begin)
        event.remove(Engine, "before_cursor_execute", on_statement)
        w.app.remove_handler(marker, group=-100)


async def test_the_hot_path_costs_one_transaction_per_phase(w: World, database_url: str) -> None:
    alice = w.user(181, "Alice")
    await alice.command("language")  # a stored choice: read with the update, not by a query of its own
    await alice.press("Español", await alice.wait_for("which language"))
    await alice.wait_for("en español")
    with transactions_per_update(w) as seen:
        await alice.command("dropoff")
        await alice.wait_for("dónde estás")
        await alice.share_location(*SF)
        nearby = await alice.wait_for("Civic Center")
        await alice.press("Civic Center", nearby)
        sizes = await alice.wait_for("tamaño")
        await alice.press("pequeño", sizes)
        held = await alice.wait_for("reservado")
        await alice.press("obtener llave", held)
        await alice.wait_for(lambda m: m.photo is not None)
        await settled(w)
    steps = [seen[u] for u in sorted(seen)]
    assert len(steps) == 5, steps
    names = ("/dropoff", "location", "location tap", "size tap", "key tap")
    counted = dict(zip(names, [c["transactions"] for c in steps], strict=True))
    shared_lock = 3 if database_url.startswith("postgresql") else 0
    assert counted == {"/dropoff": 1, "location": 1, "location tap": 1, "size tap": 2, "key tap": 3 + shared_lock}, (
        steps
    )
