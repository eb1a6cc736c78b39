"""Project-wide database fixtures.

`database_url` is a fresh database of its own, already migrated to head: a SQLite file, and, when
TEST_DATABASE_URL points at a PostgreSQL server (CI sets it), also a new database on that server (test
ids "sqlite" / "postgres"). Each is a copy of one template migrated once per session (a file copy; on
PostgreSQL `CREATE DATABASE ... TEMPLATE`), so no test pays for the migrations; `empty_database_url` is
an empty one, for the migration tests. `engine` is a sync engine on `database_url`; `session_factory` opens
sqlmodel Sessions on it. `database` is the same migrated database as the bot runs on it (storage/threaded.py:
its work in threads, behind the AsyncSession API), and `repo` the Repository on it; `async_engine` is the
database through SQLAlchemy's asyncio driver, which `python -m bot doctor` uses.
Other fixtures belong in the subfolders' conftest files.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session

from storage.engine import (
    make_async_engine,
    make_database,
    make_engine,
    make_session_factory,
    normalize_url,
)
from storage.migrate import upgrade
from storage.repository import Repository
from storage.threaded import Database

_BACKENDS = ["sqlite", "postgres"] if os.environ.get("TEST_DATABASE_URL") else ["sqlite"]


def _server() -> tuple[URL, str]:
    server = make_url(normalize_url(os.environ["TEST_DATABASE_URL"]))
    return server, server.set(drivername="postgresql").render_as_string(hide_password=False)


def _postgres_database(template: str | None = None) -> Iterator[str]:
    server, admin_dsn = _server()
    name = f"harbor_test_{uuid.uuid4().hex[:16]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(create)
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "harbor_template.sqlite3"
    upgrade(f"sqlite:///{path}")  # its own engine, disposed: the WAL is checkpointed into the file
    return path


@pytest.fixture(scope="session")
def _postgres_template() -> Iterator[str]:
    """One migrated database per session that each test's database is copied from."""
    databases = _postgres_database()
    url = next(databases)
    upgrade(url)
    yield make_url(url).database or ""
    databases.close()  # drops it


@pytest.fixture(params=_BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'harbor_test.sqlite3'}"
    else:
        yield from _postgres_database()


@pytest.fixture(params=_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        copy = tmp_path / "harbor_test.sqlite3"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), copy)
        yield f"sqlite:///{copy}"
    else:
        yield from _postgres_database(template=request.getfixturevalue("_postgres_template"))


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
async def database(engine: Engine, database_url: str) -> AsyncIterator[Database]:
    """The migrated database as the bot runs on it."""
    database = make_database(database_url)
    yield database
    await asyncio.to_thread(database.dispose)


@pytest.fixture
def repo(database: Database) -> Repository:
    return Repository(database.session)


def postgres_database() -> Iterator[str]:
    """For fixtures elsewhere that need an empty PostgreSQL database of their own (tests/flows)."""
    yield from _postgres_database()
