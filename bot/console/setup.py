"""The console's pieces that are not the session: settings, the in-process bot, the update tracker."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from telegram import Update
from telegram.ext import SimpleUpdateProcessor

from bot.app import Overrides, build_application
from bot.config import Settings, load_settings
from bot.harbor.factory import connect_harbor
from bot.ptb_types import BotApplication
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
DIGITS = re.compile(r"\d{1,4}")
LINK = re.compile(r"(?:https?://)?(?:t|telegram)\.me/\S+", re.IGNORECASE)

HELP = """\
The console's commands (this list is the console's /help; the bot's own /help is //help).
Everything else goes to the bot as you typed it.
  N                 tap the button numbered [N] (an inline button, or a keyboard button)
  /loc LAT,LON      share a location, e.g. /loc 37.7793,-122.4193 (also answers "Share my location")
  /use              use the last key you received at the tower (as the Harbor app would)
  /open [URL]       open a Locker Open link (KEY_MODE=link) as Harbor's app clip would: the last key's, or URL
  /as ID [NAME]     become another Telegram user, e.g. /as 2 Bob (then paste a pickup link)
  https://t.me/...  open a link to the bot: it becomes /start <code>
  /say TEXT         send TEXT as it is (a number, say)
  //CMD             send /CMD to the bot: //help is the bot's help, //start the same as /start
  /help             this list          /quit             leave (Ctrl-D and Ctrl-C leave too)
Admins: the ids in ADMIN_IDS (`--admin` makes you, id 1, one); /as ID plays an admin's id.
Keys: --qr small (default, within 80 columns), --qr full (one module per column), --qr off."""


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
) -> AsyncIterator[BotApplication]:
    """The bot's real Application, polling ``emulator`` and calling ``simulator``, both in this process
    (no sockets); started as run_polling() would, and shut down the same way on exit."""

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
        await app.updater.start_polling(poll_interval=0, timeout=timedelta(seconds=poll_seconds))
        stack.push_async_callback(app.updater.stop)
        yield app


def default_name() -> str:
    try:
        name = getpass.getuser()
    except Exception:  # no login name at all (a container, say)
        return "You"
    return name[:1].upper() + name[1:] if name else "You"
