"""`GET /metrics` (README "Metrics"): after one whole delivery the page shows what happened, read as
Prometheus reads it (prometheus_client's parser), on `web`'s route and on `run`'s METRICS_PORT listener."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from bot.web_metrics import MetricsListener, metrics_route
from storage.models import DeliveryState
from tests.flows.harness import World, world
from tests.flows.steps import get_pickup_key, item_in_locker, settled, share_link
from tests.sandbox.telegram_fixtures import serve_app
from tests.web_process import free_port

RESERVE = "/api/v1/towers/{tower_id}/lockers/{locker_id}/reservations"


def samples(page: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample on the page: (name, labels without `process`) -> value; each must carry `process`."""
    found = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            assert sample.labels.get("process"), f"{sample.name} has no process label"
            labels = frozenset((k, v) for k, v in sample.labels.items() if k != "process")
            found[(sample.name, labels)] = sample.value
    return found


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def whole_delivery(w: World) -> int:
    """Alice drops an item off, shares a pickup link, Bob opens it, takes the key and collects."""
    alice, bob = w.user(101, "Alice"), w.user(202, "Bob")
    delivery_id, inside = await item_in_locker(w, alice)
    link, _ = await share_link(alice, inside)
    await bob.open_link(link)
    waiting = await bob.wait_for("waiting for you")
    key = await get_pickup_key(w, bob, waiting)
    assert (await w.use_at_tower(key)).status_code == 200
    await w.watch()
    await bob.wait_for("collected from locker")
    assert (await w.services.deliveries.get(delivery_id)).state is DeliveryState.COMPLETED
    return delivery_id


async def test_metrics_after_one_whole_delivery(database_url: str) -> None:
    async with world(database_url) as w:
        # One 429 from Telegram on the way: retried by the limiter, and counted.
        w.emulator.add_fault("sendMessage", status=429, retry_after=1, times=1)
        await whole_delivery(w)
        await settled(w)
        assert w.app is not None
        app = w.app
        async with serve_app(Starlette(routes=[metrics_route(lambda: app)])) as root, httpx.AsyncClient() as client:
            answer = await client.get(f"{root}/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        found = samples(answer.text)

    # The updates: commands, the location, button taps, all handled.
    assert value(found, "harbor_bot_updates_total", kind="command", outcome="ok") >= 2  # /dropoff, /start <code>
    assert value(found, "harbor_bot_updates_total", kind="location", outcome="ok") == 1
    assert value(found, "harbor_bot_updates_total", kind="button", outcome="ok") >= 4
    assert value(found, "harbor_bot_update_seconds_count", kind="button") >= 4
    # Bot API calls: two keys as photos, and the 429 the emulator gave once.
    assert value(found, "harbor_bot_bot_api_calls_total", method="sendPhoto", result="ok") == 2
    assert value(found, "harbor_bot_bot_api_calls_total", method="sendMessage", result="429") == 1
    assert value(found, "harbor_bot_bot_api_calls_total", method="sendMessage", result="ok") >= 3
    # Harbor: one reservation, by its path template (no ids in labels), with its latency; the token.
    assert value(found, "harbor_bot_harbor_requests_total", method="POST", endpoint=RESERVE, status="200") == 1
    assert value(found, "harbor_bot_harbor_request_seconds_count", method="POST", endpoint=RESERVE) == 1
    assert value(found, "harbor_bot_harbor_requests_total", method="POST", endpoint="token", status="200") >= 1
    assert not any("0100000000000014" in str(labels) for _, labels in found)
    # The database, read at scrape time: one delivery, completed; nothing left to announce.
    assert value(found, "harbor_bot_deliveries", state="completed") == 1
    assert value(found, "harbor_bot_deliveries", state="in_locker") == 0
    assert value(found, "harbor_bot_database_gauges_up") == 1
    assert value(found, "harbor_bot_outbox_pending") == 0
    assert value(found, "harbor_bot_keys_issued_total", kind="dropoff") == 1
    assert value(found, "harbor_bot_keys_issued_total", kind="pickup") == 1


async def test_run_serves_the_same_page_on_its_metrics_port(database_url: str) -> None:
    async with world(database_url) as w:
        alice = w.user(101, "Alice")
        await alice.command("start")
        await alice.wait_for("what would you like")
        assert w.app is not None
        port = free_port()
        listener = MetricsListener(w.app, "127.0.0.1", port)
        await listener.start()
        try:
            async with httpx.AsyncClient() as client:
                answer = await client.get(f"http://127.0.0.1:{port}/metrics")
        finally:
            await listener.stop()
        found = samples(answer.text)
        assert value(found, "harbor_bot_updates_total", kind="command", outcome="ok") == 1
        async with httpx.AsyncClient() as client:
            try:
                await client.get(f"http://127.0.0.1:{port}/metrics")
                stopped = False
            except httpx.ConnectError:
                stopped = True
        assert stopped, "the listener still answers after the bot stopped it"


async def test_updates_over_the_budget_are_counted_as_throttled(database_url: str) -> None:
    async with world(database_url, user_update_burst=1, user_updates_per_minute=0.01) as w:
        alice = w.user(101, "Alice")
        for _ in range(3):
            await alice.command("start")
        await alice.wait_for("slow down")
        await alice.wait_for("what would you like")
        await settled(w)
        assert w.app is not None
        found = samples(w.app.bot_data["metrics"].exposition().decode())
    assert value(found, "harbor_bot_updates_total", kind="command", outcome="ok") == 1
    assert value(found, "harbor_bot_updates_total", kind="command", outcome="throttled") == 2
    assert value(found, "harbor_bot_throttled_users_total") == 1  # one run of dropped updates, one user
