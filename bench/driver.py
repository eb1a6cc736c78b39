"""Users playing the drop-off against a bot in the Telegram emulator, and what each round cost.

A session is one person: /start -> /dropoff -> share a location -> tap the location -> tap a size ->
tap the key, waiting for the bot's answer to each and thinking ``think`` seconds before the next tap.
The call log of the emulator (one emulator per measured bot) is then cut into steps per person: calls
in that person's chat (and answers to that person's callback queries) between one tap and the next.
"""

from __future__ import annotations

import asyncio
import bisect
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sandbox.telegram import ApiCall, TelegramEmulator
from sandbox.telegram_driver import ChatMessage, UserDriver

STEPS = ("start", "dropoff", "location", "place", "size", "key")
VISIBLE = {"sendMessage", "sendPhoto", "editMessageText", "editMessageCaption", "editMessageReplyMarkup"}
IGNORED = {"getUpdates", "getMe", "setMyCommands", "deleteWebhook", "getMyCommands", "setMyDescription"}
IDS = ("chat_id", "message_id", "callback_query_id")
ANSWER_SECONDS = 20.0


@dataclass
class Session:
    user_id: int
    taps: list[float] = field(default_factory=list)
    photo: bytes | None = None
    pressed: dict[int, int] = field(default_factory=dict)  # step -> id of the message whose button was tapped
    error: str | None = None


def _has_buttons(message: ChatMessage) -> bool:
    return bool(message.inline_buttons)


def _first(message: ChatMessage) -> str:
    return message.inline_buttons[0][0].text


async def session(user: UserDriver, point: tuple[float, float], think: float, delay: float) -> Session:
    s = Session(user.id)
    await asyncio.sleep(delay)
    wait = ANSWER_SECONDS
    try:
        s.taps.append(time.monotonic())
        await user.command("start")
        await user.wait_for(_has_buttons, timeout=wait)
        await asyncio.sleep(think)
        s.taps.append(time.monotonic())
        await user.command("dropoff")
        await user.wait_for(lambda m: bool(m.reply_buttons), timeout=wait)
        await asyncio.sleep(think)
        s.taps.append(time.monotonic())
        await user.share_location(*point)
        nearby = await user.wait_for(_has_buttons, timeout=wait)
        await asyncio.sleep(think)
        s.taps.append(time.monotonic())
        s.pressed[3] = nearby.message_id
        await user.press(_first(nearby), nearby, timeout=wait)
        sizes = await user.wait_for(_has_buttons, timeout=wait)
        await asyncio.sleep(think)
        s.taps.append(time.monotonic())
        s.pressed[4] = sizes.message_id
        await user.press(_first(sizes), sizes, timeout=wait)
        held = await user.wait_for(lambda m: any("key" in b.lower() for b in m.buttons), timeout=wait)
        await asyncio.sleep(think)
        s.taps.append(time.monotonic())
        s.pressed[5] = held.message_id
        await user.press("key", held, timeout=wait)
        photo = await user.wait_for(lambda m: m.photo is not None, timeout=wait)
        s.photo = photo.photo
    except (TimeoutError, LookupError) as exc:
        s.error = f"step {STEPS[len(s.taps) - 1]}: {exc}"
    return s


def real_calls(calls: list[ApiCall]) -> list[ApiCall]:
    return [c for c in calls if c.method not in IGNORED]


async def settle(emulator: TelegramEmulator, quiet: float = 0.5) -> None:
    """Until the bot has made no call (but long polls) for ``quiet`` seconds."""
    while True:
        last = next((c.at for c in reversed(emulator.calls) if c.method not in IGNORED), 0.0)
        left = last + quiet - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(left)


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


@dataclass
class RoundStats:
    """What one round of sessions cost one bot."""

    sessions: list[Session]
    calls: list[ApiCall]
    cpu: float
    seconds: float
    harbor: Counter[str] = field(default_factory=Counter)
    cpu_main: float = 0.0  # of the measured process alone: cpu less its render worker's
    per_user: dict[int, list[list[ApiCall]]] = field(default_factory=dict)
    pressed: dict[tuple[int, int], int] = field(default_factory=dict)  # (user, step) -> pressed message id

    @property
    def updates(self) -> int:
        return sum(len(s.taps) for s in self.sessions)

    @property
    def completed(self) -> int:
        return sum(1 for s in self.sessions if s.error is None)

    @property
    def cpu_per_update_ms(self) -> float:
        return 1000 * self.cpu / max(1, self.updates)

    @property
    def calls_per_dropoff(self) -> float:
        return len(self.calls) / max(1, len(self.sessions))

    def latencies(self) -> list[float]:
        """Seconds from each tap to the first message or edit the person sees."""
        found = []
        for s in self.sessions:
            for k, tap in enumerate(s.taps):
                visible = [c.at for c in self.per_user.get(s.user_id, [])[k] if c.method in VISIBLE]
                if visible:
                    found.append(min(visible) - tap)
        return found

    def methods_per_step(self) -> list[Counter[str]]:
        per_step = [Counter[str]() for _ in STEPS]
        for steps in self.per_user.values():
            for k, calls in enumerate(steps):
                per_step[k].update(c.method for c in calls)
        n = max(1, len(self.sessions))
        return [Counter({m: round(v / n, 2) for m, v in c.items()}) for c in per_step]

    def script(self) -> list[list[list[Any]]]:
        """The calls of the most typical person, per step, for the baseline to replay."""
        totals = {u: sum(len(c) for c in steps) for u, steps in self.per_user.items()}
        done = {s.user_id for s in self.sessions if s.error is None}
        median = statistics.median_low([t for u, t in totals.items() if u in done])
        user = next(u for u, t in totals.items() if t == median and u in done)
        script = []
        sent: list[int] = []  # the messages the bot sent this person, in order: an edit or delete names one
        for k, calls in enumerate(self.per_user[user]):
            step = []
            for c in calls:
                params = {p: v for p, v in c.params.items() if p not in IDS}
                pressed = self.pressed.get((user, k))
                named = _int(c.params.get("message_id"))
                if pressed is not None and named == pressed:
                    target = "pressed"
                elif named is not None and named in sent:
                    target = f"sent:{sent.index(named)}"
                else:
                    target = "last"
                step.append([c.method, params, target])
                if isinstance(c.result, dict) and isinstance(c.result.get("message_id"), int):
                    sent.append(c.result["message_id"])
            script.append(step)
        return script


def cut(emulator: TelegramEmulator, token: str, stats: RoundStats) -> None:
    """Give each call of the round to the person and the step it answers."""
    queries = emulator.bots[token].callback_queries
    taps = {s.user_id: s.taps for s in stats.sessions}
    stats.per_user = {u: [[] for _ in STEPS] for u in taps}
    for c in stats.calls:
        user = None
        if "callback_query_id" in c.params:
            q = queries.get(str(c.params["callback_query_id"]))
            user = q.user_id if q is not None else None
        elif "chat_id" in c.params:
            user = _int(c.params["chat_id"])
        if user not in taps or not taps[user]:
            continue
        k = max(0, bisect.bisect_right(taps[user], c.at) - 1)
        stats.per_user[user][k].append(c)
    stats.pressed = {(s.user_id, k): m for s in stats.sessions for k, m in s.pressed.items()}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
