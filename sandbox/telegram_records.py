"""What the Telegram emulator remembers: bots, users, chats, messages, callback queries, stored files, and
the calls the bot made. Plain records; the operations on them live in :mod:`sandbox.telegram_state`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)  # everything except chat_member, message_reaction and message_reaction_count, as Telegram does


@dataclass
class ApiCall:
    """One call the bot made. ``params`` are the decoded parameters; uploaded files appear as their byte
    length. ``at`` is ``time.monotonic()`` when the call arrived."""

    method: str
    params: dict[str, Any]
    ok: bool
    error_code: int | None
    at: float
    description: str | None = None
    result: Any = None


@dataclass
class Fault:
    method: str | None  # lower-case method name, or None for any method except getUpdates
    status: int
    retry_after: int | None
    times: int
    description: str | None = None


@dataclass
class StoredFile:
    """A file the emulator holds: uploaded by the bot, sent by a user, or one size of a photo."""

    file_id: str
    file_unique_id: str
    kind: str  # photo | document | sticker
    data: bytes
    file_path: str
    width: int | None = None
    height: int | None = None
    file_name: str | None = None
    mime_type: str | None = None
    photo_sizes: list[dict[str, Any]] | None = None  # for photos: every size of the same photo

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class MessageRecord:
    """A message in a chat, as Telegram stores it (``data`` is the Bot API Message object)."""

    message_id: int
    chat_id: int
    from_bot: bool
    data: dict[str, Any]
    created_seq: int
    changed_seq: int
    sender_id: int
    deleted: bool = False
    keyboard: dict[str, Any] | None = None  # a ReplyKeyboardMarkup sent with the message
    remove_keyboard: bool = False  # the message carried ReplyKeyboardRemove
    force_reply: bool = False


@dataclass
class CallbackQueryState:
    query_id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    answer: dict[str, Any] | None = None


@dataclass
class ChatState:
    id: int
    type: str  # private | group | supergroup
    info: dict[str, Any]  # the Bot API Chat object
    messages: dict[int, MessageRecord] = field(default_factory=dict)
    next_message_id: int = 1
    actions: list[tuple[float, str]] = field(default_factory=list)
    callback_answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (user_id, answer)
    reply_keyboard: dict[str, Any] | None = None  # the keyboard users see (last sent, not removed)
    blocked: bool = False  # private chats: the user blocked the bot
    members: set[int] = field(default_factory=set)


@dataclass
class UserRecord:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"

    def as_user(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user


@dataclass
class BotAccount:
    token: str
    id: int
    username: str
    first_name: str
    chats: dict[int, ChatState] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)  # not yet confirmed
    next_update_id: int = 1000
    allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
    webhook: dict[str, Any] | None = None
    commands: dict[tuple[tuple[str, int | None, int | None], str], list[dict[str, str]]] = field(default_factory=dict)
    callback_queries: dict[str, CallbackQueryState] = field(default_factory=dict)
    privacy_mode: bool = True  # in groups, only commands, mentions and replies to the bot reach it
    poll_generation: int = 0  # bumped by every getUpdates: an older waiting call ends with 409
    release_generation: int = 0  # bumped by release_long_polls(): waiting calls return at once
    cond: asyncio.Condition = field(default_factory=asyncio.Condition)

    def as_user(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    def commands_for(
        self, scope: str = "default", language_code: str = "", *, chat_id: int | None = None
    ) -> list[dict[str, str]]:
        """The commands set with exactly this scope type (and chat) and language."""
        return list(self.commands.get(((scope, chat_id, None), language_code), []))
