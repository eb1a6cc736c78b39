"""`python -m bot console --attach http://127.0.0.1:8081`: the console as a person at a running sandbox.

No bot runs here: the bot is whatever serves the emulator's webhook (say the `web` processes of
`python -m sandbox.cluster`). The person acts through the emulator's control API (sandbox/telegram_control.py)
and at the tower through the simulator's `/_sim/` hooks (bot/console/tower.py), and reads the chat back
over HTTP. The commands are the in-process console's; what the bot says is printed as it comes (the
chat is read again after each action and every half second).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from bot.console.setup import ANSWER_SECONDS, DIGITS, HELP, INDENT, LINK, TOWER_MARGIN_SECONDS, Out, Point
from bot.console.tower import AtTower, HttpTower, is_locker_open_link, link_kind
from bot.console.transcript import indented, plural, point_text, show_key, summary_of
from bot.geo import parse_point
from bot.keys import LockerKey

log = logging.getLogger(__name__)

REFRESH_SECONDS = 0.5  # how often the chat is read again for news nobody asked for (timers, the watch)
USER_ID = 1


@dataclass(frozen=True)
class Button:
    """What a printed number taps."""

    user_id: int
    message_id: int
    text: str
    data: str | None = None
    url: str | None = None
    reply: bool = False


class AttachedConsole:
    """One person (or several, by turns) at a sandbox that runs elsewhere, over HTTP."""

    def __init__(
        self,
        out: Out,
        telegram: str,
        harbor: str,
        *,
        near: Point | None = None,
        user_name: str = "You",
        qr: str = "small",
        echo: bool = False,
        answer_seconds: float = ANSWER_SECONDS,
        tower_seconds: float = 15 + TOWER_MARGIN_SECONDS,
    ) -> None:
        self.out, self.near, self.qr, self.echo = out, near, qr, echo
        self.telegram = telegram.rstrip("/")
        self.client = httpx.AsyncClient(base_url=self.telegram, timeout=answer_seconds + 30)
        self.tower = HttpTower(harbor)
        self.answer_seconds, self.tower_seconds = answer_seconds, tower_seconds
        self.user_id = USER_ID
        self.names: dict[int, str] = {USER_ID: user_name}
        self.location: Point | None = near
        self.last_key: LockerKey | None = None
        self.last_link: str | None = None
        self._newest_is_link = False
        self._shown: dict[tuple[int, int], tuple[str, Any]] = {}  # (user, message) -> (summary, what was shown)
        self._seen_count: dict[int, int] = {}  # other users: bot messages already mentioned
        self._buttons: dict[int, Button] = {}
        self._next_number = 1
        self._lock = asyncio.Lock()
        self._refresher: asyncio.Task[None] | None = None

    # -- life cycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> AttachedConsole:
        try:
            await self.client.get("/_sandbox/chat", params={"user_id": self.user_id})  # any answer will do
        except httpx.HTTPError as exc:
            await self.aclose()
            raise ConnectionError(f"no Telegram emulator answers at {self.telegram}: {exc}") from None
        self.note(f"You are {self.names[USER_ID]} (id {USER_ID}), attached to the Telegram emulator at {self.telegram}")
        self.note(f"the bot is whatever serves its webhook; the tower is the Harbor simulator at {self.tower.root}")
        self.note("admins are the bots' ADMIN_IDS (e.g. ADMIN_IDS=1 python -m sandbox.cluster ...); /as ID plays one")
        self.note("Type /start to begin, /help for the console's commands (//help for the bot's), /quit to leave.")
        await self.refresh()  # the chat so far, with its buttons numbered
        self._refresher = asyncio.create_task(self._refresh_forever(), name="console-refresh")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        await self.client.aclose()
        await self.tower.aclose()

    def note(self, text: str) -> None:
        self.out(f"-- {text}")

    # -- input ----------------------------------------------------------------------------------------

    async def handle(self, line: str) -> bool:
        text = line.strip()
        if not text:
            return True
        if self.echo:
            self.out(f"> {text}")
        word, _, rest = text.partition(" ")
        command, rest = word.lower(), rest.strip()
        if command in ("/quit", "/exit"):
            return False
        try:
            await self._dispatch(text, command, rest)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            self.note(f"that did not work: {exc}")
        return True

    async def _dispatch(self, text: str, command: str, rest: str) -> None:
        if command == "/help":
            self.out(HELP)
        elif command == "/loc":
            point = parse_point(rest) if rest else self.location
            if point is None:
                self.note("usage: /loc LAT,LON, for example /loc 37.7793,-122.4193")
                return
            self.location = point
            self.note(f"you shared the location {point_text(point)}")
            await self._act("location", {"latitude": point[0], "longitude": point[1]})
        elif command == "/use":
            await self._use()
        elif command == "/open":
            await self._open(rest.split()[0] if rest else self.last_link)
        elif command == "/as":
            await self._become(rest)
        elif command == "/say" and not rest:
            self.note("usage: /say TEXT")
        elif command == "/say":
            await self._act("send", {"text": rest})
        elif text.startswith("//"):
            await self._act("send", {"text": text[1:]})
        elif DIGITS.fullmatch(text):
            await self._tap(int(text))
        elif LINK.match(text):
            url = text.split()[0]
            url = url if url.lower().startswith(("http://", "https://")) else "https://" + url
            self.note(f"you opened {url}")
            await self._act("start", {"link": url})
        else:
            await self._act("send", {"text": text})

    async def _post(self, action: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post(f"/_sandbox/{action}", json={"user_id": self.user_id, **body})

    async def _act(self, action: str, body: dict[str, Any]) -> None:
        """Do it, then print the bot's answer (the first within a few seconds; the rest as it comes)."""
        answer = await self._post(action, {"first_name": self.names[self.user_id], **body})
        if answer.status_code != 200:
            self.note(answer.json().get("description", answer.text))
            return
        if action == "press":
            result = answer.json()
            if result.get("text"):
                self.out(f"bot ({'alert' if result.get('show_alert') else 'toast'}): {result['text']}")
        else:
            waited = await self._post("wait", {"timeout": self.answer_seconds})
            if waited.status_code == 408:
                self.note(
                    f"the bot has not answered within {self.answer_seconds:g} s; its answers will show as they come"
                )
        await self.refresh()

    async def _tap(self, number: int) -> None:
        button = self._buttons.get(number)
        if button is None:
            self.note(f"there is no button [{number}]; the numbers are the ones printed in brackets")
            return
        if button.user_id != self.user_id:
            self.note(f"button [{number}] is in another person's chat; /as {button.user_id} to become them")
            return
        self.note(f"you tapped “{button.text}”")
        if button.url is not None:
            if is_locker_open_link(button.url):
                await self._open(button.url)
            else:
                self.note(f"it opens {button.url}")
            return
        if button.reply:
            body: dict[str, Any] = {"button": button.text}
            if self.location is not None:
                body |= {"latitude": self.location[0], "longitude": self.location[1]}
            await self._act("press", body)
            return
        await self._act("press", {"data": button.data, "message_id": button.message_id})

    async def _become(self, rest: str) -> None:
        parts = rest.split(maxsplit=1)
        if not parts or not parts[0].isdigit() or int(parts[0]) < 1:
            self.note("usage: /as ID [NAME], for example /as 2 Bob")
            return
        self.user_id = int(parts[0])
        if len(parts) > 1 or self.user_id not in self.names:
            self.names[self.user_id] = parts[1] if len(parts) > 1 else f"User {self.user_id}"
        self.note(f"you are now {self.names[self.user_id]} (id {self.user_id})")
        await self.refresh()

    async def _use(self) -> None:
        if self._newest_is_link and self.last_link is not None:
            await self._open(self.last_link)
        elif self.last_key is None:
            self.note("no key yet: ask the bot for one (its 🔑 button) and /use it then")
        else:
            await self._post("mark", {})  # what the bot says next is news
            await self._at_tower(self.last_key.kind, await self.tower.use_key(self.last_key), "key")

    async def _open(self, url: str | None) -> None:
        if url is None or not is_locker_open_link(url):
            self.note("no Locker Open link: with KEY_MODE=link the bot's key holds one (its Open locker button)")
            return
        self.note("Locker Open: you opened the link at the tower")
        await self._post("mark", {})  # what the bot says next is news
        await self._at_tower(link_kind(url), await self.tower.open_link(url), "link")

    async def _at_tower(self, kind: str, result: AtTower, what: str) -> None:
        if not result.opened:
            self.note(f"the tower refused the {kind} {what} for locker {result.locker}: {result.refusal}")
            return
        done = {"dropoff": "you put the item in and closed the door", "pickup": "you took the item and closed the door"}
        self.note(f"at the tower: locker {result.locker} opened; {done.get(kind, 'you closed the door')}")
        # Nobody wrote to the bot: its locker watch notices on its next round.
        waited = await self._post("wait", {"timeout": self.tower_seconds})
        if waited.status_code == 408:
            self.note(f"the bot has not noticed within {self.tower_seconds:g} s")
        await self.refresh()

    # -- output ---------------------------------------------------------------------------------------

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)  # a screen refresh: nothing to wait on across HTTP
            try:
                await self.refresh()
            except httpx.HTTPError as exc:
                log.debug("refresh failed: %s", exc)

    async def refresh(self) -> None:
        """Print what changed in the current person's chat; mention the others' news."""
        async with self._lock:
            chat = await self._chat(self.user_id)
            present = set()
            for message in chat:
                present.add(message["message_id"])
                if message["from_bot"]:
                    await self._show(message)
            for (user_id, message_id), (summary, _) in list(self._shown.items()):
                if user_id == self.user_id and message_id not in present:
                    self.out(f"bot deleted: {summary}")
                    del self._shown[(user_id, message_id)]
            self._seen_count[self.user_id] = sum(m["from_bot"] for m in chat)
            for user_id, name in self.names.items():
                if user_id == self.user_id:
                    continue
                count = sum(m["from_bot"] for m in await self._chat(user_id))
                new = count - self._seen_count.get(user_id, 0)
                if new > 0:
                    self._seen_count[user_id] = count
                    self.note(f"{name} (id {user_id}) has {plural(new, 'new message')}: /as {user_id}")

    async def _chat(self, user_id: int) -> list[dict[str, Any]]:
        answer = await self.client.get("/_sandbox/chat", params={"user_id": user_id})
        return list(answer.json()) if answer.status_code == 200 else []

    async def _show(self, message: dict[str, Any]) -> None:
        where = (self.user_id, message["message_id"])
        look = (message["text"], message["inline_keyboard"], message["keyboard"], message["photo"])
        before = self._shown.get(where)
        if before is not None and before[1] == look:
            return
        parts = []
        if message["venue"]:
            parts.append(f"📍 {message['venue'].get('title')} — {message['venue'].get('address')}")
        elif message["location"]:
            parts.append(f"📍 {point_text((message['location'][0], message['location'][1]))}")
        if message["photo"]:
            parts.append("[photo]")
        if message["text"]:
            parts.append(message["text"])
        body = " ".join(parts) or "(empty)"
        self.out(("bot (edited): " if before is not None else "bot: ") + indented(body))
        summary = summary_of(body)
        photo = message["photo"]
        if photo and (before is None or before[1][3] != photo):
            summary = await self._show_key(photo.get("qr")) or summary
        self._show_buttons(message)
        self._shown[where] = (summary, look)

    async def _show_key(self, text: str | None) -> str | None:
        if text is None:
            self.out(f"{INDENT}(no QR code in the photo)")
            return None
        shown = await show_key(text, self.qr, self.out)
        if shown.link is not None:
            self.last_link, self._newest_is_link = shown.link, True
        elif shown.key is not None:
            self.last_key, self._newest_is_link = shown.key, False
        return shown.summary

    def _show_buttons(self, message: dict[str, Any]) -> None:
        for row in message["inline_keyboard"]:
            labels = []
            for b in row:
                number = self._number(
                    Button(self.user_id, message["message_id"], b["text"], b["callback_data"], b["url"])
                )
                labels.append(f"[{number}] {b['text']}" + (f" ({b['url']})" if b["url"] else ""))
            self.out(INDENT + "   ".join(labels))
        for row in message["keyboard"]:
            labels = [f"[{self._number(Button(self.user_id, message['message_id'], t, reply=True))}] {t}" for t in row]
            self.out(INDENT + "keyboard: " + "   ".join(labels))

    def _number(self, button: Button) -> int:
        number = self._next_number
        self._next_number += 1
        self._buttons[number] = button
        return number
