"""The baseline: a bare python-telegram-bot 22 bot that makes the same Bot API calls as the bot under test.

It has no database, no Harbor, no services: one handler replays, for a user's k-th update, the calls the
bot under test made for that step (recorded from the emulator in the same run, see bench.load), with the
same texts, keyboards, parse modes, photo sizes and the same chat ids and message ids it would target.
Its CPU per update is what python-telegram-bot itself costs for those calls: the floor the bot is
compared with. Imported by bench/botproc.py as a top-level module (so it never imports the ``bench``
package of the tree under test).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

from telegram import (
    ForceReply,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

# A step of the script: [method, params, target] where target says which message an edit or a delete
# names: "pressed" (the message whose button was tapped) or "last" (the newest the bot sent the chat).
Script = list[list[list[Any]]]
IDS = ("chat_id", "message_id", "callback_query_id")


def png_of_size(size: int) -> bytes:
    """A valid 64x64 grey PNG padded (with a private ancillary chunk) to ``size`` bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 0, 0, 0, 0))
    image = chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + bytes(range(64)) for _ in range(64))))
    end = chunk(b"IEND", b"")
    head = b"\x89PNG\r\n\x1a\n" + header + image
    pad = max(0, size - len(head) - len(end) - 12)
    return head + chunk(b"bnCh", b"\x00" * pad) + end


def _markup(value: Any) -> Any:
    if value is None:
        return None
    data = json.loads(value) if isinstance(value, str) else value
    if "inline_keyboard" in data:
        return InlineKeyboardMarkup.de_json(data, None)
    if "keyboard" in data:
        return ReplyKeyboardMarkup.de_json(data, None)
    if data.get("remove_keyboard"):
        return ReplyKeyboardRemove(selective=data.get("selective"))
    if data.get("force_reply"):
        return ForceReply()
    return None


class Replayer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.step: dict[int, int] = defaultdict(int)
        self.sent: dict[int, list[int]] = defaultdict(list)  # message ids the bot sent, per chat
        self.deleted: dict[int, set[int]] = defaultdict(set)
        self.photos: dict[int, bytes] = {}

    def _photo(self, size: int) -> bytes:
        if size not in self.photos:
            self.photos[size] = png_of_size(size)
        return self.photos[size]

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        chat = update.effective_chat
        if user is None or chat is None:
            return
        k = self.step[user.id]
        self.step[user.id] = k + 1
        if k >= len(self.script):
            return
        for method, params, target in self.script[k]:
            await self._call(update, context, chat.id, method, dict(params), target)

    def _target(self, update: Update, chat_id: int, target: str) -> int | None:
        query = update.callback_query
        if target == "pressed" and query is not None and query.message is not None:
            return query.message.message_id
        if target.startswith("sent:"):  # the n-th message sent to this chat, as the bot named it
            n = int(target.removeprefix("sent:"))
            return self.sent[chat_id][n] if n < len(self.sent[chat_id]) else None
        alive = [m for m in self.sent[chat_id] if m not in self.deleted[chat_id]]
        return alive[-1] if alive else None

    async def _call(
        self,
        update: Update,
        context: ContextTypes.DEFAULT_TYPE,
        chat_id: int,
        method: str,
        p: dict[str, Any],
        target: str,
    ) -> None:
        bot = context.bot
        markup = _markup(p.pop("reply_markup", None))
        mode = p.get("parse_mode")
        result: Any = None
        if method == "sendMessage":
            result = await bot.send_message(chat_id, p["text"], parse_mode=mode, reply_markup=markup)
        elif method == "sendPhoto":
            photo = self._photo(int(p["photo"]))
            result = await bot.send_photo(
                chat_id, photo, caption=p.get("caption"), parse_mode=mode, reply_markup=markup
            )
        elif method == "answerCallbackQuery":
            if update.callback_query is not None:
                await update.callback_query.answer(p.get("text"), show_alert=bool(p.get("show_alert")))
        elif method == "sendChatAction":
            await bot.send_chat_action(chat_id, p["action"])
        elif method == "editMessageText":
            result = await bot.edit_message_text(
                p["text"], chat_id, self._target(update, chat_id, target), parse_mode=mode, reply_markup=markup
            )
        elif method == "editMessageCaption":
            result = await bot.edit_message_caption(
                chat_id,
                self._target(update, chat_id, target),
                caption=p.get("caption"),
                parse_mode=mode,
                reply_markup=markup,
            )
        elif method == "editMessageReplyMarkup":
            result = await bot.edit_message_reply_markup(
                chat_id, self._target(update, chat_id, target), reply_markup=markup
            )
        elif method == "deleteMessage":
            message_id = self._target(update, chat_id, target)
            if message_id is not None:
                await bot.delete_message(chat_id, message_id)
                self.deleted[chat_id].add(message_id)
        else:
            kwargs = {k: v for k, v in p.items() if k not in IDS}
            await bot.do_api_request(method, api_kwargs={"chat_id": chat_id, **kwargs})
        if isinstance(result, Message):
            self.sent[chat_id].append(result.message_id)


def build_bare(config: dict[str, Any], script_path: str, limiter: bool) -> Application:
    script: Script = json.loads(Path(script_path).read_text(encoding="utf-8"))
    api = config["telegram_api_url"]
    builder = (
        ApplicationBuilder()
        .token(config["telegram_bot_token"])
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .concurrent_updates(True)
    )
    if limiter:
        from bot.config import Settings
        from bot.ratelimit import FairRateLimiter

        # The limiter the bot builds (bot.app.rate_limiter), from the same settings.
        settings = Settings(**config)
        builder = builder.rate_limiter(FairRateLimiter.from_settings(settings, private_burst=10))
    application = builder.build()
    application.add_handler(TypeHandler(Update, Replayer(script)))
    return application
