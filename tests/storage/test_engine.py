from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from storage.engine import make_engine, make_session_factory, normalize_url, redacted
from storage.models import Delivery, DeliveryState, IssuedKey, KeyKind, Role, User


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:pw@db:5432/harbor", "postgresql+psycopg://u:pw@db:5432/harbor"),
        ("postgresql://u:pw@db/harbor?sslmode=require", "postgresql+psycopg://u:pw@db/harbor?sslmode=require"),
        ("postgresql+psycopg://u@db/harbor", "postgresql+psycopg://u@db/harbor"),
        ("postgresql+psycopg2://u@db/harbor", "postgresql+psycopg2://u@db/harbor"),
        ("sqlite:///harbor_bot.sqlite3", "sqlite:///harbor_bot.sqlite3"),
        ("sqlite://", "sqlite://"),
    ],
)
def test_normalize_url(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


def test_redacted_hides_the_password_only() -> None:
    shown = redacted("postgres://harbor:s3cr%40t@db.example:5432/harbor")
    assert "s3cr" not in shown
    assert shown == "postgres://harbor:***@db.example:5432/harbor"
    assert redacted("sqlite:///harbor_bot.sqlite3") == "sqlite:///harbor_bot.sqlite3"
    assert redacted("::not a url with secret::") == "<unparseable database URL>"


def test_postgres_engine_uses_psycopg3_and_pre_ping() -> None:
    engine = make_engine("postgres://u:pw@localhost:1/none")  # no connection is made
    assert engine.dialect.driver == "psycopg"
    assert engine.pool._pre_ping  # type: ignore[attr-defined]


def test_sqlite_file_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
    engine.dispose()


def test_sqlite_memory_is_one_database_for_every_thread() -> None:
    engine = make_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))

    def insert() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))

    worker = threading.Thread(target=insert)
    worker.start()
    worker.join()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_session_factory_round_trip(engine: Engine) -> None:
    """expire_on_commit=False, BIGINT ids, aware UTC times, enums stored as their values."""
    factory = make_session_factory(engine)
    big_id = 7_123_456_789
    seen = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    with factory() as session:
        user = User(id=big_id, first_name="Ada", role=Role.COURIER, last_seen_at=seen)
        delivery = Delivery(sender_id=big_id, location_id=1, location_name="L", size_id=2, size_name="M")
        session.add_all([user, delivery])
        session.commit()
    assert user.first_name == "Ada"  # still loaded after commit and close
    assert delivery.id is not None

    with factory() as session:
        loaded = session.get(User, big_id)
        assert loaded is not None
        assert loaded.role is Role.COURIER
        assert loaded.last_seen_at == seen
        assert loaded.last_seen_at.tzinfo == UTC
        got = session.get(Delivery, delivery.id)
        assert got is not None
        assert got.state is DeliveryState.DRAFT
        assert got.state.is_open
        raw = session.connection().execute(text("SELECT role FROM users")).scalar()
        assert raw == "courier"
        raw = session.connection().execute(text("SELECT state FROM deliveries")).scalar()
        assert raw == "draft"


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with factory() as session:
        session.add(
            IssuedKey(
                delivery_id=424242,
                kind=KeyKind.DROPOFF,
                user_id=1,
                chat_id=1,
                expires_at=datetime.now(UTC),
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()
