"""The Telegram emulator's world and the changes to it that both sides make: the Bot API methods (the bot)
and :mod:`sandbox.telegram_driver` (the users). Every change to a chat bumps a global sequence number and
notifies one asyncio.Condition, which is how drivers and the console wait without polling."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request

from sandbox.telegram_errors import ApiError, bad_request
from sandbox.telegram_files import FileStore
from sandbox.telegram_records import (
    ApiCall,
    BotAccount,
    CallbackQueryState,
    ChatState,
    Fault,
    MessageRecord,
    UserRecord,
)
from sandbox.telegram_validation import SpecValidator, load_spec
from sandbox.telegram_webhook import WebhookDispatcher

DEFAULT_TOKEN = "123456:TEST-TOKEN"
TOKEN_RE = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{1,100}")


class EmulatorState:
    """Bots, users, chats, files and the record of calls, with the operations that change them."""

    def __init__(
        self,
        spec: dict[str, Any] | None = None,
        *,
        allow_insecure_webhooks: bool = False,
        webhook_retry_delay: float = 1.0,
    ) -> None:
        """``allow_insecure_webhooks`` also accepts http:// webhooks on any port of loopback hosts (for a
        test's local server); ``webhook_retry_delay`` is the first pause before a failed delivery is retried
        (doubled per failure, capped at a minute)."""
        self.validator = SpecValidator(spec or load_spec())
        self.bots: dict[str, BotAccount] = {}
        self.users: dict[int, UserRecord] = {}
        self.files = FileStore()
        self.calls: list[ApiCall] = []
        self.errors: list[str] = []  # tracebacks of emulator bugs (answered with 500)
        self.faults: list[Fault] = []
        self.clock: Callable[[], float] = time.time
        self.webhooks = WebhookDispatcher(
            allow_insecure=allow_insecure_webhooks, retry_delay=webhook_retry_delay, clock=lambda: self.clock()
        )
        self._seq = 0  # global change counter: every new, edited or deleted message gets the next value
        self._changed = asyncio.Condition()
        self._query_counter = itertools.count(4_812_736_150_000_000_000)

    # -- bots -----------------------------------------------------------------------------------------

    def add_bot(
        self, token: str = DEFAULT_TOKEN, *, username: str = "harbor_test_bot", first_name: str = "Harbor Bot"
    ) -> BotAccount:
        if not TOKEN_RE.fullmatch(token):
            raise ValueError(f"not a Bot API token: {token!r} (expected <digits>:<letters, digits, _ or ->)")
        bot = BotAccount(token=token, id=int(token.split(":")[0]), username=username, first_name=first_name)
        self.bots[token] = bot
        return bot

    def bot(self, token: str | None = None) -> BotAccount:
        """The bot with this token, or the first one added."""
        if token is not None:
            return self.bots[token]
        if not self.bots:
            raise LookupError("no bot: call emulator.add_bot() first")
        return next(iter(self.bots.values()))

    async def release_long_polls(self) -> None:
        """Make every waiting getUpdates return now (with what it has); used before a server shuts down."""
        for bot in self.bots.values():
            bot.release_generation += 1
            await self.notify_bot(bot)

    def chat(self, chat_id: int, *, bot_token: str | None = None) -> ChatState:
        return self.bot(bot_token).chats[chat_id]

    async def webhook_idle(self, token: str | None = None) -> None:
        """Wait until the bot's webhook has taken every pending update (at once when no webhook is set).
        Wrap it in ``asyncio.timeout`` when the webhook may keep failing."""
        await self.webhooks.idle(self.bot(token))

    async def aclose(self) -> None:
        """Stop webhook deliveries and close their HTTP client (also done on the app's shutdown)."""
        await self.webhooks.aclose()

    # -- test hooks -----------------------------------------------------------------------------------

    def add_fault(
        self,
        method: str | None,
        *,
        status: int = 429,
        retry_after: int | None = None,
        times: int = 1,
        description: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (any method but getUpdates when None) with an error."""
        if method is not None and self.validator.method_named(method) is None:
            raise ValueError(f"unknown Bot API method {method!r}")
        self.faults.append(Fault(method.lower() if method else None, status, retry_after, times, description))

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    # -- changes shared by the API and the driver ---------------------------------------------------

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def notify_changed(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def notify_bot(self, bot: BotAccount) -> None:
        async with bot.cond:
            bot.cond.notify_all()

    async def push_update(self, bot: BotAccount, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue an update for the bot (dropped, like Telegram does, when the bot did not ask for its kind)."""
        if kind not in bot.allowed_updates:
            return None
        update = {"update_id": bot.next_update_id, kind: payload}
        bot.next_update_id += 1
        bot.updates.append(update)
        self.webhooks.kick(bot)
        await self.notify_bot(bot)
        return update

    def private_chat(self, bot: BotAccount, user: UserRecord) -> ChatState:
        chat = bot.chats.get(user.id)
        if chat is None:
            info: dict[str, Any] = {"id": user.id, "first_name": user.first_name, "type": "private"}
            if user.last_name:
                info["last_name"] = user.last_name
            if user.username:
                info["username"] = user.username
            chat = bot.chats[user.id] = ChatState(user.id, "private", info, members={user.id})
        return chat

    def group_chat(self, bot: BotAccount, chat_id: int, user: UserRecord, title: str | None = None) -> ChatState:
        if chat_id >= 0:
            raise ValueError("group chat ids are negative (supergroups start with -100)")
        chat = bot.chats.get(chat_id)
        if chat is None:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            info = {"id": chat_id, "title": title or f"Group {chat_id}", "type": kind}
            chat = bot.chats[chat_id] = ChatState(chat_id, kind, info)
        chat.members.add(user.id)
        return chat

    def new_message(
        self, bot: BotAccount, chat: ChatState, sender: dict[str, Any], content: dict[str, Any], *, from_bot: bool
    ) -> MessageRecord:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        data = {"message_id": message_id, "from": sender, "chat": dict(chat.info), "date": int(self.clock())}
        data.update(content)
        seq = self.next_seq()
        record = MessageRecord(message_id, chat.id, from_bot, data, seq, seq, sender["id"])
        chat.messages[message_id] = record
        return record

    async def user_message(
        self, bot: BotAccount, user: UserRecord, content: dict[str, Any], *, chat_id: int | None = None
    ) -> MessageRecord:
        """A user writes to the bot: the message is stored and a ``message`` update queued."""
        if chat_id is None or chat_id == user.id:
            chat = self.private_chat(bot, user)
        else:
            chat = self.group_chat(bot, chat_id, user)
        if chat.blocked:
            await self.set_blocked(bot, user, False)  # writing to a blocked bot restarts it, as in the apps
        record = self.new_message(bot, chat, user.as_user(), content, from_bot=False)
        if chat.type == "private" or not bot.privacy_mode or self._meant_for(bot, content):
            await self.push_update(bot, "message", record.data)
        await self.notify_changed()
        return record

    @staticmethod
    def _meant_for(bot: BotAccount, content: dict[str, Any]) -> bool:
        """Privacy mode (BotFather's default): in groups a bot gets commands, mentions and replies to it."""
        text = content.get("text") or content.get("caption") or ""
        command = re.match(r"/[A-Za-z0-9_]+(?:@(\w+))?", text)
        if command and (command.group(1) is None or command.group(1).lower() == bot.username.lower()):
            return True
        if f"@{bot.username.lower()}" in text.lower():
            return True
        return (content.get("reply_to_message") or {}).get("from", {}).get("id") == bot.id

    async def press_callback(
        self, bot: BotAccount, user: UserRecord, record: MessageRecord, data: str
    ) -> CallbackQueryState:
        query_id = str(next(self._query_counter))
        state = CallbackQueryState(query_id, user.id, record.chat_id, record.message_id, data)
        bot.callback_queries[query_id] = state
        payload = {
            "id": query_id,
            "from": user.as_user(),
            "message": record.data,
            "chat_instance": str(abs(hash((bot.id, record.chat_id))) % 10**18),
            "data": data,
        }
        await self.push_update(bot, "callback_query", payload)
        return state

    async def set_blocked(self, bot: BotAccount, user: UserRecord, blocked: bool) -> None:
        chat = self.private_chat(bot, user)
        if chat.blocked == blocked:
            return
        chat.blocked = blocked
        member = {"user": bot.as_user(), "status": "member"}
        kicked = {"user": bot.as_user(), "status": "kicked", "until_date": 0}
        old, new = (member, kicked) if blocked else (kicked, member)
        payload = {
            "chat": dict(chat.info),
            "from": user.as_user(),
            "date": int(self.clock()),
            "old_chat_member": old,
            "new_chat_member": new,
        }
        await self.push_update(bot, "my_chat_member", payload)

    # -- files ----------------------------------------------------------------------------------------

    def store_photo(self, data: bytes) -> list[dict[str, Any]]:
        return self.files.store_photo(data)

    def store_document(
        self, data: bytes, file_name: str | None, mime_type: str | None, *, kind: str = "document"
    ) -> dict[str, Any]:
        return self.files.store_document(data, file_name, mime_type, kind=kind)

    def file_bytes(self, file_id: str) -> bytes | None:
        return self.files.file_bytes(file_id)

    # -- lookups the API methods share ----------------------------------------------------------------

    def chat_for(self, bot: BotAccount, chat_id: Any, *, sending: bool = True) -> ChatState:
        chat: ChatState | None = None
        if isinstance(chat_id, int):
            chat = bot.chats.get(chat_id)
        elif isinstance(chat_id, str) and chat_id.startswith("@"):
            chat = next(
                (c for c in bot.chats.values() if c.type != "private" and c.info.get("username") == chat_id[1:]), None
            )
        if chat is None:
            raise bad_request("chat not found")
        if sending and chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat


MethodHandler = Callable[[EmulatorState, BotAccount, dict[str, Any], Request], Awaitable[Any]]
"""A Bot API method: (emulator, the calling bot, validated parameters, the HTTP request) -> the result."""
