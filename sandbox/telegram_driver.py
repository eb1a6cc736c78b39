"""Play Telegram users against the emulator: write, share locations, tap buttons, read what the bot sent.

    emulator = TelegramEmulator(); emulator.add_bot()
    ann = emulator.user(1001, "Ann")
    await ann.command("start")
    reply = await ann.wait_for("welcome")          # text or caption contains it (case-insensitive)
    answer = await ann.press("Drop off")            # the newest bot message with such an inline button
    await ann.wait_for(lambda m: m.edited)
    ann.chat                                        # the chat as Ann sees it: both sides, edits applied

Waiting never sleeps in a loop: it waits on the emulator's asyncio.Condition, which every change to a chat
notifies. "New" means changed since the user's last action (``user.mark()`` moves that point by hand).

The driver needs only :class:`sandbox.telegram_state.EmulatorState` (the emulator depends on the driver, not
the other way round); ``TelegramEmulator.user()`` makes one driver per user and bot and keeps it.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.telegram_errors import ApiError
from sandbox.telegram_formatting import utf16_len
from sandbox.telegram_records import BotAccount, ChatState, MessageRecord, UserRecord
from sandbox.telegram_state import EmulatorState

_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?=\s|$)")
_DEEP_LINK_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Button:
    """An inline keyboard button."""

    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class ReplyButton:
    """A reply keyboard button."""

    text: str
    request_location: bool = False
    request_contact: bool = False


@dataclass(frozen=True)
class CallbackAnswer:
    """What the bot answered to a button press (answerCallbackQuery)."""

    text: str | None
    show_alert: bool
    query_id: str
    url: str | None = None


@dataclass
class ChatMessage:
    """A message as the person sees it (a snapshot: take a new one to see later edits)."""

    message_id: int
    from_bot: bool
    text: str | None = None
    caption: str | None = None
    photo: bytes | None = None  # the largest size, as stored (JPEG, quality 80, long side <= 1280)
    document: bytes | None = None
    location: tuple[float, float] | None = None
    venue: dict[str, Any] | None = None
    inline_buttons: list[list[Button]] = field(default_factory=list)
    reply_buttons: list[list[ReplyButton]] = field(default_factory=list)
    remove_keyboard: bool = False
    edited: bool = False
    date: int = 0
    entities: list[dict[str, Any]] = field(default_factory=list)
    chat_id: int = 0
    document_name: str | None = None
    sticker: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)  # the Bot API Message object

    @property
    def buttons(self) -> list[str]:
        """The texts of the inline buttons, row by row."""
        return [button.text for row in self.inline_buttons for button in row]

    @property
    def content(self) -> str | None:
        return self.text if self.text is not None else self.caption

    def button(self, text: str) -> Button:
        found = _find(self.inline_buttons, text)
        if found is None:
            raise LookupError(
                f"no inline button containing {text!r} in message {self.message_id}; buttons: {self.buttons}"
            )
        return found

    def describe(self) -> str:
        """One line for logs and error messages."""
        who = "bot" if self.from_bot else "user"
        parts = []
        if self.photo is not None:
            parts.append("[photo]")
        if self.document is not None:
            parts.append(f"[document {self.document_name or ''}]".replace(" ]", "]"))
        if self.venue is not None:
            parts.append(f"[venue {self.venue.get('title')}]")
        elif self.location is not None:
            parts.append(f"[location {self.location[0]:.5f},{self.location[1]:.5f}]")
        if self.sticker is not None:
            parts.append("[sticker]")
        if self.content:
            parts.append(repr(self.content))
        if self.inline_buttons:
            parts.append(f"buttons={self.buttons}")
        if self.reply_buttons:
            parts.append(f"keyboard={[b.text for row in self.reply_buttons for b in row]}")
        if self.edited:
            parts.append("(edited)")
        return f"#{self.message_id} {who}: " + " ".join(parts)


def _find(rows: list[list[Any]], text: str) -> Any:
    """The button whose text contains ``text`` (case-insensitive), preferring an exact match."""
    needle = text.casefold()
    matches = [b for row in rows for b in row if needle in b.text.casefold()]
    exact = [b for b in matches if b.text.casefold() == needle]
    return (exact or matches or [None])[0]


def snapshot(emulator: EmulatorState, record: MessageRecord) -> ChatMessage:
    data = record.data
    photo = document = None
    if data.get("photo"):
        photo = emulator.file_bytes(data["photo"][-1]["file_id"])
    if data.get("document"):
        document = emulator.file_bytes(data["document"]["file_id"])
    location = (data["location"]["latitude"], data["location"]["longitude"]) if data.get("location") else None
    inline = [
        [Button(b["text"], b.get("callback_data"), b.get("url")) for b in row]
        for row in (data.get("reply_markup") or {}).get("inline_keyboard", [])
    ]
    reply = [
        [ReplyButton(b["text"], bool(b.get("request_location")), bool(b.get("request_contact"))) for b in row]
        for row in (record.keyboard or {}).get("keyboard", [])
    ]
    return ChatMessage(
        message_id=record.message_id,
        from_bot=record.from_bot,
        text=data.get("text"),
        caption=data.get("caption"),
        photo=photo,
        document=document,
        location=location,
        venue=data.get("venue"),
        inline_buttons=inline,
        reply_buttons=reply,
        remove_keyboard=record.remove_keyboard,
        edited="edit_date" in data,
        date=data["date"],
        entities=list(data.get("entities") or data.get("caption_entities") or []),
        chat_id=record.chat_id,
        document_name=(data.get("document") or {}).get("file_name"),
        sticker=data.get("sticker"),
        contact=data.get("contact"),
        raw=data,
    )


Predicate = Callable[[ChatMessage], bool] | str | re.Pattern[str] | None


def _matcher(predicate: Predicate) -> tuple[Callable[[ChatMessage], bool], str]:
    if predicate is None:
        return (lambda m: True), "any message"
    if isinstance(predicate, str):
        needle = predicate.casefold()
        return (lambda m: needle in (m.content or "").casefold()), f"text containing {predicate!r}"
    if isinstance(predicate, re.Pattern):
        pattern = predicate
        return (lambda m: pattern.search(m.content or "") is not None), f"text matching {pattern.pattern!r}"
    return predicate, getattr(predicate, "__name__", "the predicate")


class UserDriver:
    """One Telegram user talking to one bot. Private chat id == user id; pass ``chat_id`` to act in a group."""

    def __init__(self, emulator: EmulatorState, bot: BotAccount, record: UserRecord) -> None:
        self.emulator = emulator
        self.bot = bot
        self.record = record
        self.location: tuple[float, float] | None = None  # sent by reply buttons with request_location
        self.phone_number = f"+1555{record.id % 10_000_000:07d}"  # sent by reply buttons with request_contact
        self.opened_urls: list[str] = []  # URL buttons the user pressed
        self._mark = emulator._seq

    def __repr__(self) -> str:
        return f"<UserDriver {self.record.id} {self.record.first_name!r} -> @{self.bot.username}>"

    # -- identity ------------------------------------------------------------------------------------

    @property
    def id(self) -> int:
        return self.record.id

    user_id = id

    @property
    def first_name(self) -> str:
        return self.record.first_name

    @property
    def username(self) -> str | None:
        return self.record.username

    @property
    def language_code(self) -> str | None:
        return self.record.language_code

    # -- what the user sees --------------------------------------------------------------------------

    def _chat(self, chat_id: int | None = None) -> ChatState | None:
        return self.bot.chats.get(self.id if chat_id is None else chat_id)

    def messages(self, chat_id: int | None = None) -> list[ChatMessage]:
        """The chat (private by default) as the user sees it: both sides, edits applied, deletions gone."""
        chat = self._chat(chat_id)
        if chat is None:
            return []
        return [snapshot(self.emulator, r) for r in chat.messages.values() if not r.deleted]

    @property
    def chat(self) -> list[ChatMessage]:
        return self.messages()

    @property
    def bot_messages(self) -> list[ChatMessage]:
        return [m for m in self.chat if m.from_bot]

    @property
    def last_bot_message(self) -> ChatMessage | None:
        messages = self.bot_messages
        return messages[-1] if messages else None

    @property
    def chat_actions(self) -> list[str]:
        chat = self._chat()
        return [action for _, action in chat.actions] if chat else []

    @property
    def callback_answers(self) -> list[CallbackAnswer]:
        return [
            CallbackAnswer(a["text"], a["show_alert"], a["query_id"], a.get("url"))
            for chat in self.bot.chats.values()
            for user_id, a in chat.callback_answers
            if user_id == self.id
        ]

    def keyboard(self, chat_id: int | None = None) -> list[list[ReplyButton]] | None:
        """The reply keyboard shown in the chat: the last one the bot sent and did not remove."""
        chat = self._chat(chat_id)
        if chat is None or chat.reply_keyboard is None:
            return None
        return [
            [ReplyButton(b["text"], bool(b.get("request_location")), bool(b.get("request_contact"))) for b in row]
            for row in chat.reply_keyboard["keyboard"]
        ]

    @property
    def reply_keyboard(self) -> list[list[ReplyButton]] | None:
        return self.keyboard()

    @property
    def blocked(self) -> bool:
        chat = self._chat()
        return bool(chat and chat.blocked)

    def transcript(self, chat_id: int | None = None) -> str:
        return "\n".join(m.describe() for m in self.messages(chat_id))

    # -- actions -------------------------------------------------------------------------------------

    def mark(self) -> None:
        """From now on, only bot messages that change after this point count as new for wait_for."""
        self._mark = self.emulator._seq

    async def _send(self, content: dict[str, Any], chat_id: int | None) -> ChatMessage:
        self.mark()
        record = await self.emulator.user_message(self.bot, self.record, content, chat_id=chat_id)
        return snapshot(self.emulator, record)

    async def send_text(
        self, text: str, *, chat_id: int | None = None, reply_to: ChatMessage | int | None = None
    ) -> ChatMessage:
        """Send a text message; ``/command`` at the start gets a bot_command entity, as Telegram adds.
        ``reply_to`` makes it a reply to that message (how users answer a ForceReply prompt)."""
        if not text.strip():
            raise ValueError("Telegram apps do not send empty messages")
        if len(text) > 4096:
            raise ValueError("Telegram apps split messages longer than 4096 characters")
        content: dict[str, Any] = {"text": text}
        command = _COMMAND.match(text)
        if command:
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}]
        if reply_to is not None:
            content["reply_to_message"] = self._replied(reply_to, chat_id)
        return await self._send(content, chat_id)

    def _replied(self, reply_to: ChatMessage | int, chat_id: int | None) -> dict[str, Any]:
        message_id = reply_to if isinstance(reply_to, int) else reply_to.message_id
        chat = self._chat(chat_id)
        record = chat.messages.get(message_id) if chat else None
        if record is None or record.deleted:
            raise LookupError(f"message {message_id} is not in the chat")
        return {k: v for k, v in record.data.items() if k != "reply_to_message"}

    async def command(
        self, name: str, args: str = "", *, chat_id: int | None = None, mention: bool = False
    ) -> ChatMessage:
        """``/name args`` (``/name@bot args`` with mention=True, as group members tap it)."""
        text = "/" + name.removeprefix("/") + (f"@{self.bot.username}" if mention else "")
        return await self.send_text(f"{text} {args}" if args else text, chat_id=chat_id)

    async def open_deep_link(self, payload: str) -> ChatMessage:
        """What the app sends when the user opens t.me/<bot>?start=<payload> and taps Start."""
        if not _DEEP_LINK_PAYLOAD.fullmatch(payload):
            raise ValueError(
                f"deep-link payload {payload!r} is not 1-64 characters of A-Z, a-z, 0-9, _ and -: "
                "Telegram would not pass it to the bot"
            )
        return await self.send_text(f"/start {payload}")

    async def open_link(self, url: str) -> ChatMessage:
        """Open a https://t.me/<bot>?start=<payload> link (the bot must be this user's bot)."""
        parts = urlsplit(url)
        if parts.hostname not in ("t.me", "telegram.me") or parts.path.strip("/").lower() != self.bot.username.lower():
            raise ValueError(f"{url!r} is not a link to @{self.bot.username}")
        payload = parse_qs(parts.query).get("start", [""])[0]
        return await (self.open_deep_link(payload) if payload else self.send_text("/start"))

    async def share_location(
        self, latitude: float, longitude: float, *, chat_id: int | None = None, horizontal_accuracy: float | None = None
    ) -> ChatMessage:
        location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        if horizontal_accuracy is not None:
            location["horizontal_accuracy"] = horizontal_accuracy
        self.location = (latitude, longitude)
        return await self._send({"location": location}, chat_id)

    async def send_venue(
        self, latitude: float, longitude: float, title: str, address: str, *, chat_id: int | None = None
    ) -> ChatMessage:
        location = {"latitude": latitude, "longitude": longitude}
        venue = {"location": location, "title": title, "address": address}
        return await self._send({"venue": venue, "location": location}, chat_id)

    async def send_photo(
        self, data: bytes | None = None, *, caption: str | None = None, chat_id: int | None = None
    ) -> ChatMessage:
        """Send a photo (a small generated picture by default); Telegram recompresses it as for bots."""
        if data is None:
            data = _sample_image("PNG")
        try:
            sizes = self.emulator.store_photo(data)
        except ApiError as exc:
            raise ValueError(f"the app would not send this photo: {exc.description}") from None
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        return await self._send(content, chat_id)

    async def send_sticker(self, *, emoji: str = "👍", chat_id: int | None = None) -> ChatMessage:
        stored = self.emulator.store_document(
            _sample_image("WEBP", size=(512, 512)), None, "image/webp", kind="sticker"
        )
        sticker = {
            **{k: stored[k] for k in ("file_id", "file_unique_id", "file_size")},
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return await self._send({"sticker": sticker}, chat_id)

    async def send_document(
        self,
        data: bytes = b"hello from the emulator\n",
        *,
        file_name: str = "document.txt",
        mime_type: str | None = None,
        caption: str | None = None,
        chat_id: int | None = None,
    ) -> ChatMessage:
        content: dict[str, Any] = {"document": self.emulator.store_document(data, file_name, mime_type)}
        if caption:
            content["caption"] = caption
        return await self._send(content, chat_id)

    async def share_contact(self, phone_number: str | None = None, *, chat_id: int | None = None) -> ChatMessage:
        contact: dict[str, Any] = {
            "phone_number": phone_number or self.phone_number,
            "first_name": self.record.first_name,
            "user_id": self.id,
        }
        if self.record.last_name:
            contact["last_name"] = self.record.last_name
        return await self._send({"contact": contact}, chat_id)

    async def block(self) -> None:
        """Block the bot: its sends now fail with 403, and it gets a my_chat_member update."""
        self.mark()
        await self.emulator.set_blocked(self.bot, self.record, True)

    async def unblock(self) -> None:
        self.mark()
        await self.emulator.set_blocked(self.bot, self.record, False)

    async def press(
        self,
        button: str,
        message: ChatMessage | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - the driver's API: seconds to wait for the bot's answer
        chat_id: int | None = None,
    ) -> CallbackAnswer | None:
        """Tap the inline button whose text contains ``button`` (case-insensitive) in ``message`` or, by
        default, in the newest bot message that has one. Returns the bot's answer to the callback query,
        or None if it did not answer within ``timeout`` (and at once for URL buttons)."""
        chat = self._chat(chat_id if chat_id is not None else (message.chat_id if message else None))
        records: list[MessageRecord] = []
        if chat is not None and message is not None:
            current = chat.messages.get(message.message_id)
            if current is None or current.deleted:
                raise LookupError(f"message {message.message_id} is no longer in the chat")
            records = [current]
        elif chat is not None:
            records = [r for r in reversed(chat.messages.values()) if r.from_bot and not r.deleted]
        seen: list[str] = []
        for record in records:
            shown = snapshot(self.emulator, record)
            found = _find(shown.inline_buttons, button)
            if shown.inline_buttons:
                seen.append(f"#{shown.message_id}: {shown.buttons}")
            if found is None:
                continue
            if found.url is not None:
                self.opened_urls.append(found.url)
                return None
            if found.callback_data is None:
                raise NotImplementedError(f"the driver can only press callback and URL buttons, not {found!r}")
            self.mark()
            state = await self.emulator.press_callback(self.bot, self.record, record, found.callback_data)
            try:
                await asyncio.wait_for(state.answered.wait(), timeout)
            except TimeoutError:
                return None
            answer = state.answer or {}
            return CallbackAnswer(answer.get("text"), bool(answer.get("show_alert")), state.query_id, answer.get("url"))
        where = f"message {message.message_id}" if message is not None else "the bot's messages"
        raise LookupError(f"no inline button containing {button!r} in {where}; buttons: {'; '.join(seen) or 'none'}")

    async def press_reply(self, button: str, *, chat_id: int | None = None) -> ChatMessage:
        """Tap a reply keyboard button: sends its text, or the location / contact it requests."""
        keyboard = self.keyboard(chat_id)
        if keyboard is None:
            raise LookupError("no reply keyboard is shown in the chat")
        found = _find(keyboard, button)
        if found is None:
            raise LookupError(
                f"no reply keyboard button containing {button!r}; buttons: {[b.text for row in keyboard for b in row]}"
            )
        if found.request_location:
            if self.location is None:
                raise RuntimeError("this button sends the user's location: set user.location = (lat, lon) first")
            return await self.share_location(*self.location, chat_id=chat_id)
        if found.request_contact:
            return await self.share_contact(chat_id=chat_id)
        return await self.send_text(found.text, chat_id=chat_id)

    # -- waiting ---------------------------------------------------------------------------------------

    async def wait_for(
        self,
        predicate: Predicate = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - the driver's API
        chat_id: int | None = None,
    ) -> ChatMessage:
        """The first bot message, new or edited since the user's last action, that matches ``predicate``
        (a callable, a regex, or a str: the text or caption contains it, case-insensitive)."""
        match, description = _matcher(predicate)
        return await self._wait(lambda r: match(snapshot(self.emulator, r)), description, timeout, chat_id, edits=True)

    async def next_reply(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109 - the driver's API
        *,
        chat_id: int | None = None,
    ) -> ChatMessage:
        """The first bot message sent after the user's last action (in its current state)."""
        return await self._wait(lambda r: True, "a new message", timeout, chat_id, edits=False)

    async def _wait(
        self,
        accept: Callable[[MessageRecord], bool],
        description: str,
        seconds: float,
        chat_id: int | None,
        *,
        edits: bool,
    ) -> ChatMessage:
        mark = self._mark

        def found() -> ChatMessage | None:
            chat = self._chat(chat_id)
            if chat is None:
                return None

            def key(record: MessageRecord) -> int:
                return int(record.changed_seq if edits else record.created_seq)

            fresh = sorted(
                (r for r in chat.messages.values() if r.from_bot and not r.deleted and key(r) > mark), key=key
            )
            for record in fresh:
                if accept(record):
                    return snapshot(self.emulator, record)
            return None

        condition = self.emulator._changed
        try:
            async with condition:
                result = await asyncio.wait_for(condition.wait_for(found), seconds)
        except TimeoutError:
            recent = [m.describe() for m in self.bot_messages[-4:]]
            raise TimeoutError(
                f"{self!r}: no bot message ({description}) within {seconds:g} s since the user's last action; "
                f"the last bot messages: {recent or 'none'}"
            ) from None
        assert result is not None
        return result


def _sample_image(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    from PIL import Image

    image = Image.new("RGB", size, (40, 120, 200))
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=fmt)
    except (KeyError, OSError):  # a Pillow without WebP
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
    return buffer.getvalue()
