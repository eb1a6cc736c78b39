"""Build the Harbor client from Settings: the real API, or the in-process simulator (HARBOR_ENV=simulator)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from bot.config import HarborEnv, Settings
from bot.harbor.client import HarborClient

if TYPE_CHECKING:
    from sandbox.harbor import HarborSimulator


@dataclass
class HarborConnection:
    client: HarborClient
    simulator: HarborSimulator | None

    async def aclose(self) -> None:
        await self.client.aclose()


def connect_harbor(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    simulator: HarborSimulator | None = None,
    **client_options: Any,
) -> HarborConnection:
    """A client for settings.harbor_urls with settings.harbor_credentials.

    With HARBOR_ENV=simulator and no transport, the sandbox simulator runs in this process (behind an
    httpx.ASGITransport): no credentials, no network. Pass `simulator` to use one you built (seeded, with
    its own clock); `client_options` go to HarborClient (timeouts, clock, sleep, rng).
    """
    api_url, token_url = settings.harbor_urls
    client_id, client_secret = settings.harbor_credentials
    if transport is None and (simulator is not None or settings.harbor_env is HarborEnv.SIMULATOR):
        from sandbox.harbor import HarborSimulator, create_app

        simulator = simulator or HarborSimulator()
        transport = httpx.ASGITransport(app=create_app(simulator))
    client = HarborClient(
        api_url=api_url,
        token_url=token_url,
        client_id=client_id,
        client_secret=client_secret,
        transport=transport,
        **client_options,
    )
    return HarborConnection(client=client, simulator=simulator)
