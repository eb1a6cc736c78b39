"""Seed a bot database with history: N users, M closed deliveries (one event each), and, where the tree
keeps conversations as rows (chat_states), a conversation per user.

    python bench/seedproc.py --root TREE --url DATABASE_URL --users N --deliveries M

Run by file path with the tree under test first on sys.path, so its own tables (and their column types)
are used; the database must already be migrated (start the bot on it once).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BATCH = 5_000


def _rows(make: Any, count: int) -> Any:
    for start in range(0, count, BATCH):
        yield [make(i) for i in range(start, min(count, start + BATCH))]


def seed(url: str, users: int, deliveries: int, first_user: int) -> None:
    from sqlalchemy import delete, insert

    from storage import models
    from storage.engine import make_engine

    engine = make_engine(url)
    now = datetime.now(UTC)
    S = models.DeliveryState
    closed = [S.COMPLETED, S.COMPLETED, S.COMPLETED, S.CANCELLED, S.EXPIRED]
    with engine.begin() as conn:
        for table in ("delivery_events", "issued_keys", "pickup_links", "deliveries", "chat_states", "users"):
            if table in models.SQLModel.metadata.tables:
                conn.execute(delete(models.SQLModel.metadata.tables[table]))

        def user(i: int) -> dict[str, Any]:
            return {
                "id": first_user + i, "first_name": f"User{i}", "last_name": None, "username": f"user{i}",
                "language": "en", "role": models.Role.CUSTOMER,
                "created_at": now - timedelta(days=i % 365), "last_seen_at": now - timedelta(hours=i % 1000),
            }  # fmt: skip

        def delivery(i: int) -> dict[str, Any]:
            at = now - timedelta(minutes=i)
            return {
                "id": i + 1, "sender_id": first_user + i % users, "state": closed[i % len(closed)],
                "location_id": 101, "location_name": "Civic Center - McAllister St", "address": "355 McAllister St",
                "timezone": "America/Los_Angeles", "lat": 37.7805, "lon": -122.4177,
                "tower_id": "010000000000001a", "locker_id": 1001 + i % 24, "locker_name": str(1 + i % 24),
                "size_id": 1, "size_name": "small", "low_locker": False,
                "reserved_until": at, "dropped_at": at, "completed_at": at, "closed_at": at,
                "collector_kind": None, "collector_id": None, "reminder_due_at": None, "reminded_at": None,
                "status_chat_id": first_user + i % users, "status_message_id": 1,
                "created_at": at, "updated_at": at,
            }  # fmt: skip

        def event(i: int) -> dict[str, Any]:
            return {"delivery_id": i + 1, "at": now - timedelta(minutes=i), "actor_id": None, "kind": "completed"}

        for batch in _rows(user, users):
            conn.execute(insert(models.User.__table__), batch)
        for batch in _rows(delivery, deliveries):
            conn.execute(insert(models.Delivery.__table__), batch)
        for batch in _rows(event, deliveries):
            conn.execute(insert(models.DeliveryEvent.__table__), batch)
        chat_state = getattr(models, "ChatState", None)
        if chat_state is not None:  # conversations kept as rows: one per user, left mid-way

            def state(i: int) -> dict[str, Any]:
                return {"chat_id": first_user + i, "step": models.DropoffStep.ASK_LOCATION, "lat": None, "lon": None,
                        "updated_at": now - timedelta(hours=i % 1000)}  # fmt: skip

            for batch in _rows(state, users):
                conn.execute(insert(chat_state.__table__), batch)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--first-user", type=int, default=5_000_000)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.root).resolve()))
    started = time.perf_counter()
    seed(args.url, args.users, args.deliveries, args.first_user)
    print(f"seeded {args.users} users, {args.deliveries} deliveries in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
