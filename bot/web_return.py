"""`GET /harbor/return/{token}`: where Harbor's Locker Open app sends the customer after an attempt.

Anyone can open this URL, so it trusts nothing it is given (docs/harbor-api.md §6.3 names the query
parameters LockerDrop reads — `status`, `open_locker_request` — but not what Harbor guarantees): it only
asks for a look at the tower of that delivery, as a Harbor event does, and answers a short page that
sends the customer back to Telegram. What happened is read from Harbor by the watch and told in the chat.

Our returnUrl is `{WEBHOOK_URL}/harbor/return/{delivery}.{mac}` (bot/deliveries/sealing.py): a token
the bot signed, so counting ids names nothing. Looks are coalesced per tower (bot/web_look.py). What
an anonymous caller costs, at most: a database read of the coalescing row for a valid token (only
someone who was sent the link has one), nothing but the page for anything else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bot.deliveries.sealing import delivery_of_return_token
from bot.jobs import Scheduler
from bot.ptb_types import BotApplication
from bot.services import Services
from bot.ui import link_views
from bot.web_look import TowerLooks

log = logging.getLogger(__name__)

RETURN_PATH = "/harbor/return"


def return_routes(get_application: Callable[[], BotApplication], looks: TowerLooks | None = None) -> list[Route]:
    """The routes, for `bot.web` (and a test serving the same endpoint beside a polling bot)."""
    made: list[TowerLooks] = [looks] if looks is not None else []

    def tower_looks(services: Services, scheduler: Scheduler) -> TowerLooks:
        if not made:
            made.append(TowerLooks(services, scheduler))
        return made[0]

    async def harbor_return(request: Request) -> Response:
        application = get_application()
        services: Services = application.bot_data["services"]
        raw = request.path_params.get("token", "")
        delivery_id = delivery_of_return_token(services.deliveries.policy.secret, raw) if raw else None
        delivery = await services.repo.get_delivery(delivery_id) if delivery_id is not None else None
        if delivery is not None and delivery.state.is_open and delivery.tower_id:
            await tower_looks(services, application.bot_data["scheduler"]).ask(delivery.tower_id)
        try:
            username: str | None = application.bot.username
        except RuntimeError:  # not initialised yet: the page simply has no link back
            username = None
        return HTMLResponse(link_views.return_page(username), headers={"Cache-Control": "no-store"})

    return [
        Route(RETURN_PATH, harbor_return, methods=["GET"]),
        Route(RETURN_PATH + "/{token}", harbor_return, methods=["GET"]),
    ]
