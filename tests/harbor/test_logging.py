"""Logs name method, path, status, attempt and time, and never a secret."""

from __future__ import annotations

import logging

import pytest

from bot.harbor import HarborAuthError, HarborOutcomeUnknown
from tests.harbor.conftest import CLIENT_SECRET, TOWER


def leaks(records: list[logging.LogRecord], secrets: list[str]) -> list[str]:
    found = []
    for record in records:
        text = record.getMessage() + repr(record.args) + repr(getattr(record, "__dict__", {}))
        for secret in secrets:
            # the whole value, and a tail long enough to identify it
            if secret in text or secret[-24:] in text:
                found.append(f"{record.name}: {record.getMessage()[:80]}")
    return found


async def test_a_full_flow_logs_no_secret(make_client, sim, faulty, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, every level (httpx included)
    client = make_client()
    secrets = [CLIENT_SECRET]

    service = await client.service_token()
    secrets.append(service.value.get_secret_value())
    secrets.append((await client.tower_access_token()).get_secret_value())
    await client.locations_in_area((37.70, -122.50), (37.85, -122.35))
    await client.reserve(TOWER, 1020, 300)
    dropoff = await client.dropoff_token(TOWER, 1020, duration=300, client_info="order-7")
    secrets += [dropoff.payload.get_secret_value(), dropoff.payload_auth.get_secret_value()]
    sim.use_token(dropoff.payload.get_secret_value())
    sim.add_fault(method="POST", path="/pickup-locker-tokens", status=503)  # a retry gets logged too
    pickup = await client.pickup_token(TOWER, 1020, duration=300)
    secrets += [pickup.payload.get_secret_value(), pickup.payload_auth.get_secret_value()]
    sim.clock.advance(301)  # Harbor drops the token: 401, renewal, retry all get logged
    await client.tower_lockers(TOWER)
    secrets.append((await client.service_token()).value.get_secret_value())
    faulty.read_errors_after_send = 1
    with pytest.raises(HarborOutcomeUnknown):
        await client.release(TOWER, 1020)
    wrong = make_client(secret="a-wrong-secret-that-must-not-show")
    secrets.append("a-wrong-secret-that-must-not-show")
    with pytest.raises(HarborAuthError):
        await wrong.assigned_lockers()

    harbor_logs = [r for r in caplog.records if r.name == "bot.harbor"]
    assert any("-> 200" in r.getMessage() for r in harbor_logs)
    assert any("outcome unknown" in r.getMessage() for r in harbor_logs)
    assert leaks(caplog.records, secrets) == []


async def test_log_lines_carry_method_path_status_attempt_and_time(client, sim, caplog):
    caplog.set_level(logging.DEBUG, logger="bot.harbor")
    sim.add_fault(method="GET", path="/towers/", status=503)
    await client.tower_lockers(TOWER)
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.harbor" and "/towers/" in r.getMessage()]
    assert any(f"GET /api/v1/towers/{TOWER}/lockers -> 503 (attempt 1" in line for line in lines)
    assert any(f"GET /api/v1/towers/{TOWER}/lockers -> 200 (attempt 2" in line and " s)" in line for line in lines)
