"""connect_harbor: the simulator in process for HARBOR_ENV=simulator, real URLs and credentials otherwise."""

from __future__ import annotations

import httpx

from bot.config import HARBOR_URLS, HarborEnv, load_settings
from bot.harbor import HarborConnection, connect_harbor
from sandbox.harbor import HarborSimulator, create_app


def settings_for(env: str, **extra: object):
    return load_settings(_env_file=None, harbor_env=env, **extra)


async def test_simulator_env_runs_harbor_in_process():
    connection = connect_harbor(settings_for("simulator"))
    assert isinstance(connection, HarborConnection)
    assert isinstance(connection.simulator, HarborSimulator)
    async with connection.client as client:
        assert client.api_url == HARBOR_URLS[HarborEnv.SIMULATOR][0]
        lockers = await client.location_lockers(101)
        assert lockers
        assert (await client.test_token())["client_id"] == "harbor-bot-simulator"
    assert connection.simulator.requests  # the very simulator we were given served the calls


async def test_given_simulator_is_used():
    sim = HarborSimulator(rng_seed=1)
    connection = connect_harbor(settings_for("simulator"), simulator=sim)
    assert connection.simulator is sim
    await connection.client.assigned_lockers()
    await connection.aclose()
    assert sim.requests


async def test_sandbox_env_uses_urls_and_credentials_from_settings():
    sim = HarborSimulator(clients={"my-client": "my-secret"})
    settings = settings_for(
        "sandbox",
        harbor_client_id="my-client",
        harbor_client_secret="my-secret",
        harbor_api_url="http://harbor.example",
    )
    connection = connect_harbor(settings, transport=httpx.ASGITransport(app=create_app(sim)))
    assert connection.simulator is None
    client = connection.client
    assert client.api_url == "http://harbor.example"
    assert client.token_url == HARBOR_URLS[HarborEnv.SANDBOX][1]  # no override: Harbor's sandbox realm
    # The ASGI app answers whatever host we name, so this also proves the credentials went through.
    assert (await client.test_token())["client_id"] == "my-client"
    await connection.aclose()
