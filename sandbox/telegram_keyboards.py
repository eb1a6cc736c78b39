"""Keyboards and buttons: the checks Telegram makes on reply markup beyond the types, and the answers to
inline button presses (answerCallbackQuery)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from sandbox.telegram_errors import QUERY_TOO_OLD, bad_request
from sandbox.telegram_records import BotAccount
from sandbox.telegram_state import EmulatorState, MethodHandler

MAX_CALLBACK_ANSWER = 200


def check_markup(emulator: EmulatorState, markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """Semantic checks Telegram makes on keyboards beyond the types."""
    if markup is None:
        return None
    if "inline_keyboard" in markup:
        actions = [
            f
            for f in emulator.validator.types["InlineKeyboardButton"]["fields"]
            if f not in ("text", "icon_custom_emoji_id", "style")
        ]
        for row in markup["inline_keyboard"]:
            for button in row:
                if not button["text"].strip():
                    raise bad_request("can't parse inline keyboard button: Text must be non-empty")
                used = [f for f in actions if f in button]
                if not used:
                    raise bad_request(
                        "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                    )
                if len(used) > 1:
                    raise bad_request(
                        f"can't parse inline keyboard button: exactly one of {', '.join(actions)} must be used, "
                        f"found {', '.join(used)}"
                    )
                if "callback_data" in button and not 1 <= len(button["callback_data"].encode("utf-8")) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
                if "url" in button:
                    parts = urlsplit(button["url"])
                    if parts.scheme not in ("http", "https", "tg") or (parts.scheme != "tg" and not parts.netloc):
                        raise bad_request("BUTTON_URL_INVALID")
    elif "keyboard" in markup:
        if not markup["keyboard"] or not any(markup["keyboard"]):
            raise bad_request("keyboard must be non-empty")
        for row in markup["keyboard"]:
            for button in row:
                if not button["text"].strip():
                    raise bad_request("can't parse keyboard button: Text must be non-empty")
                requests = [k for k in button if k.startswith("request_") or k == "web_app"]
                requests = [k for k in requests if button[k] not in (False, None)]
                if len(requests) > 1:
                    raise bad_request(f"can't parse keyboard button: only one of {', '.join(requests)} may be used")
    return markup


async def answer_callback_query(
    emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request
) -> Any:
    state = bot.callback_queries.get(params["callback_query_id"])
    if state is None or state.answered.is_set():
        raise bad_request(QUERY_TOO_OLD.removeprefix("Bad Request: "))
    text = params.get("text", "")
    if len(text) > MAX_CALLBACK_ANSWER:
        raise bad_request("MESSAGE_TOO_LONG")
    answer = {
        "query_id": state.query_id,
        "text": text or None,
        "show_alert": bool(params.get("show_alert", False)),
        "url": params.get("url"),
        "cache_time": params.get("cache_time", 0),
    }
    state.answer = answer
    state.answered.set()
    chat = bot.chats.get(state.chat_id)
    if chat is not None:
        chat.callback_answers.append((state.user_id, answer))
    await emulator.notify_changed()
    return True


HANDLERS: dict[str, MethodHandler] = {
    "answerCallbackQuery": answer_callback_query,
}
