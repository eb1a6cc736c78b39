"""The command menus: what everyone sees, and what admins see in their own chats."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import BadRequest

from bot.config import Settings
from bot.ui.texts import raw

log = logging.getLogger(__name__)

USER_COMMANDS = ("start", "dropoff", "my", "jobs", "cancel", "help", "forget")
ADMIN_COMMANDS = ("lockers", "deliveries", "delivery", "release", "courier", "couriers", "stats")


async def set_commands(bot: Bot, settings: Settings) -> None:
    """Everyone sees the user commands; admins see theirs too, in their own chats only (scoped)."""
    user = [BotCommand(name, raw(f"cmd.{name}")) for name in USER_COMMANDS]
    await bot.set_my_commands(user, scope=BotCommandScopeDefault())
    for admin_id in sorted(settings.admin_ids):
        await set_admin_menu(bot, admin_id)


async def set_admin_menu(bot: Bot, admin_id: int) -> bool:
    """The admin's menu in their private chat; False while there is no such chat (they never wrote to
    the bot): the admin handlers try again when they do."""
    names = USER_COMMANDS + ADMIN_COMMANDS
    commands = [BotCommand(name, raw(f"cmd.{name}")) for name in names]
    try:
        await bot.set_my_commands(commands, scope=BotCommandScopeChat(admin_id))
    except BadRequest as exc:
        log.info("admin menu for %s not set yet (%s); it will be once they write to the bot", admin_id, exc)
        return False
    return True
