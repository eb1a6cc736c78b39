"""`GET /harbor/return/{delivery}`: where Harbor's Locker Open app sends the customer after an attempt.

Anyone can open this URL, so it trusts nothing it is given (docs/harbor-api.md §6.3 names the query
parameters LockerDrop reads — `status`, `open_locker_request` — but not what Harbor guarantees): it only
asks for an immediate look at the tower of that delivery, as a Harbor event does, and answers a short
page that sends the customer back to Telegram. What happened is read from Harbor by the watch and told
in the chat. The delivery is in the path because our returnUrl is `{WEBHOOK_URL}/harbor/return/{id}`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bot.jobs import Scheduler
from bot.ptb_types import BotApplication
from bot.services import Services
from bot.ui import link_views
from storage.models import JobKind
from storage.types import utcnow

log = logging.getLogger(__name__)

RETURN_PATH = "/harbor/return"
MAX_ID = 2**63 - 1


def return_routes(get_application: Callable[[], BotApplication]) -> list[Route]:
    """The routes, for `bot.web` (and a test serving the same endpoint beside a polling bot)."""
    background: set[asyncio.Task[None]] = set()

    async def harbor_return(request: Request) -> Response:
        application = get_application()
        services: Services = application.bot_data["services"]
        scheduler: Scheduler = application.bot_data["scheduler"]
        raw_id = request.path_params.get("delivery_id", "")
        delivery_id = int(raw_id) if raw_id.isdigit() and int(raw_id) <= MAX_ID else None
        delivery = await services.repo.get_delivery(delivery_id) if delivery_id is not None else None
        if delivery is not None and delivery.state.is_open and delivery.tower_id:
            # Durable first (any process's next tick would run it), then at once in this one.
            await services.repo.schedule(JobKind.CHECK_TOWER, delivery.tower_id.lower(), utcnow())
            task = asyncio.create_task(scheduler.tick())
            background.add(task)
            task.add_done_callback(background.discard)
        try:
            username: str | None = application.bot.username
        except RuntimeError:  # not initialised yet: the page simply has no link back
            username = None
        return HTMLResponse(link_views.return_page(username), headers={"Cache-Control": "no-store"})

    return [
        Route(RETURN_PATH, harbor_return, methods=["GET"]),
        Route(RETURN_PATH + "/{delivery_id}", harbor_return, methods=["GET"]),
    ]
