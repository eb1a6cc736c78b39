"""FairRateLimiter (bot/ratelimit.py): limits, priority, RetryAfter, eviction, and a real ExtBot.

Time is virtual: each test runs on an event loop whose clock only moves when every task waits, and
then jumps straight to the next timer. The limiter gets that loop's clock and the ordinary
asyncio.sleep, so a minute of rate limiting takes milliseconds and the timestamps are exact.
"""

from __future__ import annotations

import asyncio
import json
import selectors
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.error import RetryAfter
from telegram.ext import ExtBot
from telegram.request import BaseRequest, RequestData

from bot.ratelimit import FairRateLimiter, Priority, message_cost

T = TypeVar("T")

# RetryAfter's own constructor reads its deprecated int `retry_after` (PTB 22.2); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


class _VirtualSelector(selectors.DefaultSelector):
    """Never blocks: a wait for ``timeout`` seconds moves the loop's clock instead."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise RuntimeError("deadlock: every task waits and no timer is due")
        self._loop.now += timeout
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_VirtualSelector(self))

    def time(self) -> float:
        return self.now


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def now() -> float:
    return asyncio.get_running_loop().time()


def limiter(total_rate: float = 30.0, processes: int = 1, **kwargs: Any) -> FairRateLimiter:
    return FairRateLimiter(total_rate, processes, clock=asyncio.get_running_loop().time, **kwargs)


class Log:
    """The fake Bot API: records (time, label) of every call that got through."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str]] = []

    async def call(self, label: str) -> bool:
        self.sent.append((now(), label))
        return True

    def send(
        self,
        rl: FairRateLimiter,
        chat_id: int | str | None,
        label: str = "",
        priority: Priority | None = None,
        endpoint: str = "sendMessage",
        callback: Callable[[str], Coroutine[Any, Any, Any]] | None = None,
    ) -> Awaitable[Any]:
        data = {} if chat_id is None else {"chat_id": chat_id}
        return rl.process_request(callback or self.call, (label,), {}, endpoint, data, priority)

    @property
    def times(self) -> list[float]:
        return [t for t, _ in self.sent]

    @property
    def labels(self) -> list[str]:
        return [label for _, label in self.sent]


def most_in_window(times: list[float], window: float) -> int:
    """The largest number of calls inside any half-open window [t, t + window)."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window - 1e-9:
            start += 1
        best = max(best, end - start + 1)
    return best


# -- limits ----------------------------------------------------------------------------------------


def test_overall_rate_is_respected_over_a_window() -> None:
    async def main() -> Log:
        rl, log = limiter(30.0), Log()
        await asyncio.gather(*(log.send(rl, chat) for chat in range(1, 301)))  # 300 private chats
        return log

    log = run(main)
    assert len(log.sent) == 300
    assert most_in_window(log.times, 1.0) <= 33  # 30/s plus a burst of a tenth of a second
    # ... and it is not slower than needed: 300 calls at 30/s after the burst of 3.
    assert log.times[-1] == pytest.approx((300 - 3) / 30)


def test_each_process_takes_its_share_of_the_total() -> None:
    assert FairRateLimiter(30.0, 3).per_process_rate == 10.0

    async def main() -> Log:
        rl, log = limiter(30.0, 3, overall_burst=1), Log()
        await asyncio.gather(*(log.send(rl, chat) for chat in range(1, 101)))
        return log

    log = run(main)
    assert most_in_window(log.times, 1.0) <= 11  # 10/s and a burst of one
    assert log.times[-1] == pytest.approx(99 / 10)


def test_a_private_chat_gets_a_burst_then_one_message_a_second() -> None:
    async def main() -> Log:
        rl, log = limiter(), Log()
        await asyncio.gather(*(log.send(rl, 42) for _ in range(8)))
        return log

    assert run(main).times == pytest.approx([0, 0, 0, 1, 2, 3, 4, 5])


def test_a_group_gets_at_most_20_messages_a_minute() -> None:
    async def main() -> tuple[Log, Log]:
        rl, group, channel = limiter(1000.0), Log(), Log()  # only the group limit binds
        await asyncio.gather(
            *(group.send(rl, -1001234) for _ in range(60)),
            *(channel.send(rl, "@harbor_news") for _ in range(30)),  # a username names a channel
        )
        return group, channel

    group, channel = run(main)
    for log in (group, channel):
        assert most_in_window(log.times, 60.0) <= 20
        assert log.times[:3] == [0, 0, 0]  # a short burst first
    # Sustained (20 - burst 3) a minute: 60 messages need 57 more after the burst.
    assert group.times[-1] == pytest.approx(57 * 60 / 17)


def test_string_and_int_chat_ids_share_one_bucket() -> None:
    async def main() -> Log:
        rl, log = limiter(), Log()
        await asyncio.gather(*(log.send(rl, 7 if i % 2 else "7") for i in range(5)))
        return log

    assert run(main).times == pytest.approx([0, 0, 0, 1, 2])


# -- what counts -----------------------------------------------------------------------------------


def test_calls_that_send_no_message_are_not_throttled_or_counted() -> None:
    async def main() -> Log:
        rl, log = limiter(30.0, overall_burst=1), Log()
        await asyncio.gather(
            *(log.send(rl, None, "cb", endpoint="answerCallbackQuery") for _ in range(100)),
            *(log.send(rl, 5, "typing", endpoint="sendChatAction") for _ in range(10)),
            log.send(rl, None, "me", endpoint="getMe"),
        )
        await log.send(rl, 5, "msg")  # neither the overall nor chat 5's bucket was touched
        return log

    log = run(main)
    assert len(log.sent) == 112
    assert set(log.times) == {0.0}


def test_message_cost() -> None:
    assert message_cost("sendMessage", {"chat_id": 1}) == 1
    assert message_cost("editMessageText", {"inline_message_id": "x"}) == 1
    assert message_cost("sendMediaGroup", {"media": [object()] * 4}) == 4
    assert message_cost("forwardMessages", {"message_ids": [1, 2, 3]}) == 3
    for endpoint in ("answerCallbackQuery", "sendChatAction", "getMe", "deleteMessage", "getChat"):
        assert message_cost(endpoint, {"chat_id": 1}) == 0


def test_menus_go_through_the_limiter_and_their_429_pauses_nobody_else() -> None:
    """Issue 15: /language's setMyCommands counts against the overall rate; Telegram's 429 on it makes
    that call wait and retry, while every other call (messages too) goes on."""
    assert message_cost("setMyCommands", {"scope": {"type": "chat", "chat_id": 1}}) == 1

    async def main() -> tuple[Log, list[float], Any]:
        rl, log = limiter(10.0, overall_burst=1, max_retries=2), Log()
        counted = await asyncio.gather(*(log.send(rl, None, "menu", endpoint="setMyCommands") for _ in range(3)))
        attempts: list[float] = []

        async def flooded(label: str) -> str:
            attempts.append(now())
            if len(attempts) == 1:
                raise RetryAfter(30)
            return "ok"

        menu = asyncio.ensure_future(log.send(rl, None, endpoint="setMyCommands", callback=flooded))
        await asyncio.sleep(1)
        others = await asyncio.gather(log.send(rl, 2, "reply"), log.send(rl, None, "cb", endpoint="getMe"))
        return log, attempts, (counted, others, await menu)

    log, attempts, (_, _, result) = run(main)
    assert log.times[:3] == pytest.approx([0, 0.1, 0.2])  # the menus took turns at 10 a second
    others = [t for t, label in log.sent if label in ("reply", "cb")]
    assert len(others) == 2 and all(t < 2 for t in others)  # not held by the menu's 30 s
    assert result == "ok" and attempts[1] - attempts[0] == pytest.approx(30.1)  # the menu waited, then went


def test_a_counted_call_without_chat_id_counts_only_against_the_overall_rate() -> None:
    async def main() -> Log:
        rl, log = limiter(10.0, overall_burst=1), Log()
        await asyncio.gather(*(log.send(rl, None, endpoint="editMessageText") for _ in range(5)))
        return log

    assert run(main).times == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])


# -- priority --------------------------------------------------------------------------------------


def test_user_calls_overtake_queued_notifications() -> None:
    async def main() -> Log:
        rl, log = limiter(10.0, overall_burst=1), Log()
        notes = [asyncio.ensure_future(log.send(rl, 1000 + i, "N", Priority.NOTIFY)) for i in range(20)]
        await asyncio.sleep(0.15)  # N at 0 and 0.1 are out, 18 wait
        users = [log.send(rl, i, "U") for i in range(1, 5)]
        await asyncio.gather(*notes, *users)
        return log

    log = run(main)
    assert log.labels[:6] == ["N", "N", "U", "U", "U", "U"]
    assert log.times[2:6] == pytest.approx([0.2, 0.3, 0.4, 0.5])  # the very next slots
    assert most_in_window(log.times, 1.0) <= 11


def test_notifications_get_every_fifth_slot_under_a_stream_of_user_calls() -> None:
    async def main() -> Log:
        rl, log = limiter(10.0, overall_burst=1), Log()
        await asyncio.gather(
            *(log.send(rl, 1000 + i, "N", Priority.NOTIFY) for i in range(4)),
            *(log.send(rl, i, "U") for i in range(1, 41)),
        )
        return log

    labels = "".join(run(main).labels)
    # The first N went while nothing was queued; after it, four USER calls, one N, and so on.
    assert labels[:16] == "NUUUUNUUUUNUUUUN"
    assert labels[16:] == "U" * 28


def test_notifications_to_one_chat_do_not_hold_up_the_users_reply_there() -> None:
    async def main() -> Log:
        rl, log = limiter(), Log()
        notes = [asyncio.ensure_future(log.send(rl, 9, "N", Priority.NOTIFY)) for _ in range(6)]
        await asyncio.sleep(0.5)  # three went in the burst, three wait for chat 9's next slots
        await log.send(rl, 9, "U")
        await asyncio.gather(*notes)
        return log

    log = run(main)
    assert log.labels == ["N", "N", "N", "U", "N", "N", "N"]
    assert log.times[3] == pytest.approx(1.0)


def test_rate_limit_args_of_another_type_are_refused() -> None:
    async def main() -> None:
        with pytest.raises(TypeError):
            await limiter().process_request(Log().call, ("x",), {}, "sendMessage", {"chat_id": 1}, 3)  # type: ignore[arg-type]

    run(main)


# -- RetryAfter ------------------------------------------------------------------------------------


def test_retry_after_pauses_every_call_then_retries_and_succeeds() -> None:
    async def main() -> tuple[Log, list[float], Any]:
        rl, log = limiter(max_retries=2), Log()
        attempts: list[float] = []

        async def flooded(label: str) -> str:
            attempts.append(now())
            if len(attempts) == 1:
                raise RetryAfter(2)
            return "ok"

        first = asyncio.ensure_future(log.send(rl, 1, callback=flooded))
        await asyncio.sleep(0.5)  # during the pause: another chat's message and an uncounted call wait
        others = await asyncio.gather(log.send(rl, 2, "other"), log.send(rl, None, "cb", endpoint="getMe"))
        return log, attempts, (await first, others)

    log, attempts, (result, _) = run(main)
    assert result == "ok"
    assert attempts == pytest.approx([0.0, 2.1])  # retry_after plus the margin
    assert all(t == pytest.approx(2.1) for t in log.times)


def test_retry_after_beyond_max_retries_is_raised() -> None:
    async def main() -> list[float]:
        rl = limiter(max_retries=2)
        attempts: list[float] = []

        async def flooded(label: str) -> str:
            attempts.append(now())
            raise RetryAfter(1)

        with pytest.raises(RetryAfter):
            await Log().send(rl, 1, callback=flooded)
        return attempts

    assert run(main) == pytest.approx([0.0, 1.1, 2.2])  # the call and two retries


# -- cost and state --------------------------------------------------------------------------------


def test_uncontended_calls_start_no_task() -> None:
    async def main() -> None:
        rl, log = limiter(), Log()
        before = len(asyncio.all_tasks())
        for chat in range(1, 21):
            await log.send(rl, chat)
            assert len(asyncio.all_tasks()) == before
        assert rl._dispatcher is None

    run(main)


def test_idle_chats_are_evicted_and_busy_ones_kept() -> None:
    async def main() -> tuple[int, int, list[float]]:
        rl, log = limiter(1000.0, idle_seconds=60.0), Log()
        await asyncio.gather(*(log.send(rl, chat) for chat in range(1, 101)))
        peak = rl.tracked_chats
        # Chat 7 spends its burst and two more at 59 s: its bucket is not full at the 60 s sweep.
        await asyncio.sleep(59)
        await asyncio.gather(*(log.send(rl, 7, "late") for _ in range(5)))
        await log.send(rl, 8, "sweep")  # the first call after 60 s sweeps
        left = rl.tracked_chats
        await log.send(rl, 7, "late")  # still throttled: its state survived
        return peak, left, [t for t, label in log.sent if label == "late"]

    peak, left, late = run(main)
    assert peak == 100
    assert left == 2  # chat 7 (bucket not full) and chat 8 (just used)
    assert late == pytest.approx([59, 59, 59, 60, 61, 62])


def test_a_cancelled_waiter_does_not_block_the_queue() -> None:
    async def main() -> Log:
        rl, log = limiter(), Log()
        calls = [asyncio.ensure_future(log.send(rl, 3, f"m{i}")) for i in range(5)]
        await asyncio.sleep(0.5)
        calls[3].cancel()  # m3 waits for t=1; m4 should take its slot
        await asyncio.gather(*calls, return_exceptions=True)
        return log

    log = run(main)
    assert log.labels == ["m0", "m1", "m2", "m4"]
    assert log.times == pytest.approx([0, 0, 0, 1])


def test_shutdown_cancels_waiting_calls() -> None:
    async def main() -> bool:
        rl, log = limiter(), Log()
        calls = [asyncio.ensure_future(log.send(rl, 3)) for _ in range(5)]
        await asyncio.sleep(0.5)
        await rl.shutdown()
        results = await asyncio.gather(*calls, return_exceptions=True)
        return [isinstance(r, asyncio.CancelledError) for r in results] == [False] * 3 + [True] * 2

    assert run(main)


# -- inside a real ExtBot --------------------------------------------------------------------------


class FakeTelegram(BaseRequest):
    """Answers the Bot API from memory: getMe, a message for anything else, a 429 when told to."""

    def __init__(self, flood_first: int = 0) -> None:
        self.calls: list[tuple[float, str, dict[str, Any]]] = []
        self.flood_first = flood_first

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        self.calls.append((now(), endpoint, params))
        if endpoint == "getMe":
            result: Any = {"id": 1, "is_bot": True, "first_name": "Harbor", "username": "harbor_bot"}
        elif self.flood_first > 0:
            self.flood_first -= 1
            body = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1"}
            return 429, json.dumps({**body, "parameters": {"retry_after": 1}}).encode()
        else:
            chat = {"id": params.get("chat_id", 1), "type": "private", "first_name": "A"}
            result = {"message_id": len(self.calls), "date": 0, "chat": chat, "text": params.get("text", "")}
        return 200, json.dumps({"ok": True, "result": result}).encode()


class SpyLimiter(FairRateLimiter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[tuple[str, Priority | None]] = []

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Priority | None,
    ) -> Any:
        self.seen.append((endpoint, rate_limit_args))
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


def test_inside_a_real_extbot_rate_limit_args_flow_through_and_429_is_retried() -> None:
    async def main() -> tuple[FakeTelegram, SpyLimiter, list[str | None]]:
        fake = FakeTelegram(flood_first=1)
        rl = SpyLimiter(30.0, clock=asyncio.get_running_loop().time)
        bot: ExtBot[Priority] = ExtBot("123:ABC", request=fake, get_updates_request=fake, rate_limiter=rl)
        async with bot:
            first = await bot.send_message(5, "your locker", rate_limit_args=Priority.NOTIFY)
            await bot.answer_callback_query("cb-1")
            texts = [first.text] + [
                m.text for m in await asyncio.gather(*(bot.send_message(5, f"reply {i}") for i in range(4)))
            ]
        return fake, rl, texts

    fake, rl, texts = run(main)
    assert ("sendMessage", Priority.NOTIFY) in rl.seen
    assert ("sendMessage", None) in rl.seen  # no rate_limit_args: USER
    assert texts == ["your locker", "reply 0", "reply 1", "reply 2", "reply 3"]
    sends = [(t, p["text"]) for t, endpoint, p in fake.calls if endpoint == "sendMessage"]
    # The 429 paused everything for 1.1 s, then the notification went again; chat 5 stays at ~1/s.
    assert sends[0] == (0.0, "your locker")
    assert sends[1][0] == pytest.approx(1.1)
    assert sends[1][1] == "your locker"
    assert most_in_window([t for t, _ in sends[1:]], 1.0) <= 3
    answered = [t for t, endpoint, _ in fake.calls if endpoint == "answerCallbackQuery"]
    assert answered == pytest.approx([1.1])
