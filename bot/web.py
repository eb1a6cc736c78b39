"""The ASGI app of `python -m bot web` (DESIGN §8): many identical processes behind a TLS proxy.

- `POST /telegram`: one update, pushed by Telegram. It must carry `X-Telegram-Bot-Api-Secret-Token`
  equal to TELEGRAM_WEBHOOK_SECRET (compared in constant time); it is recorded in the inbox by its
  `update_id` and answered at once, then processed (bot/inbox.py): a repeat is acknowledged and ignored.
- `POST /harbor`: Harbor's webhook events (harbor-api.md §7). Verified when HARBOR_WEBHOOK_SECRET is set,
  deduplicated by event id, matched to a delivery through `client_info`; an event only asks for an
  immediate look at that tower (Harbor stays the source of truth) and is answered at once.
- `GET /harbor/return/{delivery}`: Locker Open's returnUrl (bot/web_return.py); only triggers a look.
- `GET /healthz`: the process is up. `GET /readyz`: the database answers, a Harbor token is held and
  the last watch round (by any process) is recent.

The Harbor signature is our contract where §7 leaves it open: `X-Harbor-Signature: sha256=<hex>`, the
HMAC-SHA256 of the raw body under the shared secret; `X-Harbor-Event-Id` (or the body's `id`) names
the event for deduplication.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update

from bot.deliveries.model import delivery_of_client_info
from bot.inbox import Inbox
from bot.jobs import Scheduler
from bot.ptb_types import BotApplication
from bot.services import Services
from bot.web_return import return_routes
from storage.models import JobKind
from storage.types import utcnow

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HARBOR_SIGNATURE_HEADER = "X-Harbor-Signature"
HARBOR_EVENT_ID_HEADER = "X-Harbor-Event-Id"
MAX_BODY = 1024 * 1024  # an update is a few KB; anything this large is not from Telegram or Harbor


def harbor_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def create_web_app(application: BotApplication) -> Starlette:
    services: Services = application.bot_data["services"]
    scheduler: Scheduler = application.bot_data["scheduler"]
    inbox: Inbox = application.bot_data["inbox"]
    settings = services.settings
    telegram_secret = settings.require_webhook_secret().get_secret_value().encode()
    harbor_secret = settings.harbor_webhook_secret.get_secret_value() if settings.harbor_webhook_secret else None
    background: set[asyncio.Task[None]] = set()

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

    async def harbor_event(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response(status_code=413)
        if harbor_secret is not None:
            given = request.headers.get(HARBOR_SIGNATURE_HEADER, "")
            if not hmac.compare_digest(given.encode(), harbor_signature(harbor_secret, body).encode()):
                log.warning("Harbor event refused: bad or missing signature")
                return Response(status_code=403)
        try:
            event: dict[str, Any] = json.loads(body)
            data: dict[str, Any] = event.get("data") or {}
        except (ValueError, AttributeError):
            return Response(status_code=400)
        event_id = request.headers.get(HARBOR_EVENT_ID_HEADER) or str(event.get("id") or "")
        event_id = event_id or hashlib.sha256(body).hexdigest()  # no id: the same body is the same event
        if not await services.repo.first_sighting(event_id):
            return JSONResponse({"duplicate": True})
        tower_id = await _tower_of(services, data)
        if tower_id is None:
            return JSONResponse({"ignored": True})
        # Durable first (any process's next tick would run it), then at once in this one.
        await services.repo.schedule(JobKind.CHECK_TOWER, tower_id, utcnow())
        task = asyncio.create_task(scheduler.tick())
        background.add(task)
        task.add_done_callback(background.discard)
        return JSONResponse({"checking": tower_id}, status_code=202)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        problems: list[str] = []
        try:
            await services.repo.ping()
        except Exception as exc:
            problems.append(f"database: {type(exc).__name__}")
        try:
            await services.harbor.service_token()
        except Exception as exc:
            problems.append(f"harbor token: {type(exc).__name__}")
        try:
            watch = await services.repo.job(JobKind.WATCH)
            recent = scheduler.watch_interval * 3 + timedelta(seconds=30)
            if watch is None or watch.last_run_at is None or utcnow() - watch.last_run_at > recent:
                problems.append("watch: no recent round")
        except Exception as exc:
            problems.append(f"watch: {type(exc).__name__}")
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await start_application(application)
        try:
            yield
        finally:
            for task in list(background):
                task.cancel()
            await stop_application(application)

    return Starlette(
        routes=[
            Route("/telegram", telegram_update, methods=["POST"]),
            Route("/harbor", harbor_event, methods=["POST"]),
            *return_routes(lambda: application),  # Locker Open's returnUrl (bot/web_return.py)
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
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


async def _tower_of(services: Services, data: dict[str, Any]) -> str | None:
    """The tower to look at, for an event about one of our deliveries (others' events are not ours)."""
    delivery_id = delivery_of_client_info(data.get("client_info"))
    if delivery_id is None:
        return None
    delivery = await services.repo.get_delivery(delivery_id)
    if delivery is None or delivery.tower_id is None:
        return None
    return delivery.tower_id.lower()
