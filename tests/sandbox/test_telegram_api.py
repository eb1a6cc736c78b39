# ruff: noqa: F811  (pytest fixtures imported from tests.sandbox.telegram_fixtures)
"""Conformance of the Telegram emulator: the methods, Telegram's validation and error texts, getUpdates."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import pytest
from PIL import Image

from sandbox.telegram import DEFAULT_TOKEN, NOT_MODIFIED, QUERY_TOO_OLD, TelegramEmulator
from tests.sandbox.telegram_fixtures import BotApi, tg_api, tg_emulator  # noqa: F401  (fixtures)

pytestmark = pytest.mark.asyncio

USER = 1001


def png(size: tuple[int, int] = (200, 100), color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def inline(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"inline_keyboard": [list(buttons)]}


@pytest.fixture
async def chat(tg_emulator: TelegramEmulator) -> int:
    """A private chat exists once the user has written to the bot."""
    await tg_emulator.user(USER, "Ann", username="ann").send_text("hello")
    return USER


# -- routing, tokens, encodings --------------------------------------------------------------------------


async def test_get_me_and_envelope(tg_api: BotApi) -> None:
    response = await tg_api.call("getMe")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["result"]["id"] == 123456
    assert body["result"]["is_bot"] is True
    assert body["result"]["username"] == "harbor_test_bot"


async def test_unknown_method_is_404(tg_api: BotApi) -> None:
    response = await tg_api.call("sendTelepathy", chat_id=1)
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_unknown_token_is_401_and_malformed_token_is_404(tg_api: BotApi) -> None:
    assert await tg_api.error("getMe", token="999:NOPE") == (401, "Unauthorized")
    assert await tg_api.error("getMe", token="not-a-token") == (404, "Not Found")


async def test_method_names_are_case_insensitive(tg_api: BotApi) -> None:
    assert (await tg_api.ok("GETME"))["username"] == "harbor_test_bot"
    assert (await tg_api.ok("getme"))["username"] == "harbor_test_bot"


async def test_get_query_string_and_json_bodies(tg_api: BotApi, chat: int) -> None:
    by_get = await tg_api.ok("sendMessage", http_get=True, chat_id=chat, text="via GET")
    by_json = await tg_api.ok("sendMessage", as_json=True, chat_id=chat, text="via JSON", disable_notification=True)
    assert (by_get["text"], by_json["text"]) == ("via GET", "via JSON")
    assert by_json["message_id"] == by_get["message_id"] + 1


async def test_unknown_parameters_are_ignored(tg_api: BotApi, tg_emulator: TelegramEmulator, chat: int) -> None:
    await tg_api.ok("sendMessage", chat_id=chat, text="hi", frobnicate="yes")
    assert "frobnicate" not in tg_emulator.calls[-1].params


# -- parameter validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "params", "description"),
    [
        ("sendMessage", {"text": "hi"}, "Bad Request: chat_id is empty"),
        ("sendMessage", {"chat_id": USER}, "Bad Request: message text is empty"),
        ("sendMessage", {"chat_id": USER, "text": "   "}, "Bad Request: message text is empty"),
        ("sendPhoto", {"chat_id": USER}, "Bad Request: there is no photo in the request"),
        ("getFile", {}, "Bad Request: wrong file_id or the file is temporarily unavailable"),
        (
            "sendVenue",
            {"chat_id": USER, "latitude": 1, "longitude": 2, "title": "x"},
            'parameter "address" is required',
        ),
        (
            "sendLocation",
            {"chat_id": USER, "latitude": "north", "longitude": 2},
            'parameter "latitude" must be of type Float',
        ),
        ("deleteMessage", {"chat_id": USER, "message_id": "first"}, 'parameter "message_id" must be of type Integer'),
        (
            "sendMessage",
            {"chat_id": USER, "text": "x", "disable_notification": "maybe"},
            'parameter "disable_notification" must be of type Boolean',
        ),
        ("sendMessage", {"chat_id": "nobody", "text": "x"}, "Bad Request: chat not found"),
        ("sendMessage", {"chat_id": 424242, "text": "x"}, "Bad Request: chat not found"),
        ("sendMessage", {"chat_id": USER, "text": "x" * 4097}, "Bad Request: message is too long"),
        ("sendMessage", {"chat_id": USER, "text": "x", "parse_mode": "BBCode"}, "Bad Request: unsupported parse_mode"),
        (
            "sendMessage",
            {"chat_id": USER, "text": "x", "reply_markup": "{not json"},
            'parameter "reply_markup" must be a JSON-serialized object',
        ),
        (
            "sendMessage",
            {"chat_id": USER, "text": "x", "reply_markup": inline({"callback_data": "a"})},
            'can\'t parse reply keyboard markup JSON object: field "inline_keyboard[0][0].text" is required',
        ),
        (
            "sendMessage",
            {"chat_id": USER, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": 5, "url": True}]]}},
            'field "inline_keyboard[0][0].url" must be of type String',
        ),
        (
            "sendMessage",
            {"chat_id": USER, "text": "x", "reply_markup": inline({"text": "A", "callback_data": "a" * 65})},
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        (
            "sendMessage",
            {"chat_id": USER, "text": "x", "reply_markup": inline({"text": "A", "callback_data": ""})},
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        (
            "sendMessage",
            {"chat_id": USER, "text": "x", "reply_markup": inline({"text": "ключ", "callback_data": "я" * 33})},
            "Bad Request: BUTTON_DATA_INVALID",  # 66 bytes in UTF-8
        ),
        (
            "sendMessage",
            {"chat_id": USER, "text": "x", "reply_markup": inline({"text": "A"})},
            "Text buttons are unallowed in the inline keyboard",
        ),
        (
            "sendMessage",
            {
                "chat_id": USER,
                "text": "x",
                "reply_markup": inline({"text": "A", "callback_data": "a", "url": "https://x.y"}),
            },
            "exactly one of",
        ),
        (
            "sendMessage",
            {"chat_id": USER, "text": "x", "reply_markup": inline({"text": " ", "callback_data": "a"})},
            "Text must be non-empty",
        ),
        (
            "sendMessage",
            {"chat_id": USER, "text": "x", "reply_markup": inline({"text": "A", "url": "javascript:alert(1)"})},
            "Bad Request: BUTTON_URL_INVALID",
        ),
        (
            "sendMessage",
            {"chat_id": USER, "text": "x", "reply_markup": {"keyboard": [[{"text": ""}]]}},
            "can't parse keyboard button: Text must be non-empty",
        ),
        (
            "sendMessage",
            {"chat_id": USER, "text": "x", "reply_markup": {"keyboard": [[{"text": "A", "request_location": "yes"}]]}},
            'field "keyboard[0][0].request_location" must be of type Boolean',
        ),
        ("sendChatAction", {"chat_id": USER, "action": "dancing"}, "Bad Request: wrong parameter action in request"),
        ("sendLocation", {"chat_id": USER, "latitude": 91, "longitude": 0}, "Bad Request: wrong location specified"),
        ("answerCallbackQuery", {"callback_query_id": "12345"}, QUERY_TOO_OLD),
        (
            "setMyCommands",
            {"commands": [{"command": "Start!", "description": "go"}]},
            "Bad Request: BOT_COMMAND_INVALID",
        ),
        ("setMyCommands", {"commands": [{"command": "start"}]}, 'field "[0].description" is required'),
        (
            "setMyCommands",
            {"commands": [{"command": "start", "description": "go"}], "scope": {"type": "everywhere"}},
            'field "type" must be one of',
        ),
    ],
)
async def test_validation_errors(
    tg_api: BotApi, chat: int, method: str, params: dict[str, Any], description: str
) -> None:
    status, text = await tg_api.error(method, **params)
    assert status == 400
    assert description in text
    assert text.startswith("Bad Request: ")


async def test_json_body_types_are_checked_too(tg_api: BotApi, chat: int) -> None:
    status, text = await tg_api.error("sendMessage", as_json=True, chat_id=[chat], text="x")
    assert (status, text) == (400, 'Bad Request: parameter "chat_id" must be of type Integer or String')
    status, text = await tg_api.error("sendMessage", as_json=True, chat_id=chat, text="x", reply_markup="[1]")
    assert status == 400


async def test_limits_are_counted_after_entity_parsing(tg_api: BotApi, chat: int) -> None:
    await tg_api.ok("sendMessage", chat_id=chat, text="x" * 4096)
    await tg_api.ok("sendMessage", chat_id=chat, text="<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    _, text = await tg_api.error("sendMessage", chat_id=chat, text="&amp;" * 4097, parse_mode="HTML")
    assert text == "Bad Request: message is too long"
    await tg_api.ok(
        "sendMessage", chat_id=chat, text="a", reply_markup=inline({"text": "A", "callback_data": "d" * 64})
    )


async def test_caption_limit(tg_api: BotApi, chat: int) -> None:
    files = {"photo": ("p.png", png(), "image/png")}
    await tg_api.ok("sendPhoto", chat_id=chat, caption="c" * 1024, files=files)
    status, text = await tg_api.error("sendPhoto", chat_id=chat, caption="c" * 1025, files=files)
    assert (status, text) == (400, "Bad Request: message caption is too long")


@pytest.mark.parametrize(
    ("text", "parse_mode", "error"),
    [
        ("<b>bold", "HTML", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>bold</i>", "HTML", 'Unmatched end tag at byte offset 7, expected "</b>", found "</i>"'),
        ("<blink>x</blink>", "HTML", 'Unsupported start tag "blink" at byte offset 0'),
        ("1 < 2", "HTML", 'Unsupported start tag "" at byte offset 2'),
        ("Hello.", "MarkdownV2", "Character '.' is reserved and must be escaped with the preceding '\\'"),
        ("*bold", "MarkdownV2", "Can't find end of Bold entity at byte offset 0"),
        ("*bold", "Markdown", "Can't find end of the entity starting at byte offset 0"),
    ],
)
async def test_parse_mode_errors(tg_api: BotApi, chat: int, text: str, parse_mode: str, error: str) -> None:
    status, description = await tg_api.error("sendMessage", chat_id=chat, text=text, parse_mode=parse_mode)
    assert (status, description) == (400, f"Bad Request: can't parse entities: {error}")


async def test_html_is_parsed_into_entities(tg_api: BotApi, chat: int) -> None:
    html = '  <b>Locker 57</b> &amp; <a href="https://example.com">map</a> <i>€5</i>  '
    message = await tg_api.ok("sendMessage", chat_id=chat, text=html, parse_mode="HTML")
    assert message["text"] == "Locker 57 & map €5"
    assert message["entities"] == [
        {"type": "bold", "offset": 0, "length": 9},
        {"type": "text_link", "offset": 12, "length": 3, "url": "https://example.com"},
        {"type": "italic", "offset": 16, "length": 2},
    ]


async def test_markdown_v2_is_parsed_into_entities(tg_api: BotApi, chat: int) -> None:
    message = await tg_api.ok(
        "sendMessage", chat_id=chat, text=r"*Key* for locker \#57\. `CODE`", parse_mode="MarkdownV2"
    )
    assert message["text"] == "Key for locker #57. CODE"
    assert [e["type"] for e in message["entities"]] == ["bold", "code"]


# -- sending ---------------------------------------------------------------------------------------------


async def test_send_message_result_and_reply_markup(tg_api: BotApi, chat: int) -> None:
    markup = inline({"text": "Open", "callback_data": "open"}, {"text": "Site", "url": "https://example.com"})
    message = await tg_api.ok("sendMessage", chat_id=chat, text="Pick", reply_markup=markup)
    assert message["chat"] == {"id": chat, "first_name": "Ann", "username": "ann", "type": "private"}
    assert message["from"]["is_bot"] is True
    assert message["reply_markup"] == markup
    assert isinstance(message["date"], int)
    keyboard = {"keyboard": [[{"text": "Share location", "request_location": True}]], "resize_keyboard": True}
    message = await tg_api.ok("sendMessage", chat_id=chat, text="Where are you?", reply_markup=keyboard)
    assert "reply_markup" not in message  # Telegram returns only inline keyboards in messages


async def test_reply_parameters(tg_api: BotApi, chat: int) -> None:
    first = await tg_api.ok("sendMessage", chat_id=chat, text="first")
    reply = await tg_api.ok(
        "sendMessage", chat_id=chat, text="re", reply_parameters={"message_id": first["message_id"]}
    )
    assert reply["reply_to_message"]["text"] == "first"
    _, text = await tg_api.error("sendMessage", chat_id=chat, text="re", reply_parameters={"message_id": 999})
    assert text == "Bad Request: message to be replied not found"
    await tg_api.ok(
        "sendMessage",
        chat_id=chat,
        text="re",
        reply_parameters={"message_id": 999, "allow_sending_without_reply": True},
    )


async def test_send_photo_upload_is_recompressed(tg_api: BotApi, tg_emulator: TelegramEmulator, chat: int) -> None:
    message = await tg_api.ok(
        "sendPhoto", chat_id=chat, caption="QR", files={"photo": ("big.png", png((3000, 2000)), "image/png")}
    )
    sizes = message["photo"]
    assert [(s["width"], s["height"]) for s in sizes] == [(90, 60), (320, 213), (800, 533), (1280, 853)]
    for size in sizes:
        assert set(size) == {"file_id", "file_unique_id", "file_size", "width", "height"}
        data = tg_emulator.file_bytes(size["file_id"])
        assert data is not None
        assert len(data) == size["file_size"]
        assert data[:3] == b"\xff\xd8\xff"  # JPEG
    assert message["caption"] == "QR"
    assert tg_emulator.calls[-1].params["photo"] == len(png((3000, 2000)))  # files recorded as byte lengths


async def test_small_photo_keeps_its_size_and_can_be_resent_by_file_id(tg_api: BotApi, chat: int) -> None:
    first = await tg_api.ok("sendPhoto", chat_id=chat, files={"photo": ("p.png", png((200, 100)), "image/png")})
    assert [(s["width"], s["height"]) for s in first["photo"]] == [(90, 45), (200, 100)]
    again = await tg_api.ok("sendPhoto", chat_id=chat, photo=first["photo"][-1]["file_id"])
    assert again["photo"] == first["photo"]


async def test_photo_errors(tg_api: BotApi, chat: int) -> None:
    status, text = await tg_api.error(
        "sendPhoto", chat_id=chat, files={"photo": ("p.png", b"not an image", "image/png")}
    )
    assert (status, text) == (400, "Bad Request: IMAGE_PROCESS_FAILED")
    _, text = await tg_api.error("sendPhoto", chat_id=chat, photo="AgACAgIAAxkUnknown")
    assert text == "Bad Request: wrong file identifier/HTTP URL specified"
    document = await tg_api.ok("sendDocument", chat_id=chat, files={"document": ("a.txt", b"abc", "text/plain")})
    _, text = await tg_api.error("sendPhoto", chat_id=chat, photo=document["document"]["file_id"])
    assert text == "Bad Request: can't use file of type Document as Photo"
    _, text = await tg_api.error("sendPhoto", chat_id=chat, files={"photo": ("p.png", png((5000, 200)), "image/png")})
    assert text == "Bad Request: PHOTO_INVALID_DIMENSIONS"


async def test_send_document_get_file_and_download(tg_api: BotApi, chat: int) -> None:
    message = await tg_api.ok(
        "sendDocument", chat_id=chat, caption="key", files={"document": ("key.json", b'{"v": 1}', "application/json")}
    )
    document = message["document"]
    assert (document["file_name"], document["mime_type"], document["file_size"]) == ("key.json", "application/json", 8)
    file = await tg_api.ok("getFile", file_id=document["file_id"])
    assert file["file_size"] == 8
    response = await tg_api.client.get(f"/file/bot{DEFAULT_TOKEN}/{file['file_path']}")
    assert response.status_code == 200
    assert response.content == b'{"v": 1}'
    missing = await tg_api.client.get(f"/file/bot{DEFAULT_TOKEN}/documents/nothing.bin")
    assert missing.status_code == 404


async def test_send_location_venue_and_chat_action(tg_api: BotApi, tg_emulator: TelegramEmulator, chat: int) -> None:
    location = await tg_api.ok("sendLocation", chat_id=chat, latitude=37.7793, longitude=-122.4193)
    assert location["location"] == {"latitude": 37.7793, "longitude": -122.4193}
    venue = await tg_api.ok(
        "sendVenue", chat_id=chat, latitude=37.78, longitude=-122.42, title="Harbor Tower 1", address="1 Market St"
    )
    assert venue["venue"]["title"] == "Harbor Tower 1"
    assert venue["location"] == {"latitude": 37.78, "longitude": -122.42}
    assert await tg_api.ok("sendChatAction", chat_id=chat, action="upload_photo") is True
    assert tg_emulator.user_by_id(chat).chat_actions == ["upload_photo"]


# -- editing and deleting ------------------------------------------------------------------------------


async def test_edit_message_text(tg_api: BotApi, chat: int) -> None:
    markup = inline({"text": "Go", "callback_data": "go"})
    sent = await tg_api.ok("sendMessage", chat_id=chat, text="Choose", reply_markup=markup)
    edited = await tg_api.ok(
        "editMessageText", chat_id=chat, message_id=sent["message_id"], text="Chosen", reply_markup=markup
    )
    assert edited["text"] == "Chosen"
    assert "edit_date" in edited
    assert edited["reply_markup"] == markup
    status, text = await tg_api.error(
        "editMessageText", chat_id=chat, message_id=sent["message_id"], text="Chosen", reply_markup=markup
    )
    assert (status, text) == (400, NOT_MODIFIED)
    # the same text with other entities is a change; leaving reply_markup out removes the keyboard
    edited = await tg_api.ok(
        "editMessageText", chat_id=chat, message_id=sent["message_id"], text="<b>Chosen</b>", parse_mode="HTML"
    )
    assert "reply_markup" not in edited


async def test_edit_errors(tg_api: BotApi, tg_emulator: TelegramEmulator, chat: int) -> None:
    user_message_id = tg_emulator.user_by_id(chat).chat[0].message_id
    _, text = await tg_api.error("editMessageText", chat_id=chat, message_id=999, text="x")
    assert text == "Bad Request: message to edit not found"
    _, text = await tg_api.error("editMessageText", chat_id=chat, message_id=user_message_id, text="x")
    assert text == "Bad Request: message can't be edited"
    sent = await tg_api.ok("sendMessage", chat_id=chat, text="mine")
    await tg_emulator.user(2002, "Bob").send_text("hi")
    _, text = await tg_api.error("editMessageText", chat_id=2002, message_id=sent["message_id"], text="x")
    assert text == "Bad Request: message to edit not found"
    _, text = await tg_api.error("editMessageText", chat_id=5555, message_id=sent["message_id"], text="x")
    assert text == "Bad Request: chat not found"
    _, text = await tg_api.error("editMessageCaption", chat_id=chat, message_id=sent["message_id"], caption="x")
    assert text == "Bad Request: there is no caption in the message to edit"
    _, text = await tg_api.error("editMessageText", chat_id=chat, message_id=sent["message_id"], text="")
    assert text == "Bad Request: message text is empty"


async def test_edit_caption_reply_markup_and_media(tg_api: BotApi, tg_emulator: TelegramEmulator, chat: int) -> None:
    sent = await tg_api.ok("sendPhoto", chat_id=chat, caption="old", files={"photo": ("p.png", png(), "image/png")})
    message_id = sent["message_id"]
    assert (await tg_api.ok("editMessageCaption", chat_id=chat, message_id=message_id, caption="new"))[
        "caption"
    ] == "new"
    markup = inline({"text": "Refresh", "callback_data": "refresh"})
    assert (await tg_api.ok("editMessageReplyMarkup", chat_id=chat, message_id=message_id, reply_markup=markup))[
        "reply_markup"
    ] == markup
    _, text = await tg_api.error("editMessageReplyMarkup", chat_id=chat, message_id=message_id, reply_markup=markup)
    assert text == NOT_MODIFIED
    _, text = await tg_api.error(
        "editMessageReplyMarkup", chat_id=chat, message_id=message_id, reply_markup={"keyboard": [[{"text": "A"}]]}
    )
    assert "inline_keyboard" in text  # edits take inline keyboards only
    media = {"type": "photo", "media": "attach://fresh", "caption": "fresh key"}
    edited = await tg_api.ok(
        "editMessageMedia",
        chat_id=chat,
        message_id=message_id,
        media=media,
        files={"fresh": ("q.png", png((300, 300), (0, 0, 0)), "image/png")},
    )
    assert edited["caption"] == "fresh key"
    assert edited["photo"][-1]["width"] == 300
    assert "reply_markup" not in edited
    photo = tg_emulator.user_by_id(chat).bot_messages[-1].photo
    assert photo is not None
    assert Image.open(io.BytesIO(photo)).size == (300, 300)


async def test_delete_message(tg_api: BotApi, tg_emulator: TelegramEmulator, chat: int) -> None:
    sent = await tg_api.ok("sendMessage", chat_id=chat, text="soon gone")
    assert await tg_api.ok("deleteMessage", chat_id=chat, message_id=sent["message_id"]) is True
    _, text = await tg_api.error("deleteMessage", chat_id=chat, message_id=sent["message_id"])
    assert text == "Bad Request: message to delete not found"
    _, text = await tg_api.error("deleteMessage", chat_id=chat, message_id=12345)
    assert text == "Bad Request: message to delete not found"
    assert [m.text for m in tg_emulator.user_by_id(chat).chat] == ["hello"]
    # in a private chat a bot may delete the user's messages too
    assert await tg_api.ok("deleteMessage", chat_id=chat, message_id=tg_emulator.user_by_id(chat).chat[0].message_id)


async def test_group_chats_and_private_chat_rules(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    bob = tg_emulator.user(3003, "Bob")
    sent = await bob.send_text("/start@harbor_test_bot", chat_id=-100123)
    assert sent.raw["chat"]["type"] == "supergroup"
    updates = await tg_api.ok("getUpdates")
    assert updates[-1]["message"]["chat"]["id"] == -100123
    _, text = await tg_api.error("sendMessage", chat_id=bob.id, text="hi")
    assert text == "Bad Request: chat not found"  # Bob never wrote to the bot privately
    reply = await tg_api.ok("sendMessage", chat_id=-100123, text="Please talk to me in private")
    _, text = await tg_api.error("deleteMessage", chat_id=-100123, message_id=sent.message_id)
    assert text == "Bad Request: message can't be deleted"
    assert bob.messages(-100123)[-1].message_id == reply["message_id"]


async def test_blocked_user_gives_403(tg_api: BotApi, tg_emulator: TelegramEmulator, chat: int) -> None:
    await tg_emulator.user_by_id(chat).block()
    status, text = await tg_api.error("sendMessage", chat_id=chat, text="still there?")
    assert (status, text) == (403, "Forbidden: bot was blocked by the user")
    updates = await tg_api.ok("getUpdates")
    assert updates[-1]["my_chat_member"]["new_chat_member"]["status"] == "kicked"


# -- callback queries ------------------------------------------------------------------------------------


async def test_answer_callback_query_once(tg_api: BotApi, tg_emulator: TelegramEmulator, chat: int) -> None:
    await tg_api.ok(
        "sendMessage", chat_id=chat, text="Pick", reply_markup=inline({"text": "Key", "callback_data": "k"})
    )
    ann = tg_emulator.user_by_id(chat)
    seen = (await tg_api.ok("getUpdates"))[-1]["update_id"]
    press = asyncio.create_task(ann.press("key"))
    updates = await tg_api.ok("getUpdates", offset=seen + 1, timeout=5)
    query = updates[-1]["callback_query"]
    assert query["data"] == "k"
    assert query["message"]["text"] == "Pick"
    assert await tg_api.ok("answerCallbackQuery", callback_query_id=query["id"], text="Sent!", show_alert=True) is True
    answer = await press
    assert answer is not None
    assert (answer.text, answer.show_alert, answer.query_id) == ("Sent!", True, query["id"])
    _, text = await tg_api.error("answerCallbackQuery", callback_query_id=query["id"])
    assert text == QUERY_TOO_OLD


# -- getUpdates ----------------------------------------------------------------------------------------


async def test_get_updates_offset_and_limit(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    ann = tg_emulator.user(USER, "Ann")
    for text in ("one", "two", "three"):
        await ann.send_text(text)
    updates = await tg_api.ok("getUpdates", limit=2)
    assert [u["message"]["text"] for u in updates] == ["one", "two"]
    first_id = updates[0]["update_id"]
    assert [u["update_id"] for u in updates] == [first_id, first_id + 1]
    again = await tg_api.ok("getUpdates")  # not confirmed yet
    assert len(again) == 3
    rest = await tg_api.ok("getUpdates", offset=first_id + 2)
    assert [u["message"]["text"] for u in rest] == ["three"]
    assert await tg_api.ok("getUpdates", offset=first_id + 3) == []
    await ann.send_text("four")
    await ann.send_text("five")
    assert [u["message"]["text"] for u in await tg_api.ok("getUpdates", offset=-1)] == ["five"]
    assert [u["message"]["text"] for u in await tg_api.ok("getUpdates")] == ["five"]  # older ones forgotten


async def test_long_poll_returns_as_soon_as_an_update_arrives(tg_api: BotApi, tg_emulator: TelegramEmulator) -> None:
    ann = tg_emulator.user(USER, "Ann")
    started = time.monotonic()
    poll = asyncio.create_task(tg_api.ok("getUpdates", timeout=10))
    await asyncio.sleep(0.05)
    assert not poll.done()
    await ann.send_text("wake up")
    updates = await asyncio.wait_for(poll, 2)
    assert updates[0]["message"]["text"] == "wake up"
    assert time.monotonic() - started < 1


async def test_long_poll_times_out_empty(tg_api: BotApi) -> None:
    started = time.monotonic()
    assert await tg_api.ok("getUpdates", timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 2


async def test_a_newer_get_updates_terminates_the_waiting_one(tg_api: BotApi) -> None:
    first = asyncio.create_task(tg_api.call("getUpdates", timeout=10))
    await asyncio.sleep(0.05)
    assert await tg_api.ok("getUpdates", timeout=0) == []
    response = await asyncio.wait_for(first, 2)
    assert response.status_code == 409
    assert "terminated by other getUpdates request" in response.json()["description"]


async def test_allowed_updates(tg_api: BotApi, tg_emulator: TelegramEmulator, chat: int) -> None:
    await tg_api.ok("getUpdates", offset=-1)
    last = (await tg_api.ok("getUpdates"))[-1]["update_id"]
    await tg_api.ok("getUpdates", offset=last + 1, allowed_updates=["callback_query"])
    await tg_emulator.user_by_id(chat).send_text("ignored")
    assert await tg_api.ok("getUpdates") == []
    await tg_api.ok("getUpdates", allowed_updates=[])  # back to the default set
    await tg_emulator.user_by_id(chat).send_text("seen")
    assert [u["message"]["text"] for u in await tg_api.ok("getUpdates")] == ["seen"]


async def test_webhook_blocks_get_updates(tg_api: BotApi) -> None:
    _, text = await tg_api.error("setWebhook", url="http://bot.example.com/hook")
    assert text == "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
    assert await tg_api.ok("setWebhook", url="https://bot.example.com/hook", secret_token="s3cret") is True
    info = await tg_api.ok("getWebhookInfo")
    assert info["url"] == "https://bot.example.com/hook"
    status, text = await tg_api.error("getUpdates")
    assert status == 409
    assert "webhook is active" in text
    assert await tg_api.ok("deleteWebhook", drop_pending_updates=True) is True
    assert (await tg_api.ok("getWebhookInfo"))["url"] == ""
    assert await tg_api.ok("getUpdates") == []


# -- commands ----------------------------------------------------------------------------------------


async def test_commands_per_scope_and_language(tg_api: BotApi, tg_emulator: TelegramEmulator, chat: int) -> None:
    english = [{"command": "start", "description": "Start"}, {"command": "help", "description": "Help"}]
    german = [{"command": "start", "description": "Los"}]
    admin = [{"command": "stats", "description": "Statistics"}]
    assert await tg_api.ok("setMyCommands", commands=english)
    assert await tg_api.ok("setMyCommands", commands=german, language_code="de")
    assert await tg_api.ok("setMyCommands", commands=admin, scope={"type": "chat", "chat_id": chat})
    assert await tg_api.ok("getMyCommands") == english
    assert await tg_api.ok("getMyCommands", language_code="de") == german
    assert await tg_api.ok("getMyCommands", scope={"type": "chat", "chat_id": chat}) == admin
    assert await tg_api.ok("getMyCommands", scope={"type": "all_private_chats"}) == []
    assert await tg_api.ok("deleteMyCommands", language_code="de")
    assert await tg_api.ok("getMyCommands", language_code="de") == []
    assert tg_emulator.bot().commands_for() == english
    _, text = await tg_api.error("getMyCommands", scope={"type": "chat", "chat_id": 777})
    assert text == "Bad Request: chat not found"


# -- faults and the call record -----------------------------------------------------------------------


async def test_fault_429_with_retry_after(tg_api: BotApi, tg_emulator: TelegramEmulator, chat: int) -> None:
    tg_emulator.add_fault("sendMessage", retry_after=3)
    response = await tg_api.call("sendMessage", chat_id=chat, text="hi")
    assert response.status_code == 429
    assert response.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    await tg_api.ok("sendMessage", chat_id=chat, text="hi")
    calls = tg_emulator.calls_to("sendMessage")
    assert [(c.ok, c.error_code) for c in calls] == [(False, 429), (True, None)]
    assert calls[0].params == {"chat_id": str(chat), "text": "hi"}  # a fault answers before decoding
    assert calls[1].params == {"chat_id": chat, "text": "hi"}
    assert calls[1].result["text"] == "hi"
    assert calls[0].at <= calls[1].at


async def test_fault_5xx_any_method_times(tg_api: BotApi, tg_emulator: TelegramEmulator, chat: int) -> None:
    tg_emulator.add_fault(None, status=500, times=2)
    assert await tg_api.ok("getUpdates") != []  # getUpdates is never hit by a fault for any method
    assert await tg_api.error("getMe") == (500, "Internal Server Error")
    assert await tg_api.error("sendMessage", chat_id=chat, text="x") == (500, "Internal Server Error")
    assert (await tg_api.ok("getMe"))["is_bot"] is True
    tg_emulator.add_fault("getMe", status=502)
    assert await tg_api.error("getMe") == (502, "Bad Gateway")
    with pytest.raises(ValueError, match="unknown Bot API method"):
        tg_emulator.add_fault("sendTelepathy")


async def test_unmodelled_boolean_methods_are_accepted_and_others_are_501(
    tg_api: BotApi, tg_emulator: TelegramEmulator
) -> None:
    assert await tg_api.ok("setMyDescription", description="Lockers near you") is True
    status, text = await tg_api.error("sendPoll", chat_id=1, question="?", options=json.dumps([{"text": "a"}]))
    assert (status, text) == (501, "Not Implemented: the Telegram emulator does not implement sendPoll")
    assert tg_emulator.errors == []
