from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.flows.harness import World, world


@pytest.fixture
async def w(database_url: str) -> AsyncIterator[World]:
    async with world(database_url) as running:
        yield running
