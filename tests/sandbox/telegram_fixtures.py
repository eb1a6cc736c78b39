"""Shared helpers and fixtures for tests that talk to the Telegram emulator (or any Starlette app) over
real HTTP. Import what you use explicitly::

    from tests.sandbox.telegram_fixtures import serve_app, serve_emulator, running_application
    from tests.sandbox.telegram_fixtures import tg_emulator, tg_server  # noqa: F401  (pytest fixtures)

* ``async with serve_app(app) as root:`` runs uvicorn on 127.0.0.1 on a free port as a task in the running
  loop and yields ``"http://127.0.0.1:PORT"``; it shuts the server down cleanly on exit.
* ``async with serve_emulator(emulator) as root:`` the same for the emulator; ``root`` is what the bot
  takes as TELEGRAM_API_URL (PTB: ``base_url=f"{root}/bot"``, ``base_file_url=f"{root}/file/bot"``).
* ``http_application_builder(root, token)``: an ApplicationBuilder pointed at ``root`` over real HTTP.
* ``async with running_application(application):`` initialise, start, poll (poll_interval=0, timeout=1),
  and stop everything again on exit.
* ``BotApi(emulator)``: a raw Bot API client (in process) that encodes parameters the way PTB does, for
  tests that play the bot by hand: ``await api.ok("sendMessage", chat_id=1, text="hi")`` returns the
  result, ``await api.error(...)`` returns (status, description).
* fixtures ``tg_emulator`` (one bot, DEFAULT_TOKEN), ``tg_server`` (it, served; yields the root URL) and
  ``tg_api`` (a BotApi on ``tg_emulator``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sandbox.serving import serve_app
from sandbox.telegram import DEFAULT_TOKEN, TelegramEmulator


@contextlib.asynccontextmanager
async def serve_emulator(emulator: TelegramEmulator) -> AsyncIterator[str]:
    """Serve the Telegram emulator; yields the root URL (TELEGRAM_API_URL)."""
    async with serve_app(emulator.app) as root:
        try:
            yield root
        finally:
            await emulator.release_long_polls()  # a forgotten long poll must not hold the shutdown


def http_application_builder(root: str, token: str = DEFAULT_TOKEN) -> Any:
    """An ApplicationBuilder for the bot at ``root`` over real HTTP."""
    from telegram.ext import ApplicationBuilder

    return ApplicationBuilder().token(token).base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")


@contextlib.asynccontextmanager
async def running_application(application: Any, *, poll_timeout: int = 1) -> AsyncIterator[Any]:
    """Run a PTB Application with long polling for the duration of the block."""
    async with application:
        await application.start()
        await application.updater.start_polling(poll_interval=0, timeout=poll_timeout)
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()


@pytest.fixture
def tg_emulator() -> TelegramEmulator:
    """An emulator with one bot (token DEFAULT_TOKEN, @harbor_test_bot)."""
    emulator = TelegramEmulator()
    emulator.add_bot()
    return emulator


@pytest.fixture
async def tg_server(tg_emulator: TelegramEmulator) -> AsyncIterator[str]:
    """``tg_emulator`` served over real HTTP; yields the root URL."""
    async with serve_emulator(tg_emulator) as root:
        yield root


class BotApi:
    """Call the emulator as a bot would, encoding like PTB: form fields, non-strings JSON-encoded,
    multipart when there are files."""

    def __init__(self, emulator: TelegramEmulator, token: str = DEFAULT_TOKEN) -> None:
        self.emulator = emulator
        self.token = token
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator.app), base_url=emulator.root)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def call(
        self,
        method: str,
        *,
        files: dict[str, Any] | None = None,
        token: str | None = None,
        as_json: bool = False,
        http_get: bool = False,
        **params: Any,
    ) -> httpx.Response:
        url = f"/bot{token or self.token}/{method}"
        if as_json:
            return await self.client.post(url, json=params)
        data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items() if v is not None}
        if http_get:
            return await self.client.get(url, params=data)
        return await self.client.post(url, data=data, files=files)

    async def ok(self, method: str, **kwargs: Any) -> Any:
        response = await self.call(method, **kwargs)
        body = response.json()
        assert response.status_code == 200, f"{method}: {response.status_code} {body}"
        assert body["ok"] is True
        return body["result"]

    async def error(self, method: str, **kwargs: Any) -> tuple[int, str]:
        response = await self.call(method, **kwargs)
        body = response.json()
        assert body["ok"] is False, f"{method} succeeded: {body}"
        assert body["error_code"] == response.status_code
        return response.status_code, body["description"]


@pytest.fixture
async def tg_api(tg_emulator: TelegramEmulator) -> AsyncIterator[BotApi]:
    api = BotApi(tg_emulator)
    try:
        yield api
    finally:
        await api.aclose()
