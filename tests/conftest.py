"""Project-wide database fixtures.

`database_url` is a fresh, empty database: a SQLite file, and, when TEST_DATABASE_URL points at a
PostgreSQL server (CI sets it), also a new database on that server (test ids "sqlite" / "postgres").
`engine` is that database migrated to head (migrations run on a sync engine); `session_factory` opens
sqlmodel Sessions on it. `async_engine` is the same migrated database through the asyncio driver the bot
runs on, and `repo` an async Repository on it.
Other fixtures belong in the subfolders' conftest files.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session

from storage.engine import (
    make_async_engine,
    make_async_session_factory,
    make_engine,
    make_session_factory,
    normalize_url,
)
from storage.migrate import upgrade
from storage.repository import Repository

_BACKENDS = ["sqlite", "postgres"] if os.environ.get("TEST_DATABASE_URL") else ["sqlite"]


def _postgres_database() -> Iterator[str]:
    import psycopg
    from psycopg import sql

    server = make_url(normalize_url(os.environ["TEST_DATABASE_URL"]))
    admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"harbor_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'harbor_test.sqlite3'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> Callable[[], Session]:
    return make_session_factory(engine)


@pytest.fixture
async def async_engine(engine: Engine, database_url: str) -> AsyncIterator[AsyncEngine]:
    """The migrated database through the asyncio driver (aiosqlite / psycopg async)."""
    async_engine = make_async_engine(database_url)
    yield async_engine
    await async_engine.dispose()


@pytest.fixture
def repo(async_engine: AsyncEngine) -> Repository:
    return Repository(make_async_session_factory(async_engine))


# For fixtures elsewhere that need a PostgreSQL database of their own (tests/flows/cluster.py).
postgres_database = _postgres_database
