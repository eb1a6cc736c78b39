"""A cheap, fair rate limiter for the bot's Bot API calls (a PTB ``BaseRateLimiter``).

Telegram's limits (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this):
about 30 messages a second per bot, about one a second per private chat (short bursts tolerated), and
20 a minute per group, supergroup or channel (a negative chat id, or an ``@username``). Each limit is
a token bucket kept as one timestamp (GCRA: the time the bucket will be full again), computed from an
injected monotonic clock: no timer per call, no background refill.

* overall: ``total_rate / processes`` a second with a burst of a tenth of a second's worth (at least
  one), so any one-second window sees at most about ``1.1 x`` the share;
* private chat: ``private_rate`` (1/s) with a burst of ``private_burst`` (3) on top;
* group/channel: at most ``group_per_minute`` (20) in any 60 s window: a burst of ``group_burst`` (3)
  and ``(20 - 3) / 60`` a second sustained.

Per-process share. The bot may run as N identical processes behind the webhook, but Telegram counts
per bot, so each process limits itself to ``per_process_rate = total_rate / processes`` (Settings
``telegram_rate_limit`` / ``bot_processes``). The trade-off: no coordination and no round trip per
call, but a busy process cannot borrow an idle one's share (a broadcast from one process runs at 1/N
of the bot's rate), and ``processes`` must follow the real process count (too low and the bot goes
over; the RetryAfter handling below then catches it). Per-chat limits are not divided: a chat's
traffic is one conversation, answered by whichever process got the update, and dividing 1/s by N
would slow every reply; the rare cross-process collision in one chat is again caught by RetryAfter.

Which calls count. Only calls that put a message in a chat or change one: ``send*`` (except
``sendChatAction``: a typing indicator is no message, and counting it would delay the reply it
announces by a second), ``copyMessage(s)``, ``forwardMessage(s)``, ``editMessage*``,
``stopMessageLiveLocation``, ``stopPoll``, ``setGameScore``; edits change what the chat shows and draw
the same flood control in practice. ``setMyCommands`` and ``deleteMyCommands`` count against the overall
rate too (no chat), and their 429 makes only that call wait. ``sendMediaGroup`` costs one per item, ``copyMessages`` and
``forwardMessages`` one per message id. Everything else (``answerCallbackQuery``, ``answerInlineQuery``,
``getMe``, ``deleteMessage``, ``getChat`` ...) sends no message: it goes straight
through, neither counted against the overall rate nor per chat. A counted call without ``chat_id``
(an edit by ``inline_message_id``) counts only against the overall rate. ``getUpdates`` never reaches a
rate limiter (ExtBot skips it). ``allow_paid_broadcast`` calls are counted like any other: the bot does
not pay for broadcasts, and throttling them is merely slower, never wrong.

Priority convention. ``rate_limit_args`` is a :class:`Priority` or ``None``:
``await bot.send_message(chat_id, text, rate_limit_args=Priority.NOTIFY)`` for notifications and
reminders; ``None`` (the default) and ``Priority.USER`` mean an answer to the user's own action. Under
contention queued USER calls go first, but at least one grant in every ``notify_every`` (5) goes to a
waiting notification, so notifications get a fifth of the capacity and never starve.

RetryAfter. PTB cannot tell a chat's 429 from the bot's, so a ``RetryAfter`` pauses every call, the
uncounted ones too, for ``retry_after`` + 0.1 s (as AIORateLimiter does); the failed call is queued
again and retried up to ``max_retries`` times, then the error is re-raised.

Cost. With no contention a call checks two timestamps and goes: no task, no future, no lock. Only
when a call must wait does it queue (one future) and one dispatcher task, alive while anything waits,
hands out the tokens in priority order and sleeps until the next one is due. Chats whose bucket is
full again and that have nobody waiting carry no information and are dropped every ``idle_seconds``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import logging
import math
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import suppress
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

from telegram._utils.types import JSONDict
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

Result = bool | JSONDict | list[JSONDict]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

INF: Final = math.inf
RETRY_MARGIN: Final = 0.1  # Telegram rounds retry_after to whole seconds; don't knock on the second
_USER: Final = 0
_NOTIFY: Final = 1

_MESSAGE_PREFIXES: Final = (
    "send",
    "copyMessage",
    "forwardMessage",
    "editMessage",
    "stopMessageLiveLocation",
    "stopPoll",
    "setGameScore",
)
_NOT_MESSAGES: Final = frozenset({"sendChatAction"})
# Calls that set up the bot itself (its command menus): counted against the overall rate like a message,
# so a flood of /language cannot exceed it, and a 429 on one makes that call wait, not every call: it is
# about the method, not about any chat (issue 15).
_BOT_SETUP: Final = frozenset({"setMyCommands", "deleteMyCommands"})
_PER_ITEM: Final = {"sendMediaGroup": "media", "copyMessages": "message_ids", "forwardMessages": "message_ids"}


class Priority(Enum):
    """What a call is, passed as ``rate_limit_args``; ``None`` means USER.

    Plain (truthy) values on purpose: ExtBot drops a falsy ``rate_limit_args``.
    """

    USER = "user"  # the answer to something the person just did: they are waiting for it
    NOTIFY = "notify"  # notifications, reminders, broadcasts: a few seconds late is fine


def message_cost(endpoint: str, data: Mapping[str, Any]) -> int:
    """How many messages a call counts for (0: not rate limited); see the module docstring."""
    if endpoint in _BOT_SETUP:
        return 1
    if endpoint in _NOT_MESSAGES or not endpoint.startswith(_MESSAGE_PREFIXES):
        return 0
    field = _PER_ITEM.get(endpoint)
    if field is not None:
        items = data.get(field)
        if isinstance(items, list | tuple):
            return max(1, len(items))
    return 1


def _retry_seconds(exc: RetryAfter) -> float:
    # The public `retry_after` warns about its int -> timedelta migration (PTB 22.2); read the
    # timedelta behind it when it is there.
    value: object = getattr(exc, "_retry_after", None)
    if not isinstance(value, dt.timedelta):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class _Limit:
    """One kind of token bucket: ``burst`` tokens, one more every ``interval`` seconds.

    The bucket itself is a single float ``tat`` kept by its owner: the time at which it is full again.
    """

    __slots__ = ("burst", "interval")

    def __init__(self, rate: float, burst: float) -> None:
        self.interval = 1.0 / rate if rate != INF else 0.0
        self.burst = max(1.0, burst)

    def wait(self, tat: float, now: float, cost: int) -> float:
        """Seconds until ``cost`` tokens (at most a full bucket) are there; <= 0 means now."""
        need = cost if cost < self.burst else self.burst
        return tat - (self.burst - need) * self.interval - now

    def take(self, tat: float, now: float, cost: int) -> float:
        """The bucket's new ``tat`` after spending ``cost`` tokens (a big cost goes into debt)."""
        return (tat if tat > now else now) + cost * self.interval


_UNLIMITED: Final = _Limit(INF, 1)


class _Chat:
    """A chat's bucket and, only while someone waits for it, its two queues of waiters."""

    __slots__ = ("limit", "queued", "tat", "waiting", "wake_at")

    def __init__(self, limit: _Limit) -> None:
        self.limit = limit
        self.tat = -INF
        # Per priority: waiters (future, cost) in arrival order; None until the first one.
        self.waiting: tuple[deque[tuple[asyncio.Future[None], int]], ...] | None = None
        self.queued = [False, False]  # listed in the limiter's ready queue of that priority
        self.wake_at: float | None = None  # when its heap timer fires (None: not scheduled)

    def has_waiters(self) -> bool:
        return self.waiting is not None and bool(self.waiting[0] or self.waiting[1])


class FairRateLimiter(BaseRateLimiter[Priority]):
    """Telegram's overall, per-chat and per-group limits with USER-before-NOTIFY priority.

    See the module docstring for the limits, the per-process share, the priority convention and which
    calls count. ``clock`` and ``sleep`` are injectable so tests can drive time.
    """

    def __init__(
        self,
        total_rate: float = 30.0,
        processes: int = 1,
        *,
        private_rate: float = 1.0,
        private_burst: float = 3,
        group_per_minute: float = 20,
        group_burst: float = 3,
        overall_burst: float | None = None,
        max_retries: int = 3,
        notify_every: int = 5,
        idle_seconds: float = 60.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if total_rate <= 0 or processes < 1 or private_rate <= 0 or max_retries < 0 or notify_every < 1:
            raise ValueError("rates must be positive, processes and notify_every at least 1, max_retries >= 0")
        if not 1 <= group_burst < group_per_minute:
            raise ValueError("group_burst must be at least 1 and below group_per_minute")
        self.per_process_rate = total_rate / processes
        burst = overall_burst if overall_burst is not None else self.per_process_rate / 10
        self._overall = _Limit(self.per_process_rate, burst)
        self._private = _Limit(private_rate, private_burst)
        # Burst plus the sustained rate over a minute must stay within the per-minute count.
        self._group = _Limit((group_per_minute - group_burst) / 60.0, group_burst)
        self._max_retries = max_retries
        self._notify_every = notify_every
        self._idle_seconds = idle_seconds
        self._clock = clock
        self._sleep = sleep

        self._overall_tat = -INF
        self._paused_until = -INF
        self._chats: dict[int | str, _Chat] = {}
        self._no_chat = _Chat(_UNLIMITED)  # counted calls without chat_id queue here
        self._sweep_at = -INF
        # Chats whose head waiter may go as far as the chat is concerned, per priority, in turn order.
        self._ready: tuple[deque[_Chat], deque[_Chat]] = (deque(), deque())
        self._timers: list[tuple[float, int, _Chat]] = []  # (when, tie-break, chat) for waiting chats
        self._seq = itertools.count()
        self._pending = 0  # waiters not yet granted (cancelled ones until the dispatcher sees them)
        self._user_streak = 0  # USER grants in a row while a notification waited
        self._dispatcher: asyncio.Task[None] | None = None
        self._nap: asyncio.Future[None] | None = None
        self._nap_until = INF

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> FairRateLimiter:
        """The limiter for ``TELEGRAM_RATE_LIMIT`` shared by ``BOT_PROCESSES`` processes, with
        ``TELEGRAM_CHAT_RATE`` / ``TELEGRAM_CHAT_BURST`` in each private chat."""
        chat = {"private_rate": settings.telegram_chat_rate, "private_burst": settings.telegram_chat_burst}
        return cls(settings.telegram_rate_limit, settings.bot_processes, **{**chat, **kwargs})

    @property
    def tracked_chats(self) -> int:
        """How many chats have state now (idle ones are dropped every ``idle_seconds``)."""
        return len(self._chats)

    # -- BaseRateLimiter -------------------------------------------------------------------------

    async def initialize(self) -> None:
        """Nothing to set up: the dispatcher starts on the first call that has to wait."""

    async def shutdown(self) -> None:
        """Stops the dispatcher; calls still waiting are cancelled (the bot is going away)."""
        task, self._dispatcher = self._dispatcher, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        for chat in [*self._chats.values(), self._no_chat]:
            for queue in chat.waiting or ():
                for future, _ in queue:
                    future.cancel()
                queue.clear()
            chat.queued = [False, False]
            chat.wake_at = None
        for ready in self._ready:
            ready.clear()
        self._timers.clear()
        self._pending = 0

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Priority | None,
    ) -> Result:
        """Waits for the call's turn, makes it, and retries it after a RetryAfter (see module doc)."""
        if rate_limit_args is None or rate_limit_args is Priority.USER:
            priority = _USER
        elif rate_limit_args is Priority.NOTIFY:
            priority = _NOTIFY
        else:
            raise TypeError(f"rate_limit_args must be a Priority or None, not {rate_limit_args!r}")
        cost = message_cost(endpoint, data)
        attempt = 0
        while True:
            if cost:
                # Looked up on every attempt: an idle chat may have been evicted during a pause.
                now = self._clock()
                await self._acquire(self._chat_for(data.get("chat_id"), now), cost, priority, now)
            else:
                await self._wait_out_pause()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt >= self._max_retries:
                    log.warning("%s: flood control after %d retries, giving up", endpoint, attempt)
                    raise
                attempt += 1
                seconds = _retry_seconds(exc) + RETRY_MARGIN
                if endpoint in _BOT_SETUP:
                    log.info("%s: flood control, this call waits %.1f s (retry %d)", endpoint, seconds, attempt)
                    await asyncio.sleep(seconds)
                    continue
                log.info("%s: flood control, pausing all calls for %.1f s (retry %d)", endpoint, seconds, attempt)
                self._paused_until = max(self._paused_until, self._clock() + seconds)
                self._wake_dispatcher(self._clock())

    # -- the fast path ---------------------------------------------------------------------------

    def _chat_for(self, chat_id: object, now: float) -> _Chat:
        if now >= self._sweep_at:
            self._sweep(now)  # before the look-up, so it cannot drop the chat this call then charges
        if chat_id is None:
            return self._no_chat
        if isinstance(chat_id, str):
            with suppress(ValueError):
                chat_id = int(chat_id)  # "123" and 123 are one chat
        if not isinstance(chat_id, int | str):
            return self._no_chat
        chat = self._chats.get(chat_id)
        if chat is None:
            # An @username only names supergroups and channels; groups have negative ids.
            group = isinstance(chat_id, str) or chat_id < 0
            chat = self._chats[chat_id] = _Chat(self._group if group else self._private)
        return chat

    async def _acquire(self, chat: _Chat, cost: int, priority: int, now: float) -> None:
        if (
            now >= self._paused_until
            # Nobody queued: a newcomer going now overtakes no one (a USER call must not bypass
            # queued notifications either, or their guaranteed share could be eaten up).
            and not self._ready[_USER]
            and not self._ready[_NOTIFY]
            and not chat.has_waiters()
            and self._overall.wait(self._overall_tat, now, cost) <= 0
            and chat.limit.wait(chat.tat, now, cost) <= 0
        ):
            self._overall_tat = self._overall.take(self._overall_tat, now, cost)
            chat.tat = chat.limit.take(chat.tat, now, cost)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if chat.waiting is None:
            chat.waiting = (deque(), deque())
        chat.waiting[priority].append((future, cost))
        self._pending += 1
        self._place(chat, now)
        self._wake_dispatcher(now)
        await future  # a cancelled caller cancels the future; the dispatcher then skips it

    async def _wait_out_pause(self) -> None:
        while (left := self._paused_until - self._clock()) > 0:
            await self._sleep(left)

    def _sweep(self, now: float) -> None:
        # A full bucket with nobody waiting is the same as a new one: forgetting it loses nothing.
        self._sweep_at = now + self._idle_seconds
        idle = [key for key, chat in self._chats.items() if chat.tat <= now and not chat.has_waiters()]
        for key in idle:
            del self._chats[key]

    # -- the queues ------------------------------------------------------------------------------

    def _head(self, chat: _Chat, priority: int) -> tuple[asyncio.Future[None], int] | None:
        """The chat's first live waiter of that priority, dropping cancelled ones."""
        if chat.waiting is None:
            return None
        queue = chat.waiting[priority]
        while queue and queue[0][0].done():
            queue.popleft()
            self._pending -= 1
        return queue[0] if queue else None

    def _place(self, chat: _Chat, now: float) -> None:
        """Lists a chat with waiters where the dispatcher finds it: ready now, or a timer."""
        earliest = INF
        for priority in (_USER, _NOTIFY):
            head = self._head(chat, priority)
            if head is None:
                continue
            wait = chat.limit.wait(chat.tat, now, head[1])
            if wait <= 0:
                if not chat.queued[priority]:
                    chat.queued[priority] = True
                    self._ready[priority].append(chat)
            elif wait < earliest:
                earliest = wait
        if earliest < INF:
            when = now + earliest
            if chat.wake_at is None or when < chat.wake_at:
                chat.wake_at = when  # an earlier entry left in the heap is recognised as stale
                heapq.heappush(self._timers, (when, next(self._seq), chat))

    def _ready_head(self, priority: int, now: float) -> tuple[_Chat, tuple[asyncio.Future[None], int]] | None:
        """The first chat in that ready queue that really may send now (entries can be stale)."""
        ready = self._ready[priority]
        while ready:
            chat = ready[0]
            head = self._head(chat, priority)
            if head is not None and chat.limit.wait(chat.tat, now, head[1]) <= 0:
                return chat, head
            ready.popleft()
            chat.queued[priority] = False
            if head is not None:
                self._place(chat, now)  # served through the other queue meanwhile: wait for a timer
        return None

    def _grant(self, now: float) -> float:
        """Lets every waiter go that may go now; returns seconds until the overall bucket allows more."""
        while now >= self._paused_until:
            user = self._ready_head(_USER, now)
            notify = self._ready_head(_NOTIFY, now)
            if user is not None and (notify is None or self._user_streak < self._notify_every - 1):
                priority, (chat, (future, cost)) = _USER, user
            elif notify is not None:
                priority, (chat, (future, cost)) = _NOTIFY, notify
            else:
                return INF
            wait = self._overall.wait(self._overall_tat, now, cost)
            if wait > 0:
                return wait
            self._ready[priority].popleft()
            chat.queued[priority] = False
            chat.waiting[priority].popleft()  # type: ignore[index]  # a head exists, so waiting does
            self._pending -= 1
            self._user_streak = self._user_streak + 1 if priority == _USER and notify is not None else 0
            self._overall_tat = self._overall.take(self._overall_tat, now, cost)
            chat.tat = chat.limit.take(chat.tat, now, cost)
            future.set_result(None)
            if chat.has_waiters():
                self._place(chat, now)  # back of the ready queue (turns go round) or a timer
        return self._paused_until - now

    def _next_wake(self, now: float) -> float:
        """When the dispatcher has something to do next."""
        if now < self._paused_until:
            return self._paused_until
        when = self._timers[0][0] if self._timers else INF
        if self._ready[_USER] or self._ready[_NOTIFY]:
            when = min(when, now + max(0.0, self._overall.wait(self._overall_tat, now, 1)))
        return when

    # -- the dispatcher --------------------------------------------------------------------------

    def _wake_dispatcher(self, now: float) -> None:
        if not self._pending:
            return
        if self._dispatcher is None:
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())
        elif self._nap is not None and self._next_wake(now) < self._nap_until:
            self._nap.cancel()  # it sleeps past what just became due

    async def _dispatch(self) -> None:
        try:
            while self._pending:
                now = self._clock()
                while self._timers and self._timers[0][0] <= now:
                    when, _, chat = heapq.heappop(self._timers)
                    if chat.wake_at == when:
                        chat.wake_at = None
                        self._place(chat, now)
                wait = self._grant(now)
                if not self._pending:
                    break
                if self._timers:
                    wait = min(wait, self._timers[0][0] - now)
                if wait == INF:  # cannot happen while the bookkeeping holds; never spin or hang
                    log.error("rate limiter: %d waiters but nothing scheduled", self._pending)
                    break
                await self._nap_for(max(wait, 0.0), now)
        finally:
            if self._dispatcher is asyncio.current_task():
                self._dispatcher = None

    async def _nap_for(self, seconds: float, now: float) -> None:
        # A task of its own so an arrival that is due sooner can cut the nap short (cancel it).
        self._nap_until = now + seconds
        self._nap = nap = asyncio.ensure_future(self._sleep(seconds))
        try:
            await nap
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # the dispatcher itself is being cancelled (shutdown), not just its nap
        finally:
            nap.cancel()
            self._nap = None
            self._nap_until = INF
