"""`GET /readyz` tells the truth (bot/web_health.py): 503 only when this process cannot serve (the
database is gone), a 200 that says `degraded` when Harbor is down."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from starlette.applications import Starlette

from bot import web_health
from bot.web_health import readiness_route
from bot.web_metrics import metrics_route
from tests.conftest import postgres_database
from tests.flows.harness import World, world
from tests.sandbox.telegram_fixtures import serve_app
from tests.tcp_proxy import database_proxy


@asynccontextmanager
async def health_pages(w: World) -> AsyncIterator[httpx.AsyncClient]:
    """`web`'s /readyz and /metrics routes on the world's bot, over HTTP."""
    app = w.app
    assert app is not None
    routes = [readiness_route(lambda: app), metrics_route(lambda: app)]
    async with serve_app(Starlette(routes=routes)) as root, httpx.AsyncClient(base_url=root, timeout=30) as client:
        yield client


def check_states(page: str) -> dict[str, str]:
    """harbor_bot_check: the state each check is in (the one whose sample is 1)."""
    states = {}
    for family in text_string_to_metric_families(page):
        if family.name == "harbor_bot_check":
            for sample in family.samples:
                if sample.value == 1:
                    states[sample.labels["check"]] = sample.labels["harbor_bot_check"]
    return states


async def test_ready_then_degraded_but_serving_while_harbor_is_down(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Harbor is probed at most every few seconds; here every call looks, so the test needs no wait.
    monkeypatch.setattr(web_health, "HARBOR_PROBE_EVERY", 0.0)
    async with world(database_url) as w, health_pages(w) as web:
        await w.tick()  # a watch round has run
        ready = await web.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
        assert {name: c["state"] for name, c in ready.json()["checks"].items()} == {
            "database": "ok",
            "schema": "ok",
            "harbor": "ok",
            "watch": "ok",
        }

        w.simulator.add_fault(status=503, times=None)  # Harbor answers nothing but 503 from now on
        degraded = await web.get("/readyz")
        body: dict[str, Any] = degraded.json()
        assert degraded.status_code == 200, degraded.text  # the router keeps this process
        assert body["status"] == "degraded"
        assert body["checks"]["harbor"]["state"] == "degraded"
        assert "not answering" in body["checks"]["harbor"]["detail"]
        assert body["checks"]["database"]["state"] == "ok"
        metrics = await web.get("/metrics")
        assert check_states(metrics.text)["harbor"] == "degraded"
        assert check_states(metrics.text)["database"] == "ok"


@pytest.fixture
def pg_database() -> Any:
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("the database is cut behind a TCP proxy in front of PostgreSQL (set TEST_DATABASE_URL)")
    yield from postgres_database()


async def test_unavailable_when_the_database_is_unreachable(pg_database: str) -> None:
    async with database_proxy(pg_database) as proxy, world(proxy.url(pg_database)) as w, health_pages(w) as web:
        await w.tick()
        assert (await web.get("/readyz")).status_code == 200

        await proxy.cut()
        answer = await web.get("/readyz")
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"]["state"] == "failing"
        assert body["checks"]["harbor"]["state"] == "ok"  # Harbor is fine: the database is what is wrong
        metrics = await web.get("/metrics")
        assert metrics.status_code == 200  # the page still answers, without the database's figures
        assert check_states(metrics.text)["database"] == "failing"
        assert "harbor_bot_database_gauges_up" in metrics.text


async def test_unavailable_when_the_schema_is_behind_and_ready_when_a_newer_deploy_migrated(database_url: str) -> None:
    async with world(database_url) as w, health_pages(w) as web:
        await w.tick()
        engine = create_engine(database_url)
        try:
            with engine.begin() as connection:  # as if this process were newer than the database
                connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
            behind = await web.get("/readyz")
            with engine.begin() as connection:  # as if a newer deploy had migrated it further
                connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
            ahead = await web.get("/readyz")
        finally:
            engine.dispose()
    assert behind.status_code == 503, behind.text
    assert behind.json()["checks"]["schema"]["state"] == "failing"
    assert "behind" in behind.json()["checks"]["schema"]["detail"]
    assert behind.json()["checks"]["database"]["state"] == "ok"
    assert ahead.status_code == 200, ahead.text
    assert ahead.json()["checks"]["schema"] == {"state": "ok", "detail": "at f00d (a newer deploy's: it only adds)"}
