# ruff: noqa: F811  (pytest fixtures imported from tests.sandbox.telegram_fixtures)
"""A real python-telegram-bot Application against the emulator: over real HTTP (uvicorn) and in process."""

from __future__ import annotations

import io
import time

import pytest
import qrcode
import zxingcpp
from PIL import Image
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter
from telegram.ext import AIORateLimiter, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from sandbox.telegram import TelegramEmulator
from tests.sandbox.telegram_fixtures import (
    http_application_builder,
    running_application,
    tg_emulator,  # noqa: F401  (fixture)
    tg_server,  # noqa: F401  (fixture)
)

pytestmark = [
    pytest.mark.asyncio,
    # PTB's own AIORateLimiter and RetryAfter.__str__ read the deprecated int retry_after
    pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"),
]


def qr_png(text: str) -> bytes:
    buffer = io.BytesIO()
    qrcode.make(text, border=4).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_qr(jpeg: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(jpeg)))
    assert len(results) == 1, f"{len(results)} QR codes found"
    return results[0].text


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("🔑 Get my key", callback_data="key:57")]])
    payload = " ".join(context.args or [])
    await update.message.reply_text(f"<b>Welcome!</b> {payload}".strip(), parse_mode="HTML", reply_markup=keyboard)


async def key_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    assert query.data is not None
    assert query.message is not None
    await query.answer("Here it comes")
    await query.edit_message_text("Key for locker 57 sent below.")
    locker = query.data.split(":")[1]
    await context.bot.send_photo(query.message.chat.id, qr_png(f'{{"locker": {locker}}}'), caption="Your key")


async def photo_received(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    file = await update.message.photo[-1].get_file()
    data = await file.download_as_bytearray()
    width, height = Image.open(io.BytesIO(data)).size
    await update.message.reply_photo(qr_png(f"got {width}x{height}, {len(data)} bytes"))


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    assert update.message.text is not None
    await update.message.reply_text(update.message.text.upper())


async def test_ptb_round_trip_over_http(tg_emulator: TelegramEmulator, tg_server: str) -> None:
    application = http_application_builder(tg_server).build()
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(key_pressed, pattern="^key:"))
    application.add_handler(MessageHandler(filters.PHOTO, photo_received))
    ann = tg_emulator.user(7001, "Ann")
    async with running_application(application):
        await ann.open_deep_link("tower_1")
        welcome = await ann.wait_for("welcome")
        assert welcome.text == "Welcome! tower_1"
        assert welcome.entities == [{"type": "bold", "offset": 0, "length": 8}]

        answer = await ann.press("get my key")
        assert answer is not None
        assert answer.text == "Here it comes"
        edited = await ann.wait_for(lambda m: m.edited)
        assert edited.message_id == welcome.message_id
        assert edited.text == "Key for locker 57 sent below."
        assert edited.buttons == []  # editing without reply_markup removes the keyboard
        key = await ann.wait_for("your key")
        assert key.photo is not None
        assert decode_qr(key.photo) == '{"locker": 57}'

        picture = io.BytesIO()
        Image.new("RGB", (1600, 900), (200, 80, 40)).save(picture, format="PNG")
        await ann.send_photo(picture.getvalue())
        reply = await ann.wait_for(lambda m: m.photo is not None)
        assert reply.photo is not None
        size = len(tg_emulator.file_bytes(ann.chat[-2].raw["photo"][-1]["file_id"]) or b"")
        assert decode_qr(reply.photo) == f"got 1280x720, {size} bytes"
    assert tg_emulator.errors == []
    assert all(call.ok for call in tg_emulator.calls), [c for c in tg_emulator.calls if not c.ok]
    methods = {call.method for call in tg_emulator.calls}
    assert {"getMe", "deleteWebhook", "getUpdates", "sendMessage", "answerCallbackQuery"} <= methods
    assert {"editMessageText", "sendPhoto", "getFile"} <= methods


async def test_ai_rate_limiter_rides_over_a_429(tg_emulator: TelegramEmulator, tg_server: str) -> None:
    application = http_application_builder(tg_server).rate_limiter(AIORateLimiter(max_retries=2)).build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    ann = tg_emulator.user(7002, "Bob")
    tg_emulator.add_fault("sendMessage", retry_after=1)
    async with running_application(application):
        started = time.monotonic()
        await ann.send_text("ping")
        assert (await ann.wait_for("PING", timeout=5)).text == "PING"
        assert time.monotonic() - started >= 1
    calls = tg_emulator.calls_to("sendMessage")
    assert [(c.ok, c.error_code) for c in calls] == [(False, 429), (True, None)]
    assert calls[1].at - calls[0].at >= 1


async def test_ptb_in_process_and_error_mapping(tg_emulator: TelegramEmulator) -> None:
    application = tg_emulator.application_builder().build()
    ann = tg_emulator.user(7003, "Cy")
    async with application:
        bot = application.bot
        assert bot.username == "harbor_test_bot"
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(7003, "hello?")
        await ann.send_text("hi")
        message = await bot.send_message(7003, "x" * 4096)
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_text("x" * 4096, chat_id=7003, message_id=message.message_id)
        with pytest.raises(BadRequest, match="Can't parse entities"):
            await bot.send_message(7003, "<b>open", parse_mode="HTML")
        with pytest.raises(BadRequest, match="Button_data_invalid"):
            await bot.send_message(
                7003, "x", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="d" * 65)]])
            )
        tg_emulator.add_fault("sendMessage", retry_after=2)
        with pytest.raises(RetryAfter):
            await bot.send_message(7003, "flood")
        await ann.block()
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(7003, "still there?")
        await bot.set_my_commands([("start", "Start"), ("help", "Help")])
        assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    with pytest.raises(InvalidToken):
        async with tg_emulator.application_builder().token("42:UNKNOWN").build():
            pass
