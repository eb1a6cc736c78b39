"""Bot API methods on messages and media: send (text, photo, document, location, venue, chat action),
edit, delete, and the getFile / getChat lookups."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request

from sandbox.telegram_errors import NOT_MODIFIED, bad_request
from sandbox.telegram_files import MAX_DOWNLOAD_BYTES
from sandbox.telegram_formatting import format_text
from sandbox.telegram_keyboards import check_markup
from sandbox.telegram_records import BotAccount, ChatState, MessageRecord
from sandbox.telegram_requests import UploadedFile, read_params
from sandbox.telegram_state import EmulatorState, MethodHandler

MAX_TEXT = 4096
MAX_CAPTION = 1024
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)


def _reply_to(chat: ChatState, params: dict[str, Any]) -> dict[str, Any]:
    reply = params.get("reply_parameters")
    if not reply:
        return {}
    if reply.get("chat_id") not in (None, chat.id):
        raise bad_request("message to be replied not found")
    target = chat.messages.get(reply["message_id"])
    if target is None or target.deleted:
        if reply.get("allow_sending_without_reply"):
            return {}
        raise bad_request("message to be replied not found")
    replied = {k: v for k, v in target.data.items() if k != "reply_to_message"}
    return {"reply_to_message": replied}


def _text_content(params: dict[str, Any], *, key: str, entities_key: str, limit: int, caption: bool) -> dict[str, Any]:
    raw = params.get(key)
    if raw is None or (caption and raw == ""):
        return {}
    text, entities = format_text(raw, params.get("parse_mode"), params.get(entities_key))
    if not text and not caption:
        raise bad_request("message text is empty")
    if len(text) > limit:
        raise bad_request("message caption is too long" if caption else "message is too long")
    content: dict[str, Any] = {key: text} if text else {}
    if entities:
        content[entities_key] = entities
    return content


async def _bot_sends(
    emulator: EmulatorState, bot: BotAccount, chat: ChatState, content: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    markup = check_markup(emulator, params.get("reply_markup"))
    content = {**content, **_reply_to(chat, params)}
    if markup and "inline_keyboard" in markup:
        content["reply_markup"] = markup
    record = emulator.new_message(bot, chat, bot.as_user(), content, from_bot=True)
    if markup and "keyboard" in markup:
        record.keyboard = markup
        chat.reply_keyboard = markup
    elif markup and markup.get("remove_keyboard"):
        record.remove_keyboard = True
        chat.reply_keyboard = None
    elif markup and markup.get("force_reply"):
        record.force_reply = True
    await emulator.notify_changed()
    return record.data


def _editable(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any]) -> tuple[ChatState, MessageRecord]:
    if params.get("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")
    if params.get("chat_id") is None:
        raise bad_request("chat_id is empty")
    if params.get("message_id") is None:
        raise bad_request("message identifier is not specified")
    chat = emulator.chat_for(bot, params["chat_id"])
    record = chat.messages.get(params["message_id"])
    if record is None or record.deleted:
        raise bad_request("message to edit not found")
    if not record.from_bot:
        raise bad_request("message can't be edited")
    return chat, record


async def _apply_edit(
    emulator: EmulatorState,
    record: MessageRecord,
    changes: dict[str, Any],
    removed: Iterable[str],
    markup: dict[str, Any] | None,
) -> dict[str, Any]:
    new = {k: v for k, v in record.data.items() if k not in removed and k not in ("reply_markup", "edit_date")}
    new.update(changes)
    if markup and markup.get("inline_keyboard"):
        new["reply_markup"] = markup
    old = {k: v for k, v in record.data.items() if k != "edit_date"}
    if json.dumps(new, sort_keys=True) == json.dumps(old, sort_keys=True):
        raise bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
    new["edit_date"] = int(emulator.clock())
    record.data = new
    record.changed_seq = emulator.next_seq()
    await emulator.notify_changed()
    return new


# -- the methods ------------------------------------------------------------------------------------


async def send_message(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    chat = emulator.chat_for(bot, params["chat_id"])
    content = _text_content(params, key="text", entities_key="entities", limit=MAX_TEXT, caption=False)
    if params.get("link_preview_options"):
        content["link_preview_options"] = params["link_preview_options"]
    return await _bot_sends(emulator, bot, chat, content, params)


async def send_photo(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    chat = emulator.chat_for(bot, params["chat_id"])
    caption = _text_content(params, key="caption", entities_key="caption_entities", limit=MAX_CAPTION, caption=True)
    check_markup(emulator, params.get("reply_markup"))
    content = {"photo": emulator.files.photo_from(params["photo"]), **caption}
    if params.get("has_spoiler"):
        content["has_media_spoiler"] = True
    return await _bot_sends(emulator, bot, chat, content, params)


async def send_document(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    chat = emulator.chat_for(bot, params["chat_id"])
    caption = _text_content(params, key="caption", entities_key="caption_entities", limit=MAX_CAPTION, caption=True)
    check_markup(emulator, params.get("reply_markup"))
    content = {"document": emulator.files.document_from(params["document"]), **caption}
    return await _bot_sends(emulator, bot, chat, content, params)


def _location(params: dict[str, Any]) -> dict[str, Any]:
    latitude, longitude = params["latitude"], params["longitude"]
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise bad_request("wrong location specified")
    location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    accuracy = params.get("horizontal_accuracy")
    if accuracy is not None:
        if not 0 <= accuracy <= 1500:
            raise bad_request("wrong horizontal accuracy specified")
        location["horizontal_accuracy"] = accuracy
    return location


async def send_location(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    chat = emulator.chat_for(bot, params["chat_id"])
    location = _location(params)
    live_period = params.get("live_period")
    if live_period is not None:
        if not (60 <= live_period <= 86400 or live_period == 0x7FFFFFFF):
            raise bad_request("wrong live period specified")
        location["live_period"] = live_period
    return await _bot_sends(emulator, bot, chat, {"location": location}, params)


async def send_venue(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    chat = emulator.chat_for(bot, params["chat_id"])
    location = _location(params)
    if not params["title"].strip() or not params["address"].strip():
        raise bad_request("venue title and address must be non-empty")
    venue = {"location": location, "title": params["title"], "address": params["address"]}
    for key in ("foursquare_id", "foursquare_type", "google_place_id", "google_place_type"):
        if params.get(key):
            venue[key] = params[key]
    return await _bot_sends(emulator, bot, chat, {"venue": venue, "location": location}, params)


async def send_chat_action(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    chat = emulator.chat_for(bot, params["chat_id"])
    if params["action"] not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    chat.actions.append((emulator.clock(), params["action"]))
    await emulator.notify_changed()
    return True


async def edit_message_text(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    _chat, record = _editable(emulator, bot, params)
    if "text" not in record.data:
        raise bad_request("there is no text in the message to edit")
    if params.get("text") is None:
        raise bad_request("message text is empty")
    content = _text_content(params, key="text", entities_key="entities", limit=MAX_TEXT, caption=False)
    markup = check_markup(emulator, params.get("reply_markup"))
    return await _apply_edit(emulator, record, content, ("text", "entities"), markup)


async def edit_message_caption(
    emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request
) -> Any:
    _chat, record = _editable(emulator, bot, params)
    if not any(k in record.data for k in ("photo", "document", "video", "audio", "animation", "voice")):
        raise bad_request("there is no caption in the message to edit")
    content = _text_content(params, key="caption", entities_key="caption_entities", limit=MAX_CAPTION, caption=True)
    markup = check_markup(emulator, params.get("reply_markup"))
    return await _apply_edit(emulator, record, content, ("caption", "caption_entities"), markup)


async def edit_message_reply_markup(
    emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request
) -> Any:
    _chat, record = _editable(emulator, bot, params)
    markup = check_markup(emulator, params.get("reply_markup"))
    return await _apply_edit(emulator, record, {}, (), markup)


async def edit_message_media(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    _chat, record = _editable(emulator, bot, params)
    if not any(k in record.data for k in ("photo", "document", "video", "audio", "animation")):
        raise bad_request("there is no media in the message to edit")
    media = params["media"]
    source: Any = media["media"]
    if isinstance(source, str) and source.startswith("attach://"):
        raw_upload = await _upload_named(request, source[len("attach://") :])
        if raw_upload is None:
            raise bad_request(f'can\'t find attached file "{source[len("attach://") :]}"')
        source = raw_upload
    changes: dict[str, Any]
    if media["type"] == "photo":
        changes = {"photo": emulator.files.photo_from(source)}
    elif media["type"] == "document":
        changes = {"document": emulator.files.document_from(source)}
    else:
        raise bad_request(f"the emulator does not support {media['type']} media")
    changes.update(
        _text_content(media, key="caption", entities_key="caption_entities", limit=MAX_CAPTION, caption=True)
    )
    markup = check_markup(emulator, params.get("reply_markup"))
    removed = (
        "photo",
        "document",
        "video",
        "audio",
        "animation",
        "caption",
        "caption_entities",
        "has_media_spoiler",
    )
    if media.get("has_spoiler"):
        changes["has_media_spoiler"] = True
    return await _apply_edit(emulator, record, changes, removed, markup)


async def _upload_named(request: Request, name: str) -> UploadedFile | None:
    params = await read_params(request)  # the body is cached by Starlette
    value = params.get(name)
    return value if isinstance(value, UploadedFile) else None


async def delete_message(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    chat = emulator.chat_for(bot, params["chat_id"], sending=False)
    record = chat.messages.get(params["message_id"])
    if record is None or record.deleted:
        raise bad_request("message to delete not found")
    if not record.from_bot and chat.type != "private":
        raise bad_request("message can't be deleted")
    record.deleted = True
    record.changed_seq = emulator.next_seq()
    await emulator.notify_changed()
    return True


async def get_file(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    stored = emulator.files.get(params["file_id"])
    if stored is None:
        raise bad_request("wrong file_id or the file is temporarily unavailable")
    if stored.size > MAX_DOWNLOAD_BYTES:
        raise bad_request("file is too big")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
        "file_path": stored.file_path,
    }


async def get_chat(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    chat = emulator.chat_for(bot, params["chat_id"], sending=False)
    return {
        **chat.info,
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
        },
    }


# -- a small control API for a standalone server (curl-friendly) ------------------------------


HANDLERS: dict[str, MethodHandler] = {
    "sendMessage": send_message,
    "sendPhoto": send_photo,
    "sendDocument": send_document,
    "sendLocation": send_location,
    "sendVenue": send_venue,
    "sendChatAction": send_chat_action,
    "editMessageText": edit_message_text,
    "editMessageCaption": edit_message_caption,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "editMessageMedia": edit_message_media,
    "deleteMessage": delete_message,
    "getFile": get_file,
    "getChat": get_chat,
}
