"""`python -m bot console`: chat with the real bot in this terminal, no Telegram and no Harbor account.

The Telegram emulator, the Harbor simulator and the bot's PTB Application run in this process, on one
asyncio loop. The console plays the person at the keyboard (a UserDriver): what you type is sent as your
message, numbers tap the numbered buttons, and the bot's messages are printed as a person sees them.
Key photos are read back with zxing-cpp and drawn as text, so a whole drop-off (and a handover, with
``/as``) can be walked here. The core, :class:`Console` / :func:`run_console`, takes any line source
and output sink, which is how the tests drive it.

The console's own words are for the developer at the terminal, not for the bot's users, so they live here
rather than in the bot's catalogue (bot/ui/texts.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import io
import logging
import re
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from telegram import Update
from telegram.ext import Application, SimpleUpdateProcessor
from telegram.warnings import PTBUserWarning

from bot.config import ConfigError, Settings, load_settings
from bot.geo import parse_point
from bot.keys import LockerKey
from bot.ui.qr import render_qr_text

if TYPE_CHECKING:
    from sandbox.harbor import HarborSimulator
    from sandbox.telegram import TelegramEmulator

log = logging.getLogger(__name__)

T = TypeVar("T")
Point = tuple[float, float]
Out = Callable[[str], None]

TOKEN = "123456:CONSOLE-TOKEN"
BOT_USERNAME = "harbor_console_bot"
USER_ID = 1
LONG_POLL_SECONDS = 10  # getUpdates waits this long for news; PTB adds it to the read timeout itself
ANSWER_SECONDS = 10.0  # how long the console waits for the bot to finish an answer before reading on
TOWER_MARGIN_SECONDS = 5.0  # after /use: one watch interval plus this for the bot to notice
INDENT = "     "
_DIGITS = re.compile(r"\d{1,4}")
_LINK = re.compile(r"(?:https?://)?(?:t|telegram)\.me/\S+", re.IGNORECASE)

HELP = """\
Console commands (everything else goes to the bot as you typed it):
  N                 tap the button numbered [N] (an inline button, or a keyboard button)
  /loc LAT,LON      share a location, e.g. /loc 37.7793,-122.4193 (also answers "Share my location")
  /use              use the last key you received at the tower (as the Harbor app would)
  /as ID [NAME]     become another Telegram user, e.g. /as 2 Bob (then paste a pickup link)
  https://t.me/...  open a link to the bot: it becomes /start <code>
  /say TEXT         send TEXT as it is (a number, say)
  //CMD             send /CMD to the bot (the bot's own //help, for example)
  /help             this list          /quit             leave (Ctrl-D and Ctrl-C leave too)"""


@dataclass(frozen=True)
class Target:
    """What a printed number taps: an inline button of one message, or a button of the chat's keyboard."""

    chat_id: int
    message_id: int
    text: str
    reply: bool = False  # a reply-keyboard button
    request_location: bool = False
    request_contact: bool = False


@dataclass
class Shown:
    """What the console printed of one bot message, to tell edits and deletions apart."""

    summary: str
    photo_id: str | None = None


@dataclass
class Seen:
    """Per chat: the newest change already printed, and the newest one already announced from afar."""

    printed: int = 0
    noticed: int = 0


class UpdateTracker(SimpleUpdateProcessor):
    """PTB's default update processor, telling which updates the bot has finished handling.

    The console prints the bot's answer before it reads the next line; "answered" is "every update
    the person caused has been handled", which no message count can tell (one tap may bring one
    message, three, or only a toast).
    """

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self.handled: set[int] = set()
        self.changed = asyncio.Condition()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        try:
            await coroutine
        finally:
            if isinstance(update, Update):
                self.handled.add(update.update_id)
            async with self.changed:
                self.changed.notify_all()

    async def wait_handled(self, first: int, end: int) -> None:
        """Until the updates with ids first..end-1 have all been handled."""
        async with self.changed:
            await self.changed.wait_for(lambda: all(i in self.handled for i in range(first, end)))


def console_settings(emulator_root: str, **changes: Any) -> tuple[Settings, tempfile.TemporaryDirectory[str] | None]:
    """Settings from the environment with what the console needs forced; ``changes`` win over both.

    The database is a file in a new temporary directory (removed by the caller) unless DATABASE_URL
    is set, so a console session starts empty and leaves nothing behind.
    """
    forced: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_api_url": emulator_root,
        "harbor_env": "simulator",
        # The simulator answers at its own URLs with its own credentials: anything set for the real
        # Harbor would only get in the way.
        "harbor_api_url": None,
        "harbor_token_url": None,
        "harbor_client_id": None,
        "harbor_client_secret": None,
        "locker_poll_seconds": 2,  # a used key is noticed quickly
    }
    settings = load_settings(**{**forced, **changes})
    if "database_url" in settings.model_fields_set:
        return settings, None
    tmp = tempfile.TemporaryDirectory(prefix="harbor-console-")
    return settings.model_copy(update={"database_url": f"sqlite:///{tmp.name}/console.sqlite3"}), tmp


@contextlib.asynccontextmanager
async def in_process_bot(
    settings: Settings,
    emulator: TelegramEmulator,
    simulator: HarborSimulator,
    *,
    update_processor: SimpleUpdateProcessor | None = None,
    poll_seconds: float = LONG_POLL_SECONDS,
) -> AsyncIterator[Application]:
    """The bot's real Application, polling ``emulator`` and calling ``simulator``, both in this process
    (no sockets); started as run_polling() would, and shut down the same way on exit."""
    from bot.app import Overrides, build_application
    from bot.harbor.factory import connect_harbor

    connection = connect_harbor(settings, simulator=simulator)
    overrides = Overrides(
        request=emulator.ptb_request(),
        # getUpdates holds its connection for the whole long poll, so it gets a request object of its
        # own (PTB wants two anyway); PTB adds the poll timeout to that request's read timeout itself.
        get_updates_request=emulator.ptb_request(),
        harbor=connection,
        update_processor=update_processor,
    )
    try:
        app = build_application(settings, overrides)
    except BaseException:
        await connection.aclose()
        raise
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(connection.aclose)  # post_shutdown closes it too; twice is harmless
        # run_polling()'s steps, one by one, so that each is undone on the way out.
        await app.initialize()
        stack.push_async_callback(app.shutdown)
        assert app.post_init is not None and app.post_shutdown is not None
        await app.post_init(app)
        stack.push_async_callback(app.post_shutdown, app)  # closes the Harbor connection
        await app.start()
        stack.push_async_callback(app.stop)
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=poll_seconds)
        stack.push_async_callback(app.updater.stop)
        yield app


def default_name() -> str:
    try:
        name = getpass.getuser()
    except Exception:  # no login name at all (a container, say)
        return "You"
    return name[:1].upper() + name[1:] if name else "You"


class Console:
    """The bot, Telegram and Harbor in this process, and one person (or several, by turns) at the keyboard.

    ``async with Console(out) as console: await console.handle("/start")`` — handle() returns after the
    bot has finished answering (see :meth:`settled`); messages that come later (a timer, the locker
    watch) are printed as they arrive.
    """

    def __init__(
        self,
        out: Out,
        *,
        near: Point | None = None,
        user_name: str | None = None,
        echo: bool = False,
        **settings: Any,
    ) -> None:
        from sandbox.harbor import HarborSimulator
        from sandbox.telegram import TelegramEmulator

        self.out = out
        self.near = near
        self.echo = echo
        self.emulator = TelegramEmulator()
        self.bot_account = self.emulator.add_bot(TOKEN, username=BOT_USERNAME, first_name="Harbor")
        self.simulator = HarborSimulator()
        self.settings, self._tmp = console_settings(self.emulator.root, **settings)
        self.tracker = UpdateTracker()
        self.app: Application | None = None
        self.location: Point | None = near  # what "Share my location" sends
        self.last_key: LockerKey | None = None
        self.driver = self.emulator.user(USER_ID, user_name or default_name(), bot_token=TOKEN)
        self._drivers = {USER_ID: self.driver}
        self._seen: dict[int, Seen] = {}
        self._shown: dict[tuple[int, int], Shown] = {}
        self._targets: dict[int, Target] = {}
        self._next_number = 1
        self._asked_location = False  # the bot asked for a location since the person's last input
        self._handled_until = self.bot_account.next_update_id  # updates below this id are handled
        self._print_lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self._stack = contextlib.AsyncExitStack()

    # -- life cycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> Console:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        stack = self._stack
        if self._tmp is not None:
            stack.callback(self._tmp.cleanup)
        try:
            self.app = await stack.enter_async_context(
                in_process_bot(self.settings, self.emulator, self.simulator, update_processor=self.tracker)
            )
        except BaseException:
            await stack.aclose()
            raise
        self._watcher = asyncio.create_task(self._watch(), name="console-watch")
        stack.push_async_callback(self._stop_watcher)
        self._banner()

    async def stop(self) -> None:
        await self._stack.aclose()
        self.app = None

    async def _stop_watcher(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    def _banner(self) -> None:
        from storage.engine import redacted

        self.note(
            f"You are {self.driver.first_name} (id {self.driver.id}), chatting with @{BOT_USERNAME}. "
            f"Telegram and Harbor are simulated in this process; database {redacted(self.settings.database_url)}."
        )
        if self.near is not None:
            self.note(f"Your location is {_point(self.near)}: it is shared whenever the bot asks for one.")
        self.note("Type /start to begin, /help for the console's commands, /quit to leave.")

    # -- input ---------------------------------------------------------------------------------------

    async def handle(self, line: str) -> bool:
        """Act on one line the person typed; False when they want to leave."""
        text = line.strip()
        if not text:
            return True
        if self.echo:
            self.out(f"> {text}")
        self._asked_location = False
        try:
            if not await self._dispatch(text):
                return False
        except Exception as exc:  # the console must outlive any mistake, the person's or its own
            log.debug("console input %r failed", text, exc_info=True)
            self.note(f"that did not work: {exc}")
            return True
        if self._asked_location and self.near is not None:
            self.location = self.near
            await self._act(self.driver.share_location(*self.near), f"you shared your location {_point(self.near)}")
        return True

    async def _dispatch(self, text: str) -> bool:
        word, _, rest = text.partition(" ")
        command = word.lower()
        rest = rest.strip()
        if command in ("/quit", "/exit"):
            return False
        if command == "/help":
            self.out(HELP)
        elif command == "/loc":
            await self._share(rest)
        elif command == "/use":
            await self._use_key()
        elif command == "/as":
            await self._become(rest)
        elif command == "/say":
            if not rest:
                self.note("usage: /say TEXT")
            else:
                await self._act(self.driver.send_text(rest))
        elif text.startswith("//"):
            await self._act(self.driver.send_text(text[1:]))
        elif _DIGITS.fullmatch(text):
            await self._tap(int(text))
        elif _LINK.match(text):
            await self._open_link(text.split()[0])
        else:
            await self._act(self.driver.send_text(text))
        return True

    async def _act(self, action: Awaitable[T], said: str | None = None) -> T:
        result = await action
        if said:
            self.note(said)
        await self.settled()
        return result

    async def _share(self, rest: str) -> None:
        point = parse_point(rest) if rest else self.location
        if point is None:
            self.note("usage: /loc LAT,LON, for example /loc 37.7793,-122.4193")
            return
        self.location = point
        await self._act(self.driver.share_location(*point), f"you shared the location {_point(point)}")

    async def _tap(self, number: int) -> None:
        target = self._targets.get(number)
        if target is None:
            self.note(f"there is no button [{number}]; the numbers are the ones printed in brackets")
            return
        if target.chat_id != self.driver.id:
            self.note(f"button [{number}] is in another person's chat; /as {target.chat_id} to become them")
            return
        if target.reply:
            await self._tap_reply(number, target)
            return
        current = next((m for m in self.driver.chat if m.message_id == target.message_id), None)
        if current is None:
            self.note(f"button [{number}] was on a message that is gone")
            return
        button = next((b for row in current.inline_buttons for b in row if b.text == target.text), None)
        if button is None:
            self.note(f"button [{number}] is no longer there (the message changed); use the newest numbers")
            return
        self.note(f"you tapped “{target.text}”")
        if button.url is not None and button.callback_data is None:
            self.note(f"it opens {button.url}")
            return
        answer = await self._act(self.driver.press(target.text, current))
        if answer is not None and answer.text:
            self.out(f"bot ({'alert' if answer.show_alert else 'toast'}): {answer.text}")

    async def _tap_reply(self, number: int, target: Target) -> None:
        keyboard = self.driver.reply_keyboard or []
        if not any(b.text == target.text for row in keyboard for b in row):
            self.note(f"button [{number}] belonged to a keyboard that is gone")
            return
        if target.request_location:
            if self.location is None:
                self.note("this button shares your location: give one with /loc LAT,LON (or start with --near)")
                return
            self.driver.location = self.location
            said = f"you tapped “{target.text}”: it shared {_point(self.location)}"
        else:
            said = f"you tapped “{target.text}”"
        await self._act(self.driver.press_reply(target.text), said)

    async def _open_link(self, url: str) -> None:
        if not url.lower().startswith(("http://", "https://")):
            url = "https://" + url
        try:
            await self._act(self.driver.open_link(url), f"you opened {url}")
        except ValueError as exc:
            self.note(str(exc))

    async def _become(self, rest: str) -> None:
        parts = rest.split(maxsplit=1)
        if not parts or not parts[0].isdigit() or int(parts[0]) < 1:
            self.note("usage: /as ID [NAME], for example /as 2 Bob")
            return
        user_id = int(parts[0])
        known = self._drivers.get(user_id)
        if len(parts) > 1 or known is None:
            name = parts[1] if len(parts) > 1 else f"User {user_id}"
            known = self.emulator.user(user_id, name, bot_token=TOKEN)
        self._drivers[user_id] = known
        self.driver = known
        self.note(f"you are now {known.first_name} (id {known.id})")
        await self.flush()

    async def _use_key(self) -> None:
        from sandbox.harbor import SimError

        key = self.last_key
        if key is None:
            self.note("no key yet: ask the bot for one (its 🔑 button) and /use it then")
            return
        try:
            self.simulator.use_token(key.payload, key.payload_auth, key.sdk_token)
        except SimError as exc:
            self.note(f"the tower refused the {key.kind} key for locker {key.locker_name}: {exc.detail} ({exc.status})")
            return
        if key.kind == "dropoff":
            self.note(f"at the tower: locker {key.locker_name} opened; you put the item in and closed the door")
        else:
            self.note(f"at the tower: locker {key.locker_name} opened; you took the item and closed the door")
        # Nobody wrote to the bot: its locker watch notices on its next round.
        wait = self.settings.locker_poll_seconds + TOWER_MARGIN_SECONDS
        if not await self._bot_spoke(self.emulator._seq, wait):
            self.note(f"the bot has not noticed within {wait:g} s")
        await self.settled()

    # -- waiting -------------------------------------------------------------------------------------

    async def settled(self, timeout: float = ANSWER_SECONDS) -> bool:  # noqa: ASYNC109 - the console's API
        """Wait until the bot has handled everything the person did, then print what it said.

        False when the bot was still busy after ``timeout`` seconds (what it says later still prints).
        """
        first, end = self._handled_until, self.bot_account.next_update_id
        done = True
        try:
            await asyncio.wait_for(self.tracker.wait_handled(first, end), timeout)
            self._handled_until = end
        except TimeoutError:
            done = False
            self.note(f"the bot is still busy after {timeout:g} s; its answers will show as they come")
        await self.flush()
        return done

    async def _bot_spoke(self, after: int, timeout: float) -> bool:  # noqa: ASYNC109
        """Until a bot message in any chat changed after emulator change ``after``."""

        def spoke() -> bool:
            chats = self.bot_account.chats.values()
            return any(r.from_bot and r.changed_seq > after for c in chats for r in c.messages.values())

        condition = self.emulator._changed  # the emulator notifies it on every change to any chat
        try:
            async with condition:
                await asyncio.wait_for(condition.wait_for(spoke), timeout)
        except TimeoutError:
            return False
        return True

    # -- output --------------------------------------------------------------------------------------

    def note(self, text: str) -> None:
        """The console speaking (not the bot)."""
        self.out(f"-- {text}")

    async def _watch(self) -> None:
        """Print bot messages as they come, between inputs too (timers, the locker watch)."""
        condition = self.emulator._changed
        while True:
            async with condition:
                await condition.wait_for(self._has_news)
            await self.flush()

    def _seen_for(self, chat_id: int) -> Seen:
        return self._seen.setdefault(chat_id, Seen())

    def _fresh(self, chat_id: int, after: int) -> list[Any]:
        chat = self.bot_account.chats.get(chat_id)
        if chat is None:
            return []
        return sorted((r for r in chat.messages.values() if r.from_bot and r.changed_seq > after), key=_changed)

    def _has_news(self) -> bool:
        if self._fresh(self.driver.id, self._seen_for(self.driver.id).printed):
            return True
        return any(
            self._fresh(uid, max(self._seen_for(uid).printed, self._seen_for(uid).noticed))
            for uid in self._drivers
            if uid != self.driver.id
        )

    async def flush(self) -> None:
        """Print every change in the current person's chat not printed yet; mention the others' news."""
        async with self._print_lock:
            chat_id = self.driver.id
            seen = self._seen_for(chat_id)
            while records := self._fresh(chat_id, seen.printed):
                seen.printed = max(seen.printed, _changed(records[-1]))
                for record in records:
                    try:
                        await self._show(record)
                    except Exception as exc:  # one odd message must not stop the chat
                        log.debug("showing message %s failed", record.message_id, exc_info=True)
                        self.note(f"(could not show message {record.message_id}: {exc})")
            for user_id, driver in self._drivers.items():
                if user_id == chat_id:
                    continue
                other = self._seen_for(user_id)
                news = self._fresh(user_id, max(other.printed, other.noticed))
                if news:
                    other.noticed = _changed(news[-1])
                    unread = len(self._fresh(user_id, other.printed))
                    self.note(f"{driver.first_name} (id {user_id}) has {_plural(unread, 'new message')}: /as {user_id}")

    async def _show(self, record: Any) -> None:
        from sandbox.telegram_driver import snapshot

        where = (record.chat_id, record.message_id)
        shown = self._shown.get(where)
        if record.deleted:
            if shown is not None:
                self.out(f"bot deleted: {shown.summary}")
            return
        message = snapshot(self.emulator, record)
        head = "bot (edited): " if shown is not None else "bot: "
        parts: list[str] = []
        if message.venue is not None:
            parts.append(f"📍 {message.venue.get('title')} — {message.venue.get('address')}")
        elif message.location is not None:
            parts.append(f"📍 {_point(message.location)}")
        if message.sticker is not None:
            parts.append(f"[sticker {message.sticker.get('emoji', '')}]".replace(" ]", "]"))
        if message.document is not None:
            parts.append(f"[document {message.document_name or ''}]".replace(" ]", "]"))
        photo_id = record.data["photo"][-1]["file_unique_id"] if record.data.get("photo") else None
        if photo_id is not None:
            parts.append("[photo]")
        if message.content:
            parts.append(message.content)
        body = " ".join(parts) or "(empty)"
        self.out(head + _indented(body))
        summary = _summary(body)
        if photo_id is not None and message.photo is not None:
            if shown is None or shown.photo_id != photo_id:
                summary = await self._show_key(message.photo) or summary
            else:
                self.out(f"{INDENT}(the same QR code as before)")
        self._show_buttons(record, message)
        self._shown[where] = Shown(summary, photo_id)

    def _show_buttons(self, record: Any, message: Any) -> None:
        for row in message.inline_buttons:
            labels = []
            for button in row:
                number = self._number(Target(record.chat_id, record.message_id, button.text))
                labels.append(f"[{number}] {button.text}" + (f" ({button.url})" if button.url else ""))
            self.out(INDENT + "   ".join(labels))
        for row in message.reply_buttons:
            labels = []
            for button in row:
                target = Target(
                    record.chat_id,
                    record.message_id,
                    button.text,
                    reply=True,
                    request_location=button.request_location,
                    request_contact=button.request_contact,
                )
                labels.append(f"[{self._number(target)}] {button.text}")
                self._asked_location = self._asked_location or button.request_location
            self.out(INDENT + "keyboard: " + "   ".join(labels))

    def _number(self, target: Target) -> int:
        number = self._next_number
        self._next_number += 1
        self._targets[number] = target
        return number

    async def _show_key(self, photo: bytes) -> str | None:
        """Read the QR code in a photo as the phone app would, draw it, and say what key it holds."""
        text, drawing, problem = await asyncio.to_thread(_read_qr, photo)
        if text is None:
            self.out(f"{INDENT}({problem})")
            return None
        assert drawing is not None
        self.out(drawing)
        try:
            key = LockerKey.from_json(text)
        except ValueError as exc:
            self.out(f"{INDENT}(the QR code holds no key: {exc})")
            return None
        self.last_key = key
        left = (key.expires - datetime.now(UTC)).total_seconds()
        expiry = f"expires {key.expires:%Y-%m-%d %H:%M:%S} UTC ({_left(left)})"
        self.out(
            f"{INDENT}key: {key.kind} · tower {key.tower_id} · locker {key.locker_name} (id {key.locker_id}) · {expiry}"
        )
        sdk = f"<{len(key.sdk_token)} chars>" if key.sdk_token else "none"
        self.out(
            f"{INDENT}payload: <hex, {len(key.payload)} chars> · payload_auth: <hex, {len(key.payload_auth)} chars>"
            f" · sdk_token: {sdk}"
        )
        self.out(f"{INDENT}/use uses it at the tower")
        return f"the {key.kind} key for locker {key.locker_name}"


# -- helpers ---------------------------------------------------------------------------------------


def _changed(record: Any) -> int:
    return int(record.changed_seq)


def _indented(text: str) -> str:
    """Continuation lines under the first one (blank lines stay blank)."""
    first, *rest = text.split("\n")
    return "\n".join([first, *(INDENT + line if line else "" for line in rest)])


def _point(point: Point) -> str:
    return f"{point[0]:.5f},{point[1]:.5f}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _summary(text: str, limit: int = 60) -> str:
    first = text.splitlines()[0] if text else ""
    return f"«{first[:limit]}…»" if len(first) > limit or "\n" in text else f"«{first}»"


def _left(seconds: float) -> str:
    if seconds <= 0:
        return "expired"
    minutes, secs = divmod(int(seconds), 60)
    return f"in {minutes} min {secs} s" if minutes else f"in {secs} s"


def _read_qr(photo: bytes) -> tuple[str | None, str | None, str | None]:
    """(text, drawing, problem): the QR code's text and its drawing, or why there is none."""
    import zxingcpp
    from PIL import Image

    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(photo)), formats=zxingcpp.BarcodeFormat.QRCode)
    if not results:
        return None, None, "no QR code in the photo"
    text = results[0].text
    return text, render_qr_text(text), None


async def _lines(source: AsyncIterable[str] | Iterable[str]) -> AsyncIterator[str]:
    if isinstance(source, AsyncIterable):
        async for line in source:
            yield line
    else:
        for line in source:
            yield line


async def run_console(
    lines: AsyncIterable[str] | Iterable[str],
    out: Out,
    *,
    near: Point | None = None,
    user_name: str | None = None,
    echo: bool = False,
    stop: asyncio.Event | None = None,
    on_start: Callable[[Console], None] | None = None,
    **settings: Any,
) -> int:
    """The console's core: read ``lines`` until they end, say /quit or ``stop`` is set (Ctrl-C), and
    print everything through ``out``; then shut the bot down cleanly.

    Each line is read only after the bot has answered the previous one, so a line source may look at
    what was printed so far to decide what to type next. ``settings`` override Settings fields.
    """
    stop = stop or asyncio.Event()
    async with Console(out, near=near, user_name=user_name, echo=echo, **settings) as console:
        if on_start is not None:
            on_start(console)
        async for line in _lines(lines):
            if stop.is_set() or not await _unless_stopped(stop, console.handle(line)):
                break
        console.note("bye")
    return 0


async def _unless_stopped(stop: asyncio.Event, work: Awaitable[bool]) -> bool:
    """The result of ``work``, or False as soon as ``stop`` is set (the work is then cancelled)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False


# -- the terminal ----------------------------------------------------------------------------------


class Terminal:
    """Lines from stdin (read on demand, in a daemon thread, so the loop never blocks and Ctrl-C never
    waits for a read) and output to stdout that keeps the prompt tidy when the bot speaks in between."""

    PROMPT = "> "

    def __init__(self) -> None:
        self.interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self.stop = asyncio.Event()  # Ctrl-C
        self._want = threading.Semaphore(0)
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._prompting = False

    def _read(self) -> None:
        assert self._loop is not None
        while True:
            self._want.acquire()
            line: str | None
            try:
                if self.interactive:
                    self._prompting = True
                    try:
                        line = input(self.PROMPT)  # line editing and history where readline exists
                    finally:
                        self._prompting = False
                else:
                    line = sys.stdin.readline() or None
            except (EOFError, OSError, ValueError):
                line = None
            self._loop.call_soon_threadsafe(self._queue.put_nowait, line)
            if line is None:
                return

    def __aiter__(self) -> AsyncIterator[str]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str]:
        self._loop = asyncio.get_running_loop()
        if self._thread is None:
            self._thread = threading.Thread(target=self._read, name="console-stdin", daemon=True)
            self._thread.start()
        while not self.stop.is_set():
            self._want.release()
            line = await self._next_line()
            if line is None:
                if self.interactive:
                    print()
                return
            yield line

    async def _next_line(self) -> str | None:
        """The next line, or None at the end of input or on Ctrl-C (the reading thread is left behind)."""
        reading = asyncio.ensure_future(self._queue.get())
        stopped = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({reading, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if reading.done():
            return reading.result()
        reading.cancel()
        return None

    def interrupt(self) -> None:
        """Ctrl-C: leave cleanly. A second Ctrl-C, should leaving hang, interrupts Python itself."""
        self.stop.set()
        assert self._loop is not None
        self._loop.remove_signal_handler(signal.SIGINT)

    def out(self, text: str) -> None:
        if self._prompting and self.stop.is_set():  # leaving: the prompt goes, nobody will answer it
            sys.stdout.write("\r\x1b[K" + text + "\n")
        elif self._prompting:
            # The bot spoke while the prompt waits: print above it, then show the prompt again.
            sys.stdout.write("\r\x1b[K" + text + "\n" + self.PROMPT + _typed_so_far())
        else:
            sys.stdout.write(text + "\n")
        sys.stdout.flush()


def _typed_so_far() -> str:
    try:
        import readline
    except ImportError:
        return ""
    return readline.get_line_buffer()


async def _session(terminal: Terminal, near: Point | None) -> int:
    loop = asyncio.get_running_loop()
    terminal._loop = loop
    with contextlib.suppress(NotImplementedError):  # no add_signal_handler on Windows: Ctrl-C then raises
        loop.add_signal_handler(signal.SIGINT, terminal.interrupt)
    return await run_console(terminal, terminal.out, near=near, echo=not terminal.interactive, stop=terminal.stop)


def main(near: Point | None = None) -> int:
    from bot import logs

    logs.setup(logging.WARNING)
    # The drop-off conversation tracks per user and chat on purpose (see pyproject's pytest filters);
    # PTB's advice about it is for the bot's authors, not for the person at the console.
    warnings.filterwarnings("ignore", message="If 'per_message=False'", category=PTBUserWarning)
    terminal = Terminal()
    with _terminal_modes_kept(terminal.interactive):
        try:
            return asyncio.run(_session(terminal, near))
        except ConfigError as exc:
            print(f"harbor-bot console cannot start: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # a second Ctrl-C while leaving
            print("\n-- bye")
            return 0


@contextlib.contextmanager
def _terminal_modes_kept(interactive: bool) -> Iterator[None]:
    """Restore the terminal's modes on the way out: line editing may be mid-line when Ctrl-C leaves."""
    saved = None
    if interactive:
        with contextlib.suppress(ImportError, OSError):
            import termios

            saved = termios.tcgetattr(sys.stdin.fileno())
    try:
        yield
    finally:
        if saved is not None:
            import termios

            with contextlib.suppress(OSError):
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
