from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.conftest import postgres_database
from tests.flows.harness import World, world


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of its own: several processes on one database need PostgreSQL."""
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("many processes need PostgreSQL (set TEST_DATABASE_URL)")
    yield from postgres_database()


@pytest.fixture
async def w(database_url: str) -> AsyncIterator[World]:
    async with world(database_url) as running:
        yield running
