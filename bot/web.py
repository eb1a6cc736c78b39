"""The ASGI app of `python -m bot web` (docs/design.md §8): many identical processes behind a TLS proxy.

- `POST /telegram`: one update, pushed by Telegram. It must carry `X-Telegram-Bot-Api-Secret-Token`
  equal to TELEGRAM_WEBHOOK_SECRET (compared in constant time); it is recorded in the inbox by its
  `update_id` and answered at once, then processed (bot/inbox.py): a repeat is acknowledged and ignored.
- `POST /harbor`: Harbor's webhook events (docs/harbor-api.md §7), bot/web_harbor.py: served only with
  HARBOR_WEBHOOK_SECRET set, signed, deduplicated on the body's digest; only asks for a look at a tower.
- `GET /harbor/return/{token}`: Locker Open's returnUrl (bot/web_return.py); only asks for a look.
- `GET /healthz`: the process is up. `GET /readyz`: each check and its state; 503 only when this
  process cannot serve (bot/web_health.py). `GET /metrics`: Prometheus metrics (bot/web_metrics.py).

Every request body is bounded in size and in time before a handler reads it (bot/web_body.py).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update

from bot.inbox import Inbox
from bot.jobs import Scheduler
from bot.ptb_types import BotApplication
from bot.services import Services
from bot.web_body import MAX_BODY, BodyLimits
from bot.web_harbor import harbor_routes
from bot.web_health import readiness_route
from bot.web_look import TowerLooks
from bot.web_metrics import metrics_route
from bot.web_return import return_routes

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def create_web_app(application: BotApplication) -> Starlette:
    services: Services = application.bot_data["services"]
    scheduler: Scheduler = application.bot_data["scheduler"]
    inbox: Inbox = application.bot_data["inbox"]
    settings = services.settings
    telegram_secret = settings.require_webhook_secret().get_secret_value().encode()
    looks = TowerLooks(services, scheduler)

    async def telegram_update(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return Response(status_code=401)
        if not hmac.compare_digest(given.encode(), telegram_secret):
            return Response(status_code=403)
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response(status_code=413)
        try:
            update = Update.de_json(json.loads(body), application.bot)
        except (ValueError, TypeError, KeyError):
            return Response(status_code=400)
        # Recorded in the inbox (a repeat is ignored) and answered at once; processed right after, in
        # this process, in the chat's order (bot/inbox.py). What escapes means it was not recorded: a
        # 500 makes Telegram deliver it again.
        await inbox.receive(update)
        return Response(status_code=200)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await start_application(application)
        try:
            yield
        finally:
            looks.cancel()
            await stop_application(application)

    return Starlette(
        routes=[
            Route("/telegram", telegram_update, methods=["POST"]),
            *harbor_routes(services, looks),  # bot/web_harbor.py
            *return_routes(lambda: application, looks),  # Locker Open's returnUrl (bot/web_return.py)
            Route("/healthz", healthz, methods=["GET"]),
            readiness_route(lambda: application),  # bot/web_health.py
            metrics_route(lambda: application),  # bot/web_metrics.py
        ],
        middleware=[Middleware(BodyLimits, timeout=settings.web_body_timeout_seconds)],
        lifespan=lifespan,
    )


async def start_application(application: BotApplication) -> None:
    """What run_polling does around its loop, without the polling: hooks, the job queue, the processor."""
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    await application.start()


async def stop_application(application: BotApplication) -> None:
    await application.stop()
    if application.post_shutdown is not None:
        await application.post_shutdown(application)
    await application.shutdown()
