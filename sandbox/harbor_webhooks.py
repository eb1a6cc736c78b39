"""Webhook events of the Harbor simulator (docs/harbor-api.md §7), and our signature contract.

The contract (§7 leaves the signature open [U]; this module is the one place that settles it):
every event is POSTed as JSON ``{"id", "timestamp", "event", "data"}`` where ``timestamp`` is naive ISO
(UTC without a zone, as §7's example has it), ``data`` carries all eleven §7 keys (null where unknown,
``data.timestamp`` ISO with ``+00:00``) and ``id`` is unique per event. Headers: ``X-Harbor-Event-Id: <id>``
(the same id, so receivers can deduplicate without parsing) and, only when a shared secret is set,
``X-Harbor-Signature: sha256=<hex HMAC-SHA256 of the raw request body, keyed with the secret>``; receivers
verify with :func:`verify_signature` (constant-time) before parsing. A delivery counts when the receiver
answers 2xx; otherwise it is retried ``retries`` times after ``retry_delay`` seconds, then given up (and
recorded). Events go out one at a time, in the order they happened. With ``duplicate_events`` each event
is sent twice (same id, same body), to test that receivers deduplicate.

Events sent: ``LOCKER_OPERATION`` with ``data.source`` ``LOCKER_TOKEN_CREATED`` when a drop-off or pick-up
token is issued (``locker_status`` the locker's status afterwards: ``rented`` for a drop-off) and
``LOCKER_TOKEN_USED`` when /_sim/use-token uses one (``occupied`` after a drop-off, ``available`` after a
pick-up). ``client_info`` echoes the token request's. The simulator has one webhook for all clients.

Sending never blocks the request that caused the event: :meth:`HarborWebhooks.emit` only queues, and a
worker task (started lazily in the running loop, ending when the queue is empty) posts. Tests await
:meth:`HarborWebhooks.idle` (``HarborSimulator.webhooks_idle()``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.harbor_base import LockerRecord, TokenRecord, iso

SIGNATURE_HEADER = "X-Harbor-Signature"
EVENT_ID_HEADER = "X-Harbor-Event-Id"
DATA_KEYS = (
    "timestamp",
    "locker_id",
    "locker_status",
    "tower_id",
    "source",
    "reservation_id",
    "open_locker_token_id",
    "keypad_code",
    "client_info",
    "locker_open_request_id",
    "locker_open_request_payload",
)


def sign(body: bytes, secret: str) -> str:
    """The ``X-Harbor-Signature`` value for a raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, secret: str, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` with ``secret`` (constant-time comparison)."""
    return header is not None and hmac.compare_digest(sign(body, secret), header)


@dataclass
class Delivery:
    """What became of one send of an event: the last HTTP status (None: no answer), attempts made."""

    event_id: str
    url: str
    attempts: int = 0
    status: int | None = None
    error: str | None = None
    delivered: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Outgoing:
    url: str
    secret: str | None
    event_id: str
    body: bytes


class HarborWebhooks:
    """The simulator's webhook registration and its delivery queue."""

    def __init__(
        self,
        url: str | None = None,
        secret: str | None = None,
        *,
        duplicate_events: bool = False,
        retries: int = 2,
        retry_delay: float = 0.2,
        timeout: float = 5.0,
    ) -> None:
        if retries < 0 or retry_delay < 0:
            raise ValueError("retries and retry_delay must not be negative")
        self.url, self.secret, self.duplicate_events = url, secret, duplicate_events
        self.retries, self.retry_delay, self.timeout = retries, retry_delay, timeout
        self.events: list[dict[str, Any]] = []  # every envelope emitted while a URL was set
        self.deliveries: list[Delivery] = []
        self._queue: deque[_Outgoing] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def configure(self, url: str | None, secret: str | None = None, *, duplicate_events: bool | None = None) -> None:
        """Set (or, with url None, clear) the webhook; events already queued keep their URL and secret."""
        self.url, self.secret = url or None, (secret or None) if url else None
        if duplicate_events is not None:
            self.duplicate_events = duplicate_events

    def state(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "has_secret": self.secret is not None,
            "duplicate_events": self.duplicate_events,
            "pending": len(self._queue),
            "deliveries": [d.as_dict() for d in self.deliveries],
        }

    def token_event(
        self, source: str, token: TokenRecord, locker: LockerRecord, now: datetime, reservation_id: int | None = None
    ) -> dict[str, Any] | None:
        """Queue a LOCKER_OPERATION event about a drop-off/pick-up token; returns the envelope (None: no URL)."""
        data: dict[str, Any] = dict.fromkeys(DATA_KEYS)
        data.update(
            timestamp=iso(now),
            locker_id=locker.id,
            locker_status=locker.status,
            tower_id=locker.tower_id,
            source=source,
            reservation_id=reservation_id,
            open_locker_token_id=token.id,
            client_info=token.client_info,
        )
        return self.emit("LOCKER_OPERATION", data, now)

    def emit(self, event: str, data: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        if self.url is None:
            return None
        envelope: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "timestamp": now.astimezone(UTC).replace(tzinfo=None).isoformat(),
            "event": event,
            "data": data,
        }
        self.events.append(envelope)
        outgoing = _Outgoing(self.url, self.secret, envelope["id"], json.dumps(envelope).encode())
        self._queue.extend([outgoing] * (2 if self.duplicate_events else 1))
        self._start()
        return envelope

    async def idle(self) -> None:
        """Wait until every queued event was delivered or given up."""
        while self._queue or (self._worker is not None and not self._worker.done()):
            self._start()  # events emitted outside a running loop are sent from here
            assert self._worker is not None
            await asyncio.wait({self._worker})  # not `await task`: a cancelled waiter must not cancel it

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _start(self) -> None:
        if not self._queue or (self._worker is not None and not self._worker.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # called synchronously outside a loop: idle() will send
        self._worker = loop.create_task(self._run(), name="harbor-webhooks")

    async def _run(self) -> None:
        while self._queue:
            await self._send(self._queue[0])
            self._queue.popleft()  # only after the send, so idle() sees it as pending until then

    async def _send(self, outgoing: _Outgoing) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        headers = {"Content-Type": "application/json", EVENT_ID_HEADER: outgoing.event_id}
        if outgoing.secret is not None:
            headers[SIGNATURE_HEADER] = sign(outgoing.body, outgoing.secret)
        delivery = Delivery(outgoing.event_id, outgoing.url)
        self.deliveries.append(delivery)
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.retry_delay)
            delivery.attempts += 1
            try:
                response = await self._client.post(outgoing.url, content=outgoing.body, headers=headers)
            except httpx.HTTPError as exc:
                delivery.status, delivery.error = None, f"{type(exc).__name__}: {exc}"
                continue
            delivery.status, delivery.error = response.status_code, None
            if 200 <= response.status_code < 300:
                delivery.delivered = True
                return


async def webhook_hook(request: Request) -> Response:
    """/_sim/webhook: GET the registration and deliveries; POST {"url", "secret"?, "duplicate_events"?} to
    set it (url null clears); DELETE to clear."""
    webhooks: HarborWebhooks = request.app.state.simulator.webhooks
    if request.method == "DELETE":
        webhooks.configure(None)
    elif request.method == "POST":
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONResponse({"detail": "body must be JSON"}, 422)
        if not isinstance(body, dict) or set(body) - {"url", "secret", "duplicate_events"}:
            return JSONResponse({"detail": "expected {url, secret?, duplicate_events?}"}, 422)
        url, secret, duplicate = body.get("url"), body.get("secret"), body.get("duplicate_events")
        if not isinstance(url, str | None) or not isinstance(secret, str | None):
            return JSONResponse({"detail": "url and secret must be strings or null"}, 422)
        if url is not None and not url.startswith(("http://", "https://")):
            return JSONResponse({"detail": "url must be http(s)"}, 422)
        if not isinstance(duplicate, bool | None):
            return JSONResponse({"detail": "duplicate_events must be a boolean"}, 422)
        webhooks.configure(url, secret, duplicate_events=duplicate)
    return JSONResponse(webhooks.state())
