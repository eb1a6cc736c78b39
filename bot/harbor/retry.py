"""Retries with capped exponential backoff and full jitter inside a total deadline.

The rules (docs/harbor-api.md §8, §11; docs/design.md §3):

- A *safe* request (every GET, the token request, `test-token`, and the idempotent DELETE of a
  reservation) is retried on connect errors, timeouts, dropped connections, 429 (honouring
  Retry-After) and 502/503/504, until the total deadline runs out.
- An *unsafe* request (a POST that changes state) is never repeated once it may have reached Harbor:
  a timeout or a broken connection after sending raises `HarborOutcomeUnknown`. It is retried only when
  nothing can have happened: a connect error (nothing was sent), or a 429/503 answer (Harbor said no).
- Each attempt gets min(timeout, time left) seconds, enforced around the whole exchange (so it also
  holds for in-process transports, which ignore httpx's own timeouts).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from bot.harbor.errors import HarborOutcomeUnknown, HarborUnavailable

log = logging.getLogger("bot.harbor")

SAFE_RETRY_STATUSES = frozenset({429, 502, 503, 504})
# For a state-changing POST only answers that prove nothing happened are retried.
UNSAFE_RETRY_STATUSES = frozenset({429, 503})

# Nothing reached Harbor: always safe to try again.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The request may have reached Harbor.
MAYBE_SENT = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    TimeoutError,
)


@dataclass
class RetryPolicy:
    timeout: float = 10.0
    deadline: float = 20.0
    backoff_base: float = 0.25
    backoff_cap: float = 4.0
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))]."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return self.rng.uniform(0, ceiling)


@dataclass
class Outcome:
    response: httpx.Response
    attempts: int
    elapsed: float


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (a number or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def send_with_retries(
    send: Callable[[float], Awaitable[httpx.Response]],
    *,
    policy: RetryPolicy,
    safe: bool,
    method: str,
    path: str,
) -> Outcome:
    """Call `send(per_attempt_timeout)` until it gives a final answer or the deadline runs out.

    Returns the last response (which may still be a 429/5xx once retrying stopped: the caller maps
    it to an error). Raises HarborUnavailable when no answer came at all, HarborOutcomeUnknown when
    an unsafe request may have reached Harbor without an answer.
    """
    retry_statuses = SAFE_RETRY_STATUSES if safe else UNSAFE_RETRY_STATUSES
    start = policy.monotonic()
    attempt = 0
    while True:
        attempt += 1
        left = policy.deadline - (policy.monotonic() - start)
        per_attempt = max(0.001, min(policy.timeout, left))
        began = policy.monotonic()
        response: httpx.Response | None = None
        failure: str
        try:
            async with asyncio.timeout(per_attempt):
                response = await send(per_attempt)
        except NOT_SENT as exc:
            failure = type(exc).__name__
        except MAYBE_SENT as exc:
            failure = "timeout" if isinstance(exc, TimeoutError | httpx.TimeoutException) else type(exc).__name__
            if not safe:
                log.warning(
                    "harbor %s %s: %s after %.2f s on attempt %d; outcome unknown, not repeated",
                    method,
                    path,
                    failure,
                    policy.monotonic() - began,
                    attempt,
                )
                raise HarborOutcomeUnknown(
                    f"Harbor did not confirm {method} {path} ({failure}): it may or may not have happened"
                ) from None
        except httpx.HTTPError as exc:  # bad URL, unsupported protocol...: retrying will not help
            log.warning("harbor %s %s: %s on attempt %d", method, path, type(exc).__name__, attempt)
            raise HarborUnavailable(f"Harbor could not be reached: {type(exc).__name__}: {exc}") from None

        now = policy.monotonic()
        elapsed = now - start
        retry_after: float | None = None
        if response is not None:
            status = response.status_code
            log.log(
                logging.DEBUG if status < 400 else logging.INFO,
                "harbor %s %s -> %d (attempt %d, %.3f s)",
                method,
                path,
                status,
                attempt,
                now - began,
            )
            if status not in retry_statuses:
                return Outcome(response, attempt, elapsed)
            if status == 429:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            failure = str(status)
        else:
            log.info("harbor %s %s: %s (attempt %d, %.3f s)", method, path, failure, attempt, now - began)

        left = policy.deadline - elapsed
        delay = retry_after if retry_after is not None else policy.backoff(attempt)
        if delay >= left:
            log.warning(
                "harbor %s %s: giving up after %d attempts in %.2f s (last: %s)",
                method,
                path,
                attempt,
                elapsed,
                failure,
            )
            if response is not None:
                return Outcome(response, attempt, elapsed)
            raise HarborUnavailable(
                f"Harbor did not answer {method} {path} within {policy.deadline:g} s "
                f"({attempt} attempts, last: {failure})"
            )
        await policy.sleep(delay)
