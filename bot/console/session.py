"""The console session: one person (or several, by turns) at the keyboard of the in-process bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from bot.console.setup import (
    ANSWER_SECONDS,
    BOT_USERNAME,
    DIGITS,
    HELP,
    INDENT,
    LINK,
    TOKEN,
    TOWER_MARGIN_SECONDS,
    USER_ID,
    Out,
    Point,
    Seen,
    Shown,
    T,
    Target,
    UpdateTracker,
    console_settings,
    default_name,
    in_process_bot,
)
from bot.console.tower import AtTower, SimulatorTower, Tower, is_locker_open_link, link_kind
from bot.console.transcript import changed_seq, indented, plural, point_text, read_qr, show_key, summary_of
from bot.geo import parse_point
from bot.keys import LockerKey
from bot.ptb_types import BotApplication
from sandbox.harbor import HarborSimulator
from sandbox.telegram import TelegramEmulator
from sandbox.telegram_driver import snapshot
from storage.engine import redacted

log = logging.getLogger(__name__)


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
        qr: str = "small",
        admin: bool = False,
        **settings: Any,
    ) -> None:
        """``qr``: how keys' QR codes are drawn, "small" (within 80 columns), "full" (one module per
        column) or "off"; ``admin``: the person (id 1) is an admin, as if ADMIN_IDS held 1."""
        self.out = out
        self.near = near
        self.echo = echo
        self.qr = qr
        self.emulator = TelegramEmulator()
        self.bot_account = self.emulator.add_bot(TOKEN, username=BOT_USERNAME, first_name="Harbor")
        self.simulator = HarborSimulator()
        self.tower: Tower = SimulatorTower(self.simulator)
        if admin:
            settings["admin_ids"] = frozenset({*settings.get("admin_ids", ()), USER_ID})
        self.settings, self._tmp = console_settings(self.emulator.root, **settings)
        self.tracker = UpdateTracker()
        self.app: BotApplication | None = None
        self.location: Point | None = near  # what "Share my location" sends
        self.last_key: LockerKey | None = None
        self.last_link: str | None = None  # a Locker Open link (KEY_MODE=link), opened by /open
        self._newest_is_link = False  # what /use uses: the newer of the two
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

        self.note(
            f"You are {self.driver.first_name} (id {self.driver.id}), chatting with @{BOT_USERNAME}. "
            f"Telegram and Harbor are simulated in this process; database {redacted(self.settings.database_url)}."
        )
        if self.near is not None:
            self.note(f"Your location is {point_text(self.near)}: it is shared whenever the bot asks for one.")
        admins = sorted(self.settings.admin_ids)
        if admins:
            you = " (you)" if self.driver.id in admins else ""
            self.note(f"Admins (ADMIN_IDS): {', '.join(map(str, admins))}{you}; /as ID becomes one of them.")
        else:
            self.note("Nobody is an admin: start with --admin (or ADMIN_IDS=1) to try /lockers, /deliveries, ...")
        self.note(f"Keys are {self.settings.key_mode.value} keys (KEY_MODE); QR drawings: {self.qr} (--qr).")
        self.note("Type /start to begin, /help for the console's commands (//help for the bot's), /quit to leave.")

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
            await self._act(self.driver.share_location(*self.near), f"you shared your location {point_text(self.near)}")
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
        elif command == "/open":
            await self._open(rest)
        elif command == "/as":
            await self._become(rest)
        elif command == "/say":
            if not rest:
                self.note("usage: /say TEXT")
            else:
                await self._act(self.driver.send_text(rest))
        elif text.startswith("//"):
            await self._act(self.driver.send_text(text[1:]))
        elif DIGITS.fullmatch(text):
            await self._tap(int(text))
        elif LINK.match(text):
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
        await self._act(self.driver.share_location(*point), f"you shared the location {point_text(point)}")

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
            if is_locker_open_link(button.url):  # the phone hands it to Harbor's Locker Open app clip
                await self._open(button.url)
            else:
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
            said = f"you tapped “{target.text}”: it shared {point_text(self.location)}"
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
        if self._newest_is_link and self.last_link is not None:
            await self._open("")
            return
        key = self.last_key
        if key is None:
            self.note("no key yet: ask the bot for one (its 🔑 button) and /use it then")
            return
        await self._at_tower(key.kind, await self.tower.use_key(key), "key")

    async def _open(self, rest: str) -> None:
        """What the Locker Open app clip does with a link: open the locker it names at the tower."""
        url = rest.split()[0] if rest else self.last_link
        if url is None:
            self.note("no Locker Open link yet: with KEY_MODE=link the bot's key holds one (its Open locker button)")
            return
        if not is_locker_open_link(url):
            self.note(f"{url} is not a Locker Open link (https://…?token=…)")
            return
        self.note("Locker Open: you opened the link at the tower")
        await self._at_tower(link_kind(url), await self.tower.open_link(url), "link")

    async def _at_tower(self, kind: str, result: AtTower, what: str) -> None:
        if not result.opened:
            self.note(
                f"the tower refused the {kind} {what} for locker {result.locker}: {result.refusal}".replace("  ", " ")
            )
            return
        if kind == "dropoff":
            self.note(f"at the tower: locker {result.locker} opened; you put the item in and closed the door")
        elif kind == "pickup":
            self.note(f"at the tower: locker {result.locker} opened; you took the item and closed the door")
        else:
            self.note(f"at the tower: locker {result.locker} opened and you closed the door")
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
        return sorted((r for r in chat.messages.values() if r.from_bot and r.changed_seq > after), key=changed_seq)

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
                seen.printed = max(seen.printed, changed_seq(records[-1]))
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
                    other.noticed = changed_seq(news[-1])
                    unread = len(self._fresh(user_id, other.printed))
                    self.note(f"{driver.first_name} (id {user_id}) has {plural(unread, 'new message')}: /as {user_id}")

    async def _show(self, record: Any) -> None:

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
            parts.append(f"📍 {point_text(message.location)}")
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
        self.out(head + indented(body))
        summary = summary_of(body)
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
        """Read the QR code in a photo as the phone would, draw it, and say what key it holds."""
        text, problem = await asyncio.to_thread(read_qr, photo)
        if text is None:
            self.out(f"{INDENT}({problem})")
            return None
        shown = await show_key(text, self.qr, self.out)
        if shown.link is not None:
            self.last_link, self._newest_is_link = shown.link, True
        elif shown.key is not None:
            self.last_key, self._newest_is_link = shown.key, False
        return shown.summary
