"""Where the metrics (bot/metrics.py) meet python-telegram-bot and HTTP.

- `MeteredApplication`: the one place updates are measured (kind, outcome, latency), whichever way
  they arrive (polling, or `POST /telegram` calling `process_update`).
- `MeteredRequest`: wraps the Bot API transport; each call counted by method and result (a 429 is
  `result="429"`). The bot token is in the URL: only the method name (its last segment) is kept.
- `metrics_route`: `GET /metrics` of `web`; `MetricsListener`: the same page on METRICS_PORT for `run`.

A scrape costs an anonymous caller at most the few indexed queries of storage/gauges.py, once every
few seconds whatever the rate of scrapes (the figures are cached), and the rendering of the page.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram.error import NetworkError
from telegram.ext import Application
from telegram.request import BaseRequest

from bot.handlers.common import update_kind
from bot.metrics import CONTENT_TYPE, Metrics, Outcome, mark_update
from bot.ptb_types import BotApplication
from bot.request_wrap import DelegatingRequest, Send
from bot.web_serve import EmbeddedServer

log = logging.getLogger(__name__)


class MeteredApplication(Application[Any, Any, Any, Any, Any, Any]):
    """PTB's Application, measuring each update; built by ApplicationBuilder.application_class."""

    def __init__(self, *, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics

    async def process_update(self, update: object) -> None:
        started = time.perf_counter()
        token = self.metrics.start_update()
        try:
            await super().process_update(update)
        finally:
            self.metrics.end_update(token, update_kind(update), started)

    async def process_error(self, update: object | None, error: Exception, *args: Any, **kwargs: Any) -> bool:
        if update is not None:
            mark_update(Outcome.ERROR)
        return await super().process_error(update, error, *args, **kwargs)


class MeteredRequest(DelegatingRequest):
    """A Bot API transport that counts each call, around the real one."""

    def __init__(self, inner: BaseRequest, metrics: Metrics) -> None:
        super().__init__(inner)
        self.metrics = metrics

    async def around(self, url: str, send: Send) -> tuple[int, bytes]:
        api_method = url.rstrip("/").rpartition("/")[2]
        try:
            status, body = await send()
        except NetworkError:
            self.metrics.bot_api_calls.labels(api_method, "error").inc()
            raise
        self.metrics.bot_api_calls.labels(api_method, "ok" if status == 200 else str(status)).inc()
        return status, body


def metrics_of(application: BotApplication) -> Metrics:
    metrics: Metrics = application.bot_data["metrics"]
    return metrics


async def render(application: BotApplication) -> Response:
    metrics = metrics_of(application)
    services = application.bot_data["services"]
    await metrics.refresh_database_gauges(services.repo.session_factory, application.bot_data["database"])
    return Response(metrics.exposition(), media_type=CONTENT_TYPE)


def metrics_route(application: Callable[[], BotApplication]) -> Route:
    async def page(request: Request) -> Response:
        return await render(application())

    return Route("/metrics", page, methods=["GET"])


class MetricsListener:
    """`GET /metrics` on host:port for `python -m bot run` (METRICS_PORT), started with the bot."""

    def __init__(self, application: BotApplication, host: str, port: int) -> None:
        app = Starlette(routes=[metrics_route(lambda: application)])
        self._server = EmbeddedServer(uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="off"))
        self._task: asyncio.Task[None] | None = None
        self._host, self._port = host, port

    async def start(self) -> None:
        # Bound here, so a port in use stops the start with its error instead of a silent task.
        sock = socket.create_server((self._host, self._port), reuse_port=False)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task


def serve_metrics_with(application: BotApplication, host: str, port: int) -> MetricsListener:
    """Start the listener after the bot's own start hook, stop it before the bot's stop hook."""
    listener = MetricsListener(application, host, port)
    on_start, on_stop = application.post_init, application.post_shutdown

    async def started(app: BotApplication) -> None:
        if on_start is not None:
            await on_start(app)
        await listener.start()

    async def stopping(app: BotApplication) -> None:
        await listener.stop()
        if on_stop is not None:
            await on_stop(app)

    application.post_init = started
    application.post_shutdown = stopping
    return listener
