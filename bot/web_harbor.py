"""`POST /harbor`: Harbor's webhook events (docs/harbor-api.md §7), for `python -m bot web`.

Served only with HARBOR_WEBHOOK_SECRET set (404 otherwise; `doctor` says so): without a secret anyone
could post events. The contract is ours where §7 leaves it open and must not change under a provider
who configured it: `X-Harbor-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body.

What an anonymous caller can make it do, at most: a refusal before the body is read (no or malformed
signature header, a `Content-Length` over the cap, see bot/web_body.py), or reading at most MAX_BODY
bytes for at most WEB_BODY_TIMEOUT_SECONDS and one HMAC. No database write, no Harbor call.

A signed event is deduplicated on what the signature covers, the SHA-256 of the body, not on
`X-Harbor-Event-Id` (a header nobody signs: a captured body replayed under a new id is the same event).
Seen digests are kept for EVENT_RETENTION and swept; an event whose own `data.timestamp` is older than
that (or from the future beyond a clock skew) is not acted on, so the sweep never reopens a replay. An
event only asks for a look at the tower of one of our deliveries (bot/web_look.py); Harbor stays the
source of truth.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.deliveries.model import delivery_of_client_info
from bot.services import Services
from bot.web_look import TowerLooks
from storage.types import utcnow

log = logging.getLogger(__name__)

HARBOR_SIGNATURE_HEADER = "X-Harbor-Signature"
EVENT_RETENTION = timedelta(days=2)
CLOCK_SKEW = timedelta(minutes=10)
_SIGNATURE_CHARS = len("sha256=") + 64


def harbor_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def harbor_routes(services: Services, looks: TowerLooks) -> list[Route]:
    settings = services.settings
    secret = settings.harbor_webhook_secret.get_secret_value() if settings.harbor_webhook_secret else ""

    async def harbor_event(request: Request) -> Response:
        if not secret.strip():
            return Response(status_code=404)  # not served: events must be verifiable
        given = request.headers.get(HARBOR_SIGNATURE_HEADER, "")
        if len(given) != _SIGNATURE_CHARS or not given.startswith("sha256="):
            return Response(status_code=401)  # refused before the body is read
        body = await request.body()  # bounded in size and time by bot.web_body.BodyLimits
        if not hmac.compare_digest(given.encode(), harbor_signature(secret, body).encode()):
            log.warning("Harbor event refused: bad signature")
            return Response(status_code=403)
        event = _parse(body)
        if event is None:
            return Response(status_code=400)
        now = utcnow()
        when = _timestamp(event)
        if when is not None and not now - EVENT_RETENTION < when < now + CLOCK_SKEW:
            log.warning("Harbor event ignored: its timestamp %s is outside the retention window", when)
            return JSONResponse({"ignored": "stale"})
        if not await services.repo.first_sighting("sha256:" + hashlib.sha256(body).hexdigest()):
            return JSONResponse({"duplicate": True})
        await services.repo.forget_events_before(now - EVENT_RETENTION)
        tower_id = await _tower_of(services, event.get("data"))
        if tower_id is None:
            return JSONResponse({"ignored": True})
        await looks.now(tower_id)
        return JSONResponse({"checking": tower_id}, status_code=202)

    return [Route("/harbor", harbor_event, methods=["POST"])]


def _parse(body: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(body)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _timestamp(event: dict[str, Any]) -> datetime | None:
    """The event's time (§7: `data.timestamp` carries its zone; the outer one does not)."""
    data = event.get("data")
    value = data.get("timestamp") if isinstance(data, dict) else None
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


async def _tower_of(services: Services, data: object) -> str | None:
    """The tower to look at, for an event about one of our deliveries (others' events are not ours)."""
    if not isinstance(data, dict):
        return None
    value = data.get("client_info")
    delivery_id = delivery_of_client_info(value if isinstance(value, str) else None)
    if delivery_id is None:
        return None
    delivery = await services.repo.get_delivery(delivery_id)
    if delivery is None or delivery.tower_id is None:
        return None
    return delivery.tower_id.lower()
