"""The emulator's HTTP control API: what a person does in Telegram, for a standalone server (curl-friendly).

Every action plays one user (``user_id``, 1 by default) through :mod:`sandbox.telegram_driver`, the same
driver the tests use, so a script over HTTP and a test in process do exactly the same things. Bodies are
JSON; ``first_name``, ``username`` and ``language_code`` in any POST create or rename the user.

=======================================  =====================================================================
``POST /_sandbox/send``                  ``{"text"}``: a message (``/command args`` gets its entity)
``POST /_sandbox/location``              ``{"latitude", "longitude"}``: share a location
``POST /_sandbox/venue``                 ``{"latitude", "longitude", "title", "address"}``: share a venue
``POST /_sandbox/press``                 ``{"button"}`` (text, any case, a part will do) or ``{"data"}``
                                         (callback data); ``"message_id"`` picks the message, else the
                                         newest with such a button. A reply-keyboard button is tapped
                                         when no inline one matches (a location button sends
                                         ``latitude``/``longitude``). Answers the bot's toast or alert.
``POST /_sandbox/start``                 ``{"payload"}`` or ``{"link": "https://t.me/<bot>?start=..."}``:
                                         open a deep link (``/start <payload>``)
``POST /_sandbox/wait``                  ``{"contains"?, "photo"?, "timeout"?}``: the first bot message new
                                         or edited since this user's last action (containing the text; a
                                         photo); 408 after the timeout (10 s, at most 60)
``POST /_sandbox/settle``                ``{"timeout"?}``: until the bot's webhook has taken every update
                                         (a `web` bot answers each once handled): ``{"webhook": bool}``; at
                                         once without a webhook (a polling bot: ``wait`` for its answer)
``POST /_sandbox/mark``                  from now on only later bot messages are new for ``wait`` (before
                                         something happens outside the chat, say at the tower)
``GET  /_sandbox/chat?user_id=1``        the chat: both sides, edits applied, buttons with their data,
                                         photos with the QR code they hold decoded (``qr``) and a ``url``
``GET  /_sandbox/photo?user_id&message_id``  the photo's bytes (JPEG), as the person's phone shows it
``GET  /_sandbox/calls``                 the Bot API calls the bot made
=======================================  =====================================================================

Costs: the API is for a sandbox on loopback; it has no authentication, like the rest of the emulator.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.telegram_dispatch import json_error
from sandbox.telegram_driver import ChatMessage, UserDriver
from sandbox.telegram_records import ApiCall, BotAccount

WAIT_LIMIT = 60.0  # seconds a /wait may hold its request at most


class Emulated(Protocol):
    """What the control API needs of the emulator (sandbox.telegram.TelegramEmulator)."""

    calls: list[ApiCall]

    def bot(self, token: str | None = None) -> BotAccount: ...

    def user(
        self,
        user_id: int,
        first_name: str,
        *,
        username: str | None = None,
        language_code: str = "en",
        last_name: str | None = None,
        bot_token: str | None = None,
    ) -> UserDriver: ...

    def user_by_id(self, user_id: int, *, bot_token: str | None = None) -> UserDriver: ...

    async def webhook_idle(self, token: str | None = None) -> None: ...


class BadRequest(Exception):
    """The control request itself is wrong: 400 with this text."""


class ControlAPI:
    """Serves ``/_sandbox/{action}`` for one emulator."""

    def __init__(self, emulator: Emulated) -> None:
        self.emulator = emulator
        self._qr: dict[str, str | None] = {}  # file_unique_id -> what its QR code holds

    async def handle(self, request: Request) -> Response:
        action = request.path_params["action"]
        try:
            if request.method == "GET":
                return await self._get(action, request)
            body = await _body(request)
            return await self._post(action, body)
        except BadRequest as exc:
            return json_error(400, f"Bad Request: {exc}")
        except (LookupError, ValueError, RuntimeError, NotImplementedError) as exc:
            return json_error(400, f"Bad Request: {exc}")

    # -- reading ---------------------------------------------------------------------------------------

    async def _get(self, action: str, request: Request) -> Response:
        if action == "calls":
            calls = [
                {"method": c.method, "ok": c.ok, "error_code": c.error_code, "description": c.description}
                for c in self.emulator.calls
            ]
            return JSONResponse(calls)
        if action not in ("chat", "photo"):
            return json_error(404, "Not Found")
        params = request.query_params
        try:
            driver = self.emulator.user_by_id(int(params.get("user_id", "1")), bot_token=params.get("token"))
        except (KeyError, ValueError):
            return json_error(404, "Not Found: no such user (a POST creates one)")
        if action == "chat":
            return JSONResponse([await self.message_json(m, driver) for m in driver.chat])
        message = next((m for m in driver.chat if str(m.message_id) == params.get("message_id")), None)
        if message is None or message.photo is None:
            return json_error(404, "Not Found: no photo in that message")
        return Response(message.photo, media_type="image/jpeg")

    async def message_json(self, message: ChatMessage, driver: UserDriver) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "message_id": message.message_id,
            "from_bot": message.from_bot,
            "text": message.content,
            "edited": message.edited,
            "buttons": message.buttons,
            "inline_keyboard": [
                [{"text": b.text, "callback_data": b.callback_data, "url": b.url} for b in row]
                for row in message.inline_buttons
            ],
            "keyboard": [[b.text for b in row] for row in message.reply_buttons],
            "location": list(message.location) if message.location else None,
            "venue": message.venue,
            "photo": None,
        }
        if message.photo is not None:
            file_id = message.raw["photo"][-1]["file_unique_id"]
            if file_id not in self._qr:
                self._qr[file_id] = await asyncio.to_thread(decode_qr, message.photo)
            url = f"/_sandbox/photo?user_id={driver.id}&message_id={message.message_id}"
            shown["photo"] = {"url": url, "qr": self._qr[file_id]}
        return shown

    # -- acting ----------------------------------------------------------------------------------------

    async def _post(self, action: str, body: dict[str, Any]) -> Response:
        driver = self._driver(body)
        if action == "send":
            message = await driver.send_text(str(body.get("text", "/start")))
            return JSONResponse({"message_id": message.message_id})
        if action == "location":
            message = await driver.share_location(_number(body, "latitude"), _number(body, "longitude"))
            return JSONResponse({"message_id": message.message_id})
        if action == "venue":
            point = (_number(body, "latitude"), _number(body, "longitude"))
            message = await driver.send_venue(*point, str(body.get("title", "")), str(body.get("address", "")))
            return JSONResponse({"message_id": message.message_id})
        if action == "start":
            if body.get("link"):
                message = await driver.open_link(str(body["link"]))
            elif body.get("payload"):
                message = await driver.open_deep_link(str(body["payload"]))
            else:
                message = await driver.send_text("/start")
            return JSONResponse({"message_id": message.message_id})
        if action == "press":
            return JSONResponse(await self._press(driver, body))
        if action == "mark":
            driver.mark()
            return JSONResponse({})
        if action == "settle":
            seconds = min(float(body.get("timeout", 10)), WAIT_LIMIT)
            try:
                async with asyncio.timeout(seconds):
                    await self.emulator.webhook_idle(body.get("token"))
            except TimeoutError:
                return json_error(408, f"Request Timeout: the webhook still has updates after {seconds:g} s")
            return JSONResponse({"webhook": self.emulator.bot(body.get("token")).webhook is not None})
        if action == "wait":
            seconds = min(float(body.get("timeout", 10)), WAIT_LIMIT)
            needle = str(body.get("contains") or "").casefold()
            photo = bool(body.get("photo"))

            def wanted(m: ChatMessage) -> bool:
                return needle in (m.content or "").casefold() and (m.photo is not None or not photo)

            wanted.__name__ = f"{'a photo with ' if photo else ''}text containing {needle!r}"
            try:
                found = await driver.wait_for(wanted, timeout=seconds)
            except TimeoutError as exc:
                return json_error(408, f"Request Timeout: {exc}")
            return JSONResponse(await self.message_json(found, driver))
        return json_error(404, "Not Found")

    def _driver(self, body: dict[str, Any]) -> UserDriver:
        """The user the request plays; names given in it change only those names."""
        user_id = int(body.get("user_id", 1))
        token = body.get("token")
        try:
            known: UserDriver | None = self.emulator.user_by_id(user_id, bot_token=token)
        except KeyError:
            known = None
        fields = ("first_name", "last_name", "username", "language_code")
        if known is not None and not any(k in body for k in fields):
            return known
        record = known.record if known is not None else None
        current = {
            "first_name": record.first_name if record else "Tester",
            "last_name": record.last_name if record else None,
            "username": record.username if record else None,
            "language_code": (record.language_code if record else None) or "en",
        }
        given = {k: body[k] for k in fields if k in body}
        merged = {**current, **given}
        return self.emulator.user(
            user_id,
            str(merged["first_name"]),
            last_name=merged["last_name"],
            username=merged["username"],
            language_code=str(merged["language_code"]),
            bot_token=token,
        )

    async def _press(self, driver: UserDriver, body: dict[str, Any]) -> dict[str, Any]:
        message = None
        if body.get("message_id") is not None:
            message = next((m for m in driver.chat if m.message_id == int(body["message_id"])), None)
            if message is None:
                raise BadRequest(f"message {body['message_id']} is not in the chat")
        if body.get("data") is not None:
            message, text = _button_with_data(driver, message, str(body["data"]))
        elif body.get("button"):
            text = str(body["button"])
        else:
            raise BadRequest('say which button: {"button": "its text"} or {"data": "its callback data"}')
        opened = len(driver.opened_urls)
        try:
            answer = await driver.press(text, message, timeout=float(body.get("timeout", 10)))
        except LookupError:
            keyboard = driver.reply_keyboard
            if message is not None or keyboard is None or not any(text.casefold() in b.text.casefold()
                                                                  for row in keyboard for b in row):  # fmt: skip
                raise
            if "latitude" in body:
                driver.location = (_number(body, "latitude"), _number(body, "longitude"))
            sent = await driver.press_reply(text)
            return {"message_id": sent.message_id}
        if answer is None:  # a URL button (the app opens it), or the bot did not answer within the timeout
            url = driver.opened_urls[-1] if len(driver.opened_urls) > opened else None
            return {"answered": False, "url": url}
        return {"answered": True, "text": answer.text, "show_alert": answer.show_alert, "url": answer.url}


def _button_with_data(driver: UserDriver, message: ChatMessage | None, data: str) -> tuple[ChatMessage, str]:
    """The (newest) message with a button carrying this callback data, and the button's text."""
    messages = [message] if message is not None else list(reversed(driver.bot_messages))
    for shown in messages:
        for row in shown.inline_buttons:
            for button in row:
                if button.callback_data == data:
                    return shown, button.text
    raise BadRequest(f"no button with callback data {data!r} in the chat")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise BadRequest("the body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _number(body: dict[str, Any], name: str) -> float:
    try:
        return float(body[name])
    except (KeyError, TypeError, ValueError):
        raise BadRequest(f"{name} must be a number") from None


def decode_qr(photo: bytes) -> str | None:
    """The text of the QR code in a photo, or None (also when zxing-cpp, a dev dependency, is missing)."""
    try:
        import zxingcpp
        from PIL import Image
    except ImportError:
        return None
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(photo)))
    return str(found[0].text) if found else None
