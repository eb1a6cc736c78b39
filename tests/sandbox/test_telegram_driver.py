# ruff: noqa: F811  (pytest fixtures imported from tests.sandbox.telegram_fixtures)
"""The user-playing driver: what users send, what they see, waiting for the bot. The bot is played by hand
through the raw Bot API (BotApi), so these tests need no PTB."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from PIL import Image

from sandbox.telegram import DEFAULT_TOKEN, TelegramEmulator
from sandbox.telegram_driver import Button, ChatMessage, ReplyButton
from tests.sandbox.telegram_fixtures import BotApi, tg_api, tg_emulator  # noqa: F401  (fixtures)

pytestmark = pytest.mark.asyncio


async def drain(api: BotApi) -> list[dict[str, Any]]:
    """All pending updates, confirmed."""
    updates = await api.ok("getUpdates")
    if updates:
        await api.ok("getUpdates", offset=updates[-1]["update_id"] + 1)
    return updates


async def later(coro: Any, delay: float = 0.02) -> Any:
    await asyncio.sleep(delay)
    return await coro


async def test_commands_deep_links_and_entities(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    ann = tg_emulator.user(1, "Ann", username="ann", last_name="Lee", language_code="de")
    await ann.command("start", "abc")
    await ann.open_deep_link("locker_57-b")
    await ann.open_link("https://t.me/harbor_test_bot?start=pickup_9")
    await ann.send_text("/help@harbor_test_bot now")
    await ann.send_text("no command")
    messages = [u["message"] for u in await drain(tg_api)]
    assert [m["text"] for m in messages] == [
        "/start abc",
        "/start locker_57-b",
        "/start pickup_9",
        "/help@harbor_test_bot now",
        "no command",
    ]
    assert messages[0]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert messages[3]["entities"] == [{"type": "bot_command", "offset": 0, "length": 21}]
    assert "entities" not in messages[4]
    assert messages[0]["from"] == {
        "id": 1,
        "is_bot": False,
        "first_name": "Ann",
        "last_name": "Lee",
        "username": "ann",
        "language_code": "de",
    }
    assert messages[0]["chat"]["type"] == "private"
    with pytest.raises(ValueError, match="not 1-64 characters"):
        await ann.open_deep_link("has space")
    with pytest.raises(ValueError, match="not a link to @harbor_test_bot"):
        await ann.open_link("https://t.me/other_bot?start=x")


async def test_wait_for_new_and_edited_bot_messages(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    ann = tg_emulator.user(1, "Ann")
    await ann.send_text("hi")
    old = await tg_api.ok("sendMessage", chat_id=1, text="Old news")
    await ann.send_text("anything new?")
    sending = asyncio.create_task(later(tg_api.ok("sendMessage", chat_id=1, text="Your LOCKER is ready")))
    message = await ann.wait_for("locker is ready")
    await sending
    assert message.from_bot
    assert message.text == "Your LOCKER is ready"
    with pytest.raises(TimeoutError, match="Old news"):
        await ann.wait_for("old news", timeout=0.05)  # before the user's last action: not new
    editing = asyncio.create_task(
        later(tg_api.ok("editMessageText", chat_id=1, message_id=old["message_id"], text="Old news, edited"))
    )
    edited = await ann.wait_for(lambda m: m.edited)
    await editing
    assert (edited.message_id, edited.text) == (old["message_id"], "Old news, edited")
    assert (await ann.next_reply()).text == "Your LOCKER is ready"  # edits are not new messages
    assert [m.text for m in ann.chat] == ["hi", "Old news, edited", "anything new?", "Your LOCKER is ready"]
    assert [m.from_bot for m in ann.chat] == [False, True, False, True]


async def test_wait_for_timeout_names_the_last_bot_messages(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    ann = tg_emulator.user(1, "Ann")
    await ann.send_text("hi")
    await tg_api.ok(
        "sendMessage",
        chat_id=1,
        text="Pick a size",
        reply_markup={"inline_keyboard": [[{"text": "S", "callback_data": "s"}]]},
    )
    ann.mark()
    with pytest.raises(TimeoutError) as error:
        await ann.wait_for("a locker", timeout=0.05)
    assert "text containing 'a locker'" in str(error.value)
    assert "'Pick a size' buttons=['S']" in str(error.value)


async def test_deleted_messages_leave_the_chat(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    ann = tg_emulator.user(1, "Ann")
    await ann.send_text("hi")
    sent = await tg_api.ok("sendMessage", chat_id=1, text="temporary")
    assert ann.last_bot_message is not None
    await tg_api.ok("deleteMessage", chat_id=1, message_id=sent["message_id"])
    assert ann.bot_messages == []
    assert [m.text for m in ann.chat] == ["hi"]


async def test_press_inline_buttons(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    ann = tg_emulator.user(1, "Ann")
    await ann.send_text("hi")
    keyboard = {
        "inline_keyboard": [
            [{"text": "📦 Drop off", "callback_data": "drop"}, {"text": "Pick up", "callback_data": "pick"}],
            [{"text": "Help", "url": "https://example.com/help"}],
        ]
    }
    first = await tg_api.ok("sendMessage", chat_id=1, text="Menu", reply_markup=keyboard)
    await tg_api.ok(
        "sendMessage",
        chat_id=1,
        text="Sizes",
        reply_markup={"inline_keyboard": [[{"text": "Small", "callback_data": "S"}]]},
    )
    await drain(tg_api)

    with pytest.raises(LookupError) as error:
        await ann.press("Large")
    assert "Small" in str(error.value)
    assert "Drop off" in str(error.value)

    assert await ann.press("help") is None  # a URL button opens the link
    assert ann.opened_urls == ["https://example.com/help"]

    press = asyncio.create_task(ann.press("drop OFF"))  # the newest message with such a button: the menu
    update = (await tg_api.ok("getUpdates", timeout=5))[0]
    query = update["callback_query"]
    assert (query["data"], query["message"]["message_id"]) == ("drop", first["message_id"])
    assert query["from"]["id"] == 1
    await tg_api.ok("answerCallbackQuery", callback_query_id=query["id"], text="Let's go")
    answer = await press
    assert answer is not None
    assert answer.text == "Let's go"
    assert ann.callback_answers == [answer]

    menu = ann.bot_messages[0]
    assert menu.buttons == ["📦 Drop off", "Pick up", "Help"]
    assert menu.button("pick") == Button("Pick up", callback_data="pick")
    assert await ann.press("pick", menu, timeout=0.05) is None  # the bot never answered


async def test_reply_keyboards_and_location_requests(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    ann = tg_emulator.user(1, "Ann")
    await ann.send_text("hi")
    assert ann.reply_keyboard is None
    keyboard = {
        "keyboard": [[{"text": "📍 Share location", "request_location": True}], ["Cancel"]],
        "one_time_keyboard": True,
    }
    await tg_api.ok("sendMessage", chat_id=1, text="Where are you?", reply_markup=keyboard)
    assert ann.reply_keyboard == [[ReplyButton("📍 Share location", request_location=True)], [ReplyButton("Cancel")]]
    assert ann.last_bot_message is not None
    assert ann.last_bot_message.reply_buttons == ann.reply_keyboard
    with pytest.raises(RuntimeError, match=r"user\.location"):
        await ann.press_reply("share")
    ann.location = (37.7793, -122.4193)
    shared = await ann.press_reply("share")
    assert shared.location == (37.7793, -122.4193)
    cancel = await ann.press_reply("cancel")
    assert cancel.text == "Cancel"
    await tg_api.ok("sendMessage", chat_id=1, text="Thanks", reply_markup={"remove_keyboard": True})
    assert ann.reply_keyboard is None
    assert ann.last_bot_message is not None
    assert ann.last_bot_message.remove_keyboard
    with pytest.raises(LookupError, match="no reply keyboard"):
        await ann.press_reply("cancel")
    updates = await drain(tg_api)
    assert updates[-2]["message"]["location"] == {"latitude": 37.7793, "longitude": -122.4193}


async def test_media_from_users_and_from_the_bot(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    ann = tg_emulator.user(1, "Ann")
    photo = await ann.send_photo(caption="my parcel")
    venue = await ann.send_venue(37.78, -122.42, "Ferry Building", "1 Ferry Bldg")
    sticker = await ann.send_sticker()
    document = await ann.send_document(b"%PDF-1.4", file_name="label.pdf")
    contact = await ann.share_contact()
    assert photo.photo is not None
    assert photo.caption == "my parcel"
    assert venue.venue is not None
    assert venue.location == (37.78, -122.42)
    assert sticker.sticker is not None
    assert (document.document, document.document_name) == (b"%PDF-1.4", "label.pdf")
    assert contact.contact is not None
    assert contact.contact["user_id"] == 1

    updates = await drain(tg_api)
    sent_photo = updates[0]["message"]["photo"]
    file = await tg_api.ok("getFile", file_id=sent_photo[-1]["file_id"])
    downloaded = await tg_api.client.get(f"/file/bot{DEFAULT_TOKEN}/{file['file_path']}")
    assert downloaded.content == photo.photo
    assert updates[3]["message"]["document"]["mime_type"] == "application/pdf"

    buffer = io.BytesIO()
    Image.new("L", (64, 64), 0).save(buffer, format="PNG")
    await tg_api.ok("sendPhoto", chat_id=1, caption="key", files={"photo": ("k.png", buffer.getvalue(), "image/png")})
    await tg_api.ok("sendChatAction", chat_id=1, action="typing")
    received = await ann.next_reply()
    assert received.photo is not None
    assert Image.open(io.BytesIO(received.photo)).format == "JPEG"
    assert ann.chat_actions == ["typing"]
    with pytest.raises(ValueError, match="IMAGE_PROCESS_FAILED"):
        await ann.send_photo(b"garbage")


async def test_group_messages_and_separate_views(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    ann = tg_emulator.user(1, "Ann")
    await ann.send_text("/start", chat_id=-100555)
    await tg_api.ok("sendMessage", chat_id=-100555, text="Talk to me in private, please")
    reply = await ann.wait_for("private", chat_id=-100555)
    assert reply.chat_id == -100555
    assert ann.chat == []  # the private chat does not exist yet
    assert tg_emulator.user_by_id(1) is ann
    with pytest.raises(KeyError):
        tg_emulator.user_by_id(2)


async def test_chat_message_helpers() -> None:
    message = ChatMessage(message_id=1, from_bot=True, caption="QR", inline_buttons=[[Button("Done", "d")]])
    assert message.content == "QR"
    assert message.buttons == ["Done"]
    assert "'QR' buttons=['Done']" in message.describe()
    with pytest.raises(LookupError, match="Done"):
        message.button("nothing")


async def test_group_privacy_mode_and_replies(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    ann = tg_emulator.user(1, "Ann")
    await ann.send_text("just chatting", chat_id=-100777)  # privacy mode: the bot does not see this
    await ann.send_text("/help@other_bot", chat_id=-100777)
    await ann.send_text("/start", chat_id=-100777)
    await ann.send_text("hey @harbor_test_bot", chat_id=-100777)
    prompt = await tg_api.ok("sendMessage", chat_id=-100777, text="Name?", reply_markup={"force_reply": True})
    await ann.send_text("Ann", chat_id=-100777, reply_to=prompt["message_id"])
    delivered = [u["message"]["text"] for u in await drain(tg_api)]
    assert delivered == ["/start", "hey @harbor_test_bot", "Ann"]
    assert len(ann.messages(-100777)) == 6  # the people in the group see everything
    assert (await tg_api.ok("getMe"))["can_read_all_group_messages"] is False
    await ann.send_text("hi")
    question = await tg_api.ok("sendMessage", chat_id=1, text="Which locker?", reply_markup={"force_reply": True})
    answer = await ann.send_text("57", reply_to=ann.bot_messages[-1])
    assert answer.raw["reply_to_message"]["message_id"] == question["message_id"]
    with pytest.raises(LookupError):
        await ann.send_text("x", reply_to=999)


async def test_control_api_for_a_standalone_server(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    sent = await tg_api.client.post("/_sandbox/send", json={"user_id": 9, "first_name": "Zoe", "text": "/start"})
    assert sent.json() == {"message_id": 1}
    await tg_api.ok(
        "sendMessage",
        chat_id=9,
        text="Hi Zoe",
        reply_markup={"inline_keyboard": [[{"text": "Go", "callback_data": "g"}]]},
    )
    chat = (await tg_api.client.get("/_sandbox/chat", params={"user_id": 9})).json()
    assert [(m["from_bot"], m["text"], m["buttons"]) for m in chat] == [(False, "/start", []), (True, "Hi Zoe", ["Go"])]
    assert (await tg_api.client.get("/_sandbox/chat", params={"user_id": 10})).status_code == 404
    calls = (await tg_api.client.get("/_sandbox/calls")).json()
    assert calls[-1]["method"] == "sendMessage"
