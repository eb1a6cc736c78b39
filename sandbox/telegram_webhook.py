"""Webhook delivery for the Telegram emulator, the way Telegram does it.

While a bot has a webhook, its updates stay in ``BotAccount.updates`` (so getWebhookInfo's
``pending_update_count`` is simply their number, and deleteWebhook leaves them for getUpdates, as on
Telegram) and a per-bot worker task POSTs them to the webhook URL:

* in ``update_id`` order; updates of one chat are never in flight together, so a chat's updates arrive in
  order even across retries, while different chats use up to ``max_connections`` requests at once;
* an update is done on a 2xx answer; any other answer or a network error is recorded as the bot's last
  error (``last_error_date``, ``last_error_message`` in getWebhookInfo) and retried after a growing delay
  (``retry_delay`` doubled per attempt, capped) until it succeeds or the webhook is removed;
* with the header ``X-Telegram-Bot-Api-Secret-Token`` when the webhook has a secret token.

The worker starts lazily in the running loop when an update or a webhook arrives and ends once nothing is
pending, so no task outlives a test that forgot to close the emulator; the httpx client is closed by
``TelegramEmulator.aclose()``. The webhook's JSON reply (Telegram's "method in the response") is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from sandbox.telegram_records import BotAccount

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TELEGRAM_PORTS = (None, 443, 80, 88, 8443)
MAX_RETRY_DELAY = 60.0
DELIVERY_TIMEOUT = 10.0


@dataclass
class WebhookAttempt:
    """One POST of an update to a webhook: ``status`` is the HTTP answer, ``error`` the getWebhookInfo text
    (None on success). ``at`` is ``time.monotonic()`` when the answer (or the failure) came."""

    token: str
    update_id: int
    url: str
    status: int | None
    error: str | None
    at: float


@dataclass
class _BotHook:
    """Runtime state of one bot's delivery (the webhook settings themselves live in ``BotAccount.webhook``)."""

    in_flight: set[int] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    worker: asyncio.Task[None] | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


def webhook_url_error(url: str, *, allow_insecure: bool) -> str | None:
    """Why Telegram would refuse this webhook URL (the text after "Bad Request: "), or None.

    Telegram takes HTTPS on ports 443, 80, 88 and 8443 only. ``allow_insecure`` adds http and any port,
    but only on loopback hosts (127.0.0.0/8, localhost, ::1), so tests can point it at a local server
    without opening the emulator up to arbitrary plain-HTTP targets.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return "bad webhook: Wrong port number specified in the URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "bad webhook: An HTTPS URL must be provided for webhook"
    if allow_insecure and _is_loopback(parts.hostname):
        return None
    if parts.scheme != "https":
        return "bad webhook: An HTTPS URL must be provided for webhook"
    if port not in TELEGRAM_PORTS:
        return "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
    return None


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _chat_key(update: dict[str, Any]) -> Any:
    """What must stay in order: the chat of the update, else its sender; None groups the rest together."""
    for kind, payload in update.items():
        if kind == "update_id" or not isinstance(payload, dict):
            continue
        chat = payload.get("chat") or (payload.get("message") or {}).get("chat")
        if chat:
            return ("chat", chat["id"])
        if payload.get("from"):
            return ("user", payload["from"]["id"])
    return None


def _describe_failure(exc: httpx.HTTPError) -> str:
    """getWebhookInfo's last_error_message for a network failure, in Telegram's words."""
    if isinstance(exc, httpx.TimeoutException):
        return "Read timeout expired"
    text = str(exc).lower()
    if isinstance(exc, httpx.ConnectError) and ("name" in text or "resolve" in text or "nodename" in text):
        return "Failed to resolve host: Name or service not known"
    if isinstance(exc, httpx.ConnectError):
        return "Connection refused"
    return "Connection reset by peer"


def _describe_status(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"Wrong response from the webhook: {status} {phrase}"


class WebhookDispatcher:
    """Delivers the updates of every bot that has a webhook (one instance per emulator)."""

    def __init__(
        self,
        *,
        allow_insecure: bool = False,
        retry_delay: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if retry_delay < 0:
            raise ValueError("retry_delay must not be negative")
        self.allow_insecure = allow_insecure
        self.retry_delay = retry_delay
        self.clock = clock  # for last_error_date (the emulator's clock, so tests can freeze it)
        self.attempts: list[WebhookAttempt] = []
        self._hooks: dict[str, _BotHook] = {}
        self._client: httpx.AsyncClient | None = None
        self._attempted = asyncio.Condition()

    # -- what the emulator calls ------------------------------------------------------------------

    def check_url(self, url: str) -> str | None:
        return webhook_url_error(url, allow_insecure=self.allow_insecure)

    def kick(self, bot: BotAccount) -> None:
        """Make sure a worker delivers the bot's pending updates (call after queueing or setting a webhook)."""
        hook = self._hook(bot)
        if not bot.webhook or not bot.updates or (hook.worker is not None and not hook.worker.done()):
            return
        hook.worker = asyncio.get_running_loop().create_task(self._run(bot, hook), name=f"webhook:{bot.username}")

    def info(self, bot: BotAccount) -> dict[str, Any]:
        """The error fields of getWebhookInfo (present once a delivery failed, as on Telegram)."""
        hook = self._hook(bot)
        if hook.last_error_date is None:
            return {}
        return {"last_error_date": hook.last_error_date, "last_error_message": hook.last_error_message}

    async def idle(self, bot: BotAccount) -> None:
        """Wait until no update is waiting for the webhook (returns at once when no webhook is set)."""
        self.kick(bot)
        async with bot.cond:
            await bot.cond.wait_for(lambda: not bot.webhook or not bot.updates)

    async def wait_attempts(self, count: int, *, token: str | None = None) -> list[WebhookAttempt]:
        """Wait until at least ``count`` POSTs (to the bot with ``token``, or any) have been answered or have
        failed; returns those attempts."""

        def mine() -> list[WebhookAttempt]:
            return [a for a in self.attempts if token is None or a.token == token]

        async with self._attempted:
            await self._attempted.wait_for(lambda: len(mine()) >= count)
        return mine()

    async def aclose(self) -> None:
        """Stop every delivery and close the HTTP client (undelivered updates stay pending)."""
        tasks = [t for h in self._hooks.values() for t in (*h.tasks, h.worker) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- delivery ---------------------------------------------------------------------------------

    def _hook(self, bot: BotAccount) -> _BotHook:
        return self._hooks.setdefault(bot.token, _BotHook())

    def _ready(self, bot: BotAccount, hook: _BotHook) -> list[dict[str, Any]]:
        """The pending updates that may start now: in order, one per chat, within max_connections."""
        assert bot.webhook is not None
        room = bot.webhook["max_connections"] - len(hook.in_flight)
        busy: set[Any] = set()
        ready: list[dict[str, Any]] = []
        for update in bot.updates:
            key = _chat_key(update)
            if update["update_id"] not in hook.in_flight and key not in busy and len(ready) < room:
                ready.append(update)
            busy.add(key)  # later updates of this chat wait for this one
        return ready

    async def _run(self, bot: BotAccount, hook: _BotHook) -> None:
        while True:
            async with bot.cond:
                await bot.cond.wait_for(lambda: not bot.webhook or not bot.updates or bool(self._ready(bot, hook)))
                if not bot.webhook or not bot.updates:
                    return  # in-flight deliveries finish on their own
                for update in self._ready(bot, hook):
                    hook.in_flight.add(update["update_id"])
                    task = asyncio.get_running_loop().create_task(self._deliver(bot, hook, update))
                    hook.tasks.add(task)
                    task.add_done_callback(hook.tasks.discard)

    async def _deliver(self, bot: BotAccount, hook: _BotHook, update: dict[str, Any]) -> None:
        update_id = update["update_id"]
        body = json.dumps(update, ensure_ascii=False).encode()
        failures = 0
        try:
            while bot.webhook and any(u["update_id"] == update_id for u in bot.updates):
                if await self._post(bot, hook, bot.webhook, update_id, body):
                    bot.updates = [u for u in bot.updates if u["update_id"] != update_id]
                    return
                failures += 1
                await asyncio.sleep(min(self.retry_delay * 2 ** (failures - 1), max(MAX_RETRY_DELAY, self.retry_delay)))
        finally:
            hook.in_flight.discard(update_id)
            with contextlib.suppress(asyncio.CancelledError):
                async with bot.cond:
                    bot.cond.notify_all()

    async def _post(
        self, bot: BotAccount, hook: _BotHook, webhook: dict[str, Any], update_id: int, body: bytes
    ) -> bool:
        if self._client is None:
            # Redirects are not followed: Telegram counts a 3xx as a wrong response.
            self._client = httpx.AsyncClient(timeout=DELIVERY_TIMEOUT, follow_redirects=False)
        headers = {"Content-Type": "application/json"}
        if webhook.get("secret_token"):
            headers[SECRET_HEADER] = webhook["secret_token"]
        status: int | None = None
        try:
            response = await self._client.post(webhook["url"], content=body, headers=headers)
            status = response.status_code
            error = None if 200 <= status < 300 else _describe_status(status)
        except httpx.HTTPError as exc:
            error = _describe_failure(exc)
        if error is not None:
            hook.last_error_date, hook.last_error_message = int(self.clock()), error
        self.attempts.append(WebhookAttempt(bot.token, update_id, webhook["url"], status, error, time.monotonic()))
        async with self._attempted:
            self._attempted.notify_all()
        return error is None
