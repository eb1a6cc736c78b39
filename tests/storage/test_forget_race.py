"""Issue 15, item 10: /forget must not anonymise a delivery the same person creates while it runs.

The window was between forget_user's read of the open deliveries and its updates. The test puts a new
open delivery of the user into exactly that window: inside the forgetting transaction, just before its
first UPDATE of deliveries, as a concurrent commit would appear to it (READ COMMITTED).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from storage.models import Delivery, DeliveryState
from storage.privacy import FORGOTTEN, PrivacyStore
from storage.repository import Repository
from storage.threaded import Database

USER = 4242
NEW = (
    "INSERT INTO deliveries (sender_id, state, location_id, location_name, address, size_id, size_name,"
    " low_locker, created_at, updated_at)"
    f" VALUES ({USER}, 'draft', 101, 'Civic Center', '', 1, 'small', false,"
    " '2030-01-01 00:00:00+00:00', '2030-01-01 00:00:00+00:00')"
)


async def test_a_delivery_created_while_forgetting_keeps_its_sender(database: Database, repo: Repository) -> None:
    await repo.upsert_user(USER, first_name="Ana", last_name=None, username="ana", language="es")
    done = await repo.create_delivery(
        Delivery(
            sender_id=USER, location_id=101, location_name="Civic Center", address="", size_id=1, size_name="small"
        ),
        actor_id=USER,
    )
    assert done.id is not None
    await repo.update_delivery(done.id, state=DeliveryState.CANCELLED)
    injected: list[bool] = []

    def meanwhile(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not injected and statement.lstrip().upper().startswith("UPDATE DELIVERIES SET SENDER_ID"):
            injected.append(True)
            cursor.execute(NEW)

    event.listen(database.engine, "before_cursor_execute", meanwhile)
    try:
        forgotten = await PrivacyStore(repo.session_factory).forget_user(USER)
    finally:
        event.remove(database.engine, "before_cursor_execute", meanwhile)

    assert injected
    senders = {d.id: d.sender_id for d in await repo.open_deliveries_of(USER)}
    assert list(senders.values()) == [USER]  # the new, open delivery still knows its sender
    assert forgotten.kept_open == list(senders)  # and /forget's answer names it
    assert (await repo.get_delivery(done.id)).sender_id == FORGOTTEN  # the finished one is anonymised
    assert (await repo.get_user(USER)) is not None  # the open delivery needs the user row
