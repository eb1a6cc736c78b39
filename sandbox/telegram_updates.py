"""How updates reach the bot: getUpdates (with long polling and Telegram's 409 conflicts) and the webhook
settings (setWebhook, deleteWebhook, getWebhookInfo); delivery itself is :mod:`sandbox.telegram_webhook`."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.requests import Request

from sandbox.telegram_errors import POLL_CONFLICT, WEBHOOK_CONFLICT, ApiError, bad_request
from sandbox.telegram_records import DEFAULT_UPDATE_TYPES, BotAccount
from sandbox.telegram_state import EmulatorState, MethodHandler


async def get_updates(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    if bot.webhook:
        raise ApiError(409, WEBHOOK_CONFLICT)
    if "allowed_updates" in params:
        allowed = frozenset(params["allowed_updates"])
        bot.allowed_updates = allowed if allowed else DEFAULT_UPDATE_TYPES
    offset = params.get("offset")
    if offset is not None and offset > 0:
        bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
    elif offset is not None and offset < 0:
        bot.updates = bot.updates[offset:]
    limit = min(max(params.get("limit", 100), 1), 100)
    timeout = max(params.get("timeout", 0), 0)
    bot.poll_generation += 1
    generation, release = bot.poll_generation, bot.release_generation
    await emulator.notify_bot(bot)  # a getUpdates still waiting ends with 409, as on Telegram
    if not bot.updates and timeout > 0:
        await _long_poll(bot, generation, release, timeout, request)
        if bot.poll_generation != generation:
            raise ApiError(409, POLL_CONFLICT)
    return bot.updates[:limit]


async def _long_poll(bot: BotAccount, generation: int, release: int, seconds: float, request: Request) -> None:
    """Wait on the bot's condition until an update arrives, a newer getUpdates supersedes this one,
    the emulator releases long polls, the client goes away, or the timeout passes."""

    async def updates_arrive() -> None:
        async with bot.cond:
            await bot.cond.wait_for(
                lambda: bool(bot.updates) or bot.poll_generation != generation or bot.release_generation != release
            )

    async def client_leaves() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    tasks = {asyncio.ensure_future(updates_arrive()), asyncio.ensure_future(client_leaves())}
    try:
        await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def delete_webhook(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    bot.webhook = None
    if params.get("drop_pending_updates"):
        bot.updates.clear()
    await emulator.notify_bot(bot)  # the delivery worker stops
    return True


async def set_webhook(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    url = params["url"]
    if not url:
        return await delete_webhook(emulator, bot, params, request)
    refusal = emulator.webhooks.check_url(url)
    if refusal is not None:
        raise bad_request(refusal)
    max_connections = params.get("max_connections", 40)
    if not 1 <= max_connections <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")
    if params.get("secret_token") and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", params["secret_token"]):
        raise bad_request("secret token contains unallowed characters")
    if "allowed_updates" in params:
        bot.allowed_updates = frozenset(params["allowed_updates"]) or DEFAULT_UPDATE_TYPES
    if params.get("drop_pending_updates"):
        bot.updates.clear()
    bot.webhook = {"url": url, "max_connections": max_connections}
    if params.get("ip_address"):
        bot.webhook["ip_address"] = params["ip_address"]
    if params.get("secret_token"):
        bot.webhook["secret_token"] = params["secret_token"]
    emulator.webhooks.kick(bot)  # updates queued before the webhook was set go out now
    await emulator.notify_bot(bot)  # a waiting getUpdates ends (with 409 on its next call)
    return True


async def get_webhook_info(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    info: dict[str, Any] = {"url": "", "has_custom_certificate": False, "pending_update_count": len(bot.updates)}
    if bot.webhook:
        info["url"] = bot.webhook["url"]
        info["max_connections"] = bot.webhook["max_connections"]
        if "ip_address" in bot.webhook:
            info["ip_address"] = bot.webhook["ip_address"]
        if bot.allowed_updates != DEFAULT_UPDATE_TYPES:
            info["allowed_updates"] = sorted(bot.allowed_updates)
    info.update(emulator.webhooks.info(bot))
    return info


HANDLERS: dict[str, MethodHandler] = {
    "getUpdates": get_updates,
    "deleteWebhook": delete_webhook,
    "setWebhook": set_webhook,
    "getWebhookInfo": get_webhook_info,
}
