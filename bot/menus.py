"""The command menus: what everyone sees per client language, and per chat where a language was chosen
or the person is an admin."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import BadRequest, RetryAfter

from bot.config import Settings
from bot.ui import locales
from bot.ui.texts import raw
from storage.repository import Repository

log = logging.getLogger(__name__)

USER_COMMANDS = ("start", "dropoff", "my", "jobs", "cancel", "help", "language", "forget")
ADMIN_COMMANDS = ("lockers", "deliveries", "delivery", "release", "courier", "couriers", "stats")


def commands(names: tuple[str, ...], language: str) -> list[BotCommand]:
    return [BotCommand(name, raw(f"cmd.{name}", language)) for name in names]


async def set_commands(bot: Bot, settings: Settings, repo: Repository) -> None:
    """Everyone sees the user commands in their Telegram client's language (English when it is none of
    ours); admins see theirs too, in their own chats only (scoped), in their language."""
    for language in locales.SUPPORTED:
        # English is the menu without a language code: the one every other client language falls back to.
        code = None if language == locales.DEFAULT_LANGUAGE else language
        await bot.set_my_commands(commands(USER_COMMANDS, language), scope=BotCommandScopeDefault(), language_code=code)
    for admin_id in sorted(settings.admin_ids):
        admin = await repo.get_user(admin_id)
        if admin is not None:  # an admin who never wrote has no chat to scope a menu to: Telegram refuses
            await set_admin_menu(bot, admin_id, locales.of(admin))


async def set_chat_menu(bot: Bot, chat_id: int, language: str, *, admin: bool) -> bool:
    """One person's menu in their private chat, in `language` whatever their client's; False while there
    is no such chat (they never wrote to the bot)."""
    names = USER_COMMANDS + ADMIN_COMMANDS if admin else USER_COMMANDS
    try:
        await bot.set_my_commands(commands(names, language), scope=BotCommandScopeChat(chat_id))
    except BadRequest as exc:
        log.info("menu for chat %s not set (%s); it will be once they write to the bot", chat_id, exc)
        return False
    except RetryAfter:  # flood control beyond the limiter's retries: the menu is a nicety, the answer is out
        log.warning("menu for chat %s not set: Telegram's flood control", chat_id)
        return False
    return True


async def set_admin_menu(bot: Bot, admin_id: int, language: str | None = None) -> bool:
    """The admin's menu in their private chat; the admin handlers try again when it could not be set."""
    return await set_chat_menu(bot, admin_id, locales.resolve(language), admin=True)
