"""`python -m bot doctor`: check the settings, the database, Harbor and Telegram, one line per check.

Each line is "PASS <check>: <detail>", "FAIL <check>: <reason>" or "SKIP <check>: <why>" (a check that
needs an earlier one that failed). Never a traceback, never a secret. Exit 0 when every check passed,
1 when one failed, 2 when the settings cannot be loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from bot.config import ConfigError, HarborEnv, Settings, load_settings
from bot.doctor_db import DatabaseProblem, check_database
from bot.geo import box_around, distance_km
from bot.harbor.client import HarborClient
from bot.harbor.errors import HarborError
from bot.harbor.factory import connect_harbor
from bot.harbor.models import Location

if TYPE_CHECKING:
    from telegram.request import BaseRequest

# Where to look for lockers when --near is not given: San Francisco Civic Center (the sandbox and the
# simulator's seed have locations there; Harbor's production network starts in the Bay Area too).
DEFAULT_NEAR: dict[HarborEnv, tuple[float, float]] = {
    HarborEnv.SIMULATOR: (37.7793, -122.4193),
    HarborEnv.SANDBOX: (37.7793, -122.4193),
    HarborEnv.PRODUCTION: (37.7793, -122.4193),
}
SEARCH_BOXES_KM = (5, 10, 20, 50)
NEAREST = 3
TELEGRAM_TIMEOUT = 10.0


def main(
    near: tuple[float, float] | None = None,
    *,
    settings: Settings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    out: Callable[[str], None] = print,
    telegram_request: BaseRequest | None = None,
) -> int:
    """Run every check; `transport` reaches Harbor, `telegram_request` (a PTB request) reaches Telegram."""
    if settings is None:
        try:
            settings = load_settings()
        except ConfigError as exc:
            out(f"FAIL settings: {exc}")
            return 2
    return asyncio.run(run_checks(settings, near=near, transport=transport, out=out, telegram_request=telegram_request))


class CheckFailed(Exception):
    """A check's own verdict: the message is the whole FAIL reason."""


@dataclass
class _Report:
    out: Callable[[str], None]
    secrets: list[str] = field(default_factory=list)
    failed: bool = False

    def line(self, verdict: str, check: str, text: str) -> None:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        text = " ".join(text.split())  # one line, whatever the message held
        if verdict == "FAIL":
            self.failed = True
        self.out(f"{verdict} {check}: {text}")

    async def check(self, name: str, body: Callable[[], Awaitable[str]]) -> bool:
        try:
            detail = await body()
        except (HarborError, CheckFailed, DatabaseProblem) as exc:
            self.line("FAIL", name, str(exc) or type(exc).__name__)
            return False
        except Exception as exc:
            self.line("FAIL", name, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return False
        self.line("PASS", name, detail)
        return True


async def run_checks(
    settings: Settings,
    *,
    near: tuple[float, float] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    out: Callable[[str], None] = print,
    telegram_request: BaseRequest | None = None,
) -> int:
    report = _Report(out)
    client_id, client_secret = settings.harbor_credentials
    report.secrets.append(client_secret.get_secret_value())
    if settings.telegram_bot_token is not None:
        report.secrets.append(settings.telegram_bot_token.get_secret_value())
    api_url, token_url = settings.harbor_urls
    env = settings.harbor_env.value

    telegram_note = (
        "TELEGRAM_BOT_TOKEN set"
        if settings.telegram_bot_token and settings.telegram_bot_token.get_secret_value().strip()
        else "TELEGRAM_BOT_TOKEN not set (telegram check skipped; `run` needs it)"
    )
    report.line(
        "PASS",
        "settings",
        f"HARBOR_ENV={env}, API {api_url}, token endpoint {token_url}, client id {client_id}, {telegram_note}",
    )
    await report.check("database", lambda: check_database(settings))

    if settings.webhook_url:  # issue 15: without a secret Harbor's events are not served at all
        report.line(*_harbor_events_line(settings))

    try:
        connection = connect_harbor(settings, transport=transport)
    except Exception as exc:
        report.line("FAIL", "harbor client", f"{type(exc).__name__}: {exc}")
        return 1
    client = connection.client
    try:
        token_ok = await report.check("harbor token", lambda: _check_token(client, env))
        if token_ok:
            await report.check("test-token", lambda: _check_test_token(client))
            point = near or DEFAULT_NEAR[settings.harbor_env]
            await report.check("nearby", lambda: _check_nearby(client, point))
        else:
            report.line("SKIP", "test-token", "needs a Harbor token")
            report.line("SKIP", "nearby", "needs a Harbor token")
    finally:
        with contextlib.suppress(Exception):  # closing must not turn a report into a traceback
            await connection.aclose()

    if settings.telegram_bot_token and settings.telegram_bot_token.get_secret_value().strip():
        webhook: dict[str, Any] = {}
        if await report.check("telegram", lambda: _check_telegram(settings, telegram_request, webhook)):
            await report.check("webhook", lambda: _check_webhook(settings, webhook))
    return 1 if report.failed else 0


def _harbor_events_line(settings: Settings) -> tuple[str, str, str]:
    if settings.harbor_webhook_secret and settings.harbor_webhook_secret.get_secret_value().strip():
        return "PASS", "harbor events", f"POST {settings.webhook_url}/harbor verified with HARBOR_WEBHOOK_SECRET"
    return (
        "SKIP",
        "harbor events",
        "HARBOR_WEBHOOK_SECRET is not set: POST /harbor answers 404 and the watch polls every LOCKER_POLL_SECONDS",
    )


async def _check_token(client: HarborClient, env: str) -> str:
    token = await client.service_token()
    lifetime = f"valid {token.lifetime:.0f} s" if token.lifetime else "lifetime not given"
    return f"{env} token endpoint {client.token_url} issued a {token.scope} token ({lifetime})"


async def _check_test_token(client: HarborClient) -> str:
    answer = await client.test_token()
    who = next(
        (
            f"{key} {answer[key]}"
            for key in ("client_id", "clientId", "username", "email", "name", "id")
            if isinstance(answer.get(key), str | int) and not isinstance(answer.get(key), bool)
        ),
        None,
    )
    return f"{client.api_url} accepted the token" + (f" ({who})" if who else "")


async def _check_nearby(client: HarborClient, near: tuple[float, float]) -> str:
    lat, lon = near
    found: list[Location] = []
    radius = SEARCH_BOXES_KM[0]
    for radius in SEARCH_BOXES_KM:
        found = await client.locations_in_area(*box_around(near, radius))
        if len(found) >= NEAREST:
            break
    where = f"{lat:.4f},{lon:.4f}"
    if not found:
        raise CheckFailed(f"no Harbor location within {radius} km of {where}")
    nearest = sorted(found, key=lambda loc: distance_km(near, (loc.lat, loc.lon)))[:NEAREST]
    described = "; ".join(_describe(loc, near) for loc in nearest)
    return f"{len(found)} location(s) within {radius} km of {where}: {described}"


# A webhook whose last error is this recent is failing now, not just once in the past.
WEBHOOK_ERROR_RECENT_S = 600


async def _check_webhook(settings: Settings, info: dict[str, Any]) -> str:
    url = info.get("url") or ""
    pending = info.get("pending_update_count", 0)
    expected = f"{settings.webhook_url}/telegram" if settings.webhook_url else None
    if not url:
        if expected:
            raise CheckFailed(
                f"no webhook is set but WEBHOOK_URL is {settings.webhook_url}: run `python -m bot set-webhook`"
            )
        return "none set: updates are fetched by `python -m bot run` (polling)"
    described = f"{url}, {pending} pending update(s), max {info.get('max_connections', '?')} connections"
    if expected and url != expected:
        raise CheckFailed(f"{described}; expected {expected}: run `python -m bot set-webhook`")
    error_at = info.get("last_error_date")
    if error_at and time.time() - float(error_at) < WEBHOOK_ERROR_RECENT_S:
        raise CheckFailed(
            f"{described}; last error {time.time() - float(error_at):.0f} s ago: {info.get('last_error_message')}"
        )
    return f"{described}; webhook mode: updates go to the `web` processes (`python -m bot run` refuses to start)"


def _describe(location: Location, near: tuple[float, float]) -> str:
    km = distance_km(near, (location.lat, location.lon))
    if location.availability is None:
        free = "availability unknown"
    else:
        sizes = _free_sizes(location.availability.free_by_type())
        free = sizes or "no free lockers"
    return f"{location.name} — {km:.1f} km — {free}"


def _free_sizes(types: Iterable[Any]) -> str:
    return ", ".join(f"{t.type.name} {t.counts.available}" for t in types)


async def _check_telegram(settings: Settings, request: BaseRequest | None, webhook: dict[str, Any]) -> str:
    """getMe, and getWebhookInfo while the session is open (stored in `webhook` for the next line)."""
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError
    from telegram.request import HTTPXRequest

    assert settings.telegram_bot_token is not None
    if request is None:
        request = HTTPXRequest(connect_timeout=TELEGRAM_TIMEOUT, read_timeout=TELEGRAM_TIMEOUT)
    bot = Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=f"{settings.telegram_api_url}/bot",
        request=request,
        get_updates_request=request,
    )
    try:
        async with bot:
            me = await bot.get_me()
            webhook.update((await bot.get_webhook_info()).to_dict())
    except InvalidToken:
        raise CheckFailed(
            f"{settings.telegram_api_url} rejected TELEGRAM_BOT_TOKEN (InvalidToken): "
            "check the token @BotFather gave you"
        ) from None
    except NetworkError as exc:
        raise CheckFailed(
            f"{settings.telegram_api_url} could not be reached ({type(exc).__name__}: {exc}): "
            "check TELEGRAM_API_URL and the network"
        ) from None
    return f"{settings.telegram_api_url} knows the bot as @{me.username}"
