# ruff: noqa: F811  (pytest fixtures imported from tests.sandbox.telegram_fixtures)
"""The emulator's HTTP control API (sandbox/telegram_control.py): everything a person does, over HTTP, as
the updates a bot receives; the chat read back with buttons, photos and their QR codes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from typing import Any

import httpx
import pytest

from bot.ui.qr import render_qr
from sandbox.telegram import DEFAULT_TOKEN, TelegramEmulator
from tests.sandbox.telegram_fixtures import BotApi, tg_api, tg_emulator  # noqa: F401  (fixtures)

USER = 7


async def updates(tg_api: BotApi) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await tg_api.ok("getUpdates", timeout=0)
    if found:
        await tg_api.ok("getUpdates", offset=found[-1]["update_id"] + 1, timeout=0)
    return found


async def control(tg_api: BotApi, action: str, **body: Any) -> Any:
    answer = await tg_api.client.post(f"/_sandbox/{action}", json={"user_id": USER, **body})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_person_over_http(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    await control(tg_api, "send", text="/dropoff now", first_name="Zoe", username="zoe", language_code="es")
    [sent] = [u["message"] for u in await updates(tg_api)]
    assert sent["text"] == "/dropoff now" and sent["entities"][0]["type"] == "bot_command"
    assert (sent["from"]["first_name"], sent["from"]["username"], sent["from"]["language_code"]) == ("Zoe", "zoe", "es")

    await control(tg_api, "location", latitude=37.7793, longitude=-122.4193)
    await control(tg_api, "venue", latitude=37.78, longitude=-122.41, title="Civic Center", address="1 Main St")
    await control(tg_api, "start", link="https://t.me/harbor_test_bot?start=abc_123")
    await control(tg_api, "start", payload="xyz")
    location, venue, link, deep = [u["message"] for u in await updates(tg_api)]
    assert location["location"] == {"latitude": 37.7793, "longitude": -122.4193}
    assert venue["venue"]["title"] == "Civic Center"
    assert (link["text"], deep["text"]) == ("/start abc_123", "/start xyz")
    assert deep["from"]["first_name"] == "Zoe"  # the name given once stays
    await control(tg_api, "send", text="hi", first_name="Zoé")  # a new first name changes only that
    [renamed] = [u["message"]["from"] for u in await updates(tg_api)]
    assert (renamed["first_name"], renamed["username"], renamed["language_code"]) == ("Zoé", "zoe", "es")

    # Buttons: tapped by (part of) their text or by their callback data; the bot's answer comes back.
    small = [{"text": "Small", "callback_data": "size:1"}, {"text": "Small too", "callback_data": "size:2"}]
    markup = {"inline_keyboard": [small, [{"text": "Open locker", "url": "https://lockeropen.com/o/1"}]]}
    menu = await tg_api.ok("sendMessage", chat_id=USER, text="Which size?", reply_markup=markup)

    async def bot_answers(text: str) -> str:
        [query] = [u["callback_query"] for u in await _next_updates(tg_api)]
        await tg_api.ok("answerCallbackQuery", callback_query_id=query["id"], text=text)
        return str(query["data"])

    for body, data in (({"data": "size:2"}, "size:2"), ({"button": "small"}, "size:1")):
        pressing = asyncio.create_task(control(tg_api, "press", **body))
        assert await bot_answers("ok") == data
        assert await pressing == {"answered": True, "text": "ok", "show_alert": False, "url": None}
    assert await control(tg_api, "press", button="open locker") == {
        "answered": False,
        "url": "https://lockeropen.com/o/1",
    }

    # A reply keyboard's location button shares the location given with it.
    keyboard = {"keyboard": [[{"text": "📍 Share my location", "request_location": True}]], "resize_keyboard": True}
    await tg_api.ok("sendMessage", chat_id=USER, text="Where are you?", reply_markup=keyboard)
    await control(tg_api, "press", button="share my location", latitude=30.27, longitude=-97.74)
    [shared] = [u["message"] for u in await updates(tg_api)]
    assert shared["location"] == {"latitude": 30.27, "longitude": -97.74}

    # The chat: buttons with their data, photos with what their QR code holds and where to get them.
    await tg_api.ok(
        "sendPhoto", chat_id=USER, caption="your key", files={"photo": ("k.png", render_qr('{"v":1}'), "image/png")}
    )
    chat = (await tg_api.client.get("/_sandbox/chat", params={"user_id": USER})).json()
    question = next(m for m in chat if m["message_id"] == menu["message_id"])
    assert question["buttons"] == ["Small", "Small too", "Open locker"]
    assert question["inline_keyboard"][0][1] == {"text": "Small too", "callback_data": "size:2", "url": None}
    photo = chat[-1]["photo"]
    assert chat[-1]["text"] == "your key" and photo["qr"] == '{"v":1}'
    image = await tg_api.client.get(photo["url"])
    assert image.headers["content-type"] == "image/jpeg" and image.content[:2] == b"\xff\xd8"


async def _next_updates(tg_api: BotApi) -> list[dict[str, Any]]:
    """The updates the next long poll brings (the press is under way in another task)."""
    found: list[dict[str, Any]] = await tg_api.ok("getUpdates", timeout=5)
    await tg_api.ok("getUpdates", offset=found[-1]["update_id"] + 1, timeout=0)
    return found


async def test_wait_returns_the_bot_s_next_answer_or_408(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    await control(tg_api, "send", text="hello", first_name="Zoe")
    waiting = asyncio.create_task(control(tg_api, "wait", contains="IS IN", timeout=5))
    await tg_api.ok("sendMessage", chat_id=USER, text="Thinking…")
    await tg_api.ok("sendMessage", chat_id=USER, text="Your item is in locker 57")
    assert (await waiting)["text"] == "Your item is in locker 57"
    late = await tg_api.client.post("/_sandbox/wait", json={"user_id": USER, "contains": "never", "timeout": 0.05})
    assert late.status_code == 408 and "no bot message" in late.json()["description"]
    await control(tg_api, "mark")  # something happens elsewhere (at the tower): only later news counts
    waiting = asyncio.create_task(control(tg_api, "wait", timeout=5))
    await tg_api.ok("sendMessage", chat_id=USER, text="Collected")
    assert (await waiting)["text"] == "Collected"
    assert await control(tg_api, "settle") == {"webhook": False}  # a polling bot: nothing to settle


async def test_mistakes_get_a_400_that_says_what_is_wrong(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    client = tg_api.client
    await control(tg_api, "send", text="hi", first_name="Zoe")
    for action, body, expected in [
        ("press", {"user_id": USER, "button": "nothing"}, "no inline button containing 'nothing'"),
        ("press", {"user_id": USER}, "say which button"),
        ("press", {"user_id": USER, "data": "x:1"}, "no button with callback data"),
        ("location", {"user_id": USER, "latitude": "north"}, "latitude must be a number"),
        ("start", {"user_id": USER, "link": "https://example.com/?start=1"}, "is not a link to @harbor_test_bot"),
    ]:
        answer = await client.post(f"/_sandbox/{action}", json=body)
        assert answer.status_code == 400 and expected in answer.json()["description"], (action, answer.text)
    assert (await client.post("/_sandbox/send", content=b"{not json")).status_code == 400
    assert (await client.get("/_sandbox/chat", params={"user_id": 99})).status_code == 404
    assert (await client.get("/_sandbox/photo", params={"user_id": USER, "message_id": 1})).status_code == 404
    assert (await client.post("/_sandbox/fly", json={})).status_code == 404
    assert [u["message"]["text"] for u in await updates(tg_api)] == ["hi"]  # nothing else reached the bot


@pytest.mark.parametrize("flag", [True, False], ids=["allow-http-webhooks", "https-only"])
async def test_the_command_line_flag_accepts_an_http_webhook_on_loopback_only(flag: bool) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = [sys.executable, "-m", "sandbox.telegram", "--port", str(port), *(["--allow-http-webhooks"] if flag else [])]
    server = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert server.stdout is not None
    try:
        async with asyncio.timeout(30):
            printed = (await server.stdout.readline()).decode()
            assert printed.startswith("Telegram emulator for @harbor_test_bot")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/bot{DEFAULT_TOKEN}") as api:
                while True:  # the banner is printed just before uvicorn listens
                    with contextlib.suppress(httpx.TransportError):
                        local = (await api.post("/setWebhook", json={"url": "http://127.0.0.1:9/telegram"})).json()
                        break
                    await asyncio.sleep(0.1)
                remote = (await api.post("/setWebhook", json={"url": "http://203.0.113.9/telegram"})).json()
        assert local["ok"] is flag
        refused = "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
        assert remote == {"ok": False, "error_code": 400, "description": refused}
    finally:
        server.terminate()
        await server.wait()
