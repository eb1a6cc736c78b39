"""Webhook delivery by the Telegram emulator: pushed in order with the secret header, retried, reported in
getWebhookInfo, filtered by allowed_updates, limited by max_connections; URL rules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import CommandHandler, ContextTypes

from sandbox.telegram import TelegramEmulator
from tests.sandbox.telegram_fixtures import BotApi, serve_app
from tests.sandbox.webhook_fixtures import Receiver, closed_port

pytestmark = pytest.mark.asyncio

SECRET = "s3cret-Token_1"


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(allow_insecure_webhooks=True, webhook_retry_delay=0.01)
    emulator.add_bot()
    try:
        yield emulator
    finally:
        await emulator.aclose()


@pytest.fixture
async def api(emulator: TelegramEmulator) -> AsyncIterator[BotApi]:
    api = BotApi(emulator)
    try:
        yield api
    finally:
        await api.aclose()


async def idle(emulator: TelegramEmulator) -> None:
    async with asyncio.timeout(5):
        await emulator.webhook_idle()


async def test_updates_are_posted_in_order_with_the_secret(emulator: TelegramEmulator, api: BotApi) -> None:
    receiver = Receiver()
    async with serve_app(receiver.app) as root:
        assert await api.ok("setWebhook", url=f"{root}/tg/hook", secret_token=SECRET) is True
        user = emulator.user(7, "Ann")
        for text in ("one", "two", "three"):
            await user.send_text(text)
        await idle(emulator)
    assert [r.json["message"]["text"] for r in receiver.received] == ["one", "two", "three"]
    ids = [r.json["update_id"] for r in receiver.received]
    assert ids == sorted(ids)
    assert all(r.path == "/tg/hook" for r in receiver.received)
    assert all(r.headers["x-telegram-bot-api-secret-token"] == SECRET for r in receiver.received)
    assert all(r.headers["content-type"] == "application/json" for r in receiver.received)
    assert receiver.max_in_flight == 1  # one chat: never two of its updates at once
    info = await api.ok("getWebhookInfo")
    assert info["pending_update_count"] == 0
    assert "last_error_date" not in info
    status, text = await api.error("getUpdates")
    assert (status, "webhook is active" in text) == (409, True)


async def test_no_secret_header_without_a_secret_token(emulator: TelegramEmulator, api: BotApi) -> None:
    receiver = Receiver()
    async with serve_app(receiver.app) as root:
        await api.ok("setWebhook", url=f"{root}/hook")
        await emulator.user(7, "Ann").send_text("hi")
        await idle(emulator)
    assert "x-telegram-bot-api-secret-token" not in receiver.received[0].headers


async def test_a_500_is_retried_and_reported(emulator: TelegramEmulator, api: BotApi) -> None:
    receiver = Receiver([500])
    async with serve_app(receiver.app) as root:
        await api.ok("setWebhook", url=f"{root}/hook")
        await emulator.user(7, "Ann").send_text("again")
        await idle(emulator)
    first, second = receiver.received
    assert first.body == second.body  # the same update, resent
    info = await api.ok("getWebhookInfo")
    assert info["pending_update_count"] == 0
    assert info["last_error_message"] == "Wrong response from the webhook: 500 Internal Server Error"
    assert abs(info["last_error_date"] - time.time()) < 5
    assert [a.status for a in emulator.webhooks.attempts] == [500, 200]


async def test_an_unreachable_webhook_keeps_updates_pending(emulator: TelegramEmulator, api: BotApi) -> None:
    await api.ok("setWebhook", url=f"http://127.0.0.1:{closed_port()}/hook")
    await emulator.user(7, "Ann").send_text("anyone?")
    async with asyncio.timeout(5):
        attempts = await emulator.webhooks.wait_attempts(2)
    assert {a.error for a in attempts} == {"Connection refused"}
    info = await api.ok("getWebhookInfo")
    assert (info["pending_update_count"], info["last_error_message"]) == (1, "Connection refused")
    await api.ok("deleteWebhook")  # as on Telegram, what was not delivered is there for getUpdates
    assert [u["message"]["text"] for u in await api.ok("getUpdates")] == ["anyone?"]


async def test_allowed_updates_and_drop_pending_updates(emulator: TelegramEmulator, api: BotApi) -> None:
    user = emulator.user(7, "Ann")
    await user.send_text("queued before the webhook")
    await api.ok(
        "sendMessage",
        chat_id=7,
        text="Pick",
        reply_markup={"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]},
    )
    receiver = Receiver()
    async with serve_app(receiver.app) as root:
        await api.ok("setWebhook", url=f"{root}/hook", allowed_updates=["callback_query"], drop_pending_updates=True)
        info = await api.ok("getWebhookInfo")
        assert (info["pending_update_count"], info["allowed_updates"]) == (0, ["callback_query"])
        await user.send_text("not asked for")
        await user.press("Go", timeout=0)
        await idle(emulator)
    assert [list(r.json)[1] for r in receiver.received] == ["callback_query"]
    assert receiver.received[0].json["callback_query"]["data"] == "go"


async def test_updates_queued_before_set_webhook_are_delivered(emulator: TelegramEmulator, api: BotApi) -> None:
    await emulator.user(7, "Ann").send_text("early")
    receiver = Receiver()
    async with serve_app(receiver.app) as root:
        await api.ok("setWebhook", url=f"{root}/hook")
        await idle(emulator)
    assert [r.json["message"]["text"] for r in receiver.received] == ["early"]


async def test_max_connections_limits_parallel_requests(emulator: TelegramEmulator, api: BotApi) -> None:
    receiver = Receiver(hold=True)
    async with serve_app(receiver.app) as root:
        await api.ok("setWebhook", url=f"{root}/hook", max_connections=2)
        for user_id in (1, 2, 3):  # three chats: they may go in parallel, up to the limit
            await emulator.user(user_id, f"User {user_id}").send_text("hi")
        await receiver.wait_for(2)
        assert (await api.ok("getWebhookInfo"))["pending_update_count"] == 3
        receiver.release.set()
        await idle(emulator)
    assert receiver.max_in_flight == 2
    assert sorted(r.json["message"]["chat"]["id"] for r in receiver.received) == [1, 2, 3]


async def test_webhook_urls() -> None:
    strict = TelegramEmulator()
    strict.add_bot()
    api = BotApi(strict)
    try:
        for url, text in [
            ("http://127.0.0.1:8000/hook", "An HTTPS URL must be provided for webhook"),
            ("https://bot.example.com:8000/hook", "Webhook can be set up only on ports 80, 88, 443 or 8443"),
            ("https://127.0.0.1:9000/hook", "Webhook can be set up only on ports 80, 88, 443 or 8443"),
        ]:
            assert await api.error("setWebhook", url=url) == (400, f"Bad Request: bad webhook: {text}")
        assert await api.ok("setWebhook", url="https://bot.example.com:8443/hook") is True
    finally:
        await api.aclose()
    loose = TelegramEmulator(allow_insecure_webhooks=True)
    loose.add_bot()
    api = BotApi(loose)
    try:
        for url in ("http://bot.example.com/hook", "http://10.0.0.1:8000/hook", "ftp://127.0.0.1/hook"):
            status, text = await api.error("setWebhook", url=url)
            assert (status, text) == (400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        for url in ("http://127.0.0.1:9/h", "http://127.8.0.1:1234/", "http://localhost:5000/", "http://[::1]:81/"):
            assert await api.ok("setWebhook", url=url) is True, url
        assert await api.error("setWebhook", url="http://127.0.0.1:9/h", max_connections=0) == (
            400,
            "Bad Request: bad webhook: max_connections must be between 1 and 100",
        )
    finally:
        await api.aclose()


async def test_a_ptb_application_behind_the_webhook(emulator: TelegramEmulator) -> None:
    """A bot in webhook mode (Starlette endpoint feeding PTB's update queue): the driver works unchanged,
    and a wrong secret shows up in getWebhookInfo as Telegram reports it."""

    async def hello(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text("Hello from the webhook")

    application = emulator.application_builder().updater(None).build()
    application.add_handler(CommandHandler("start", hello))

    async def endpoint(request: Request) -> Response:
        if request.headers.get("x-telegram-bot-api-secret-token") != SECRET:
            return Response(status_code=403)
        await application.update_queue.put(Update.de_json(await request.json(), application.bot))
        return Response()

    app = Starlette(routes=[Route("/tg", endpoint, methods=["POST"])])
    async with application, serve_app(app) as root:
        await application.start()
        try:
            await application.bot.set_webhook(f"{root}/tg", secret_token="wrong")
            user = emulator.user(7, "Ann")
            await user.send_text("/start")
            async with asyncio.timeout(5):
                await emulator.webhooks.wait_attempts(1)
            info = await application.bot.get_webhook_info()
            assert info.last_error_message == "Wrong response from the webhook: 403 Forbidden"
            assert info.pending_update_count == 1
            await application.bot.set_webhook(f"{root}/tg", secret_token=SECRET)  # the retry gets through
            assert (await user.wait_for("Hello from the webhook")).content == "Hello from the webhook"
            await idle(emulator)
        finally:
            await application.stop()
