"""Bot settings: getMe and the command menus (setMyCommands, getMyCommands, deleteMyCommands) per scope and
language."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request

from sandbox.telegram_errors import bad_request
from sandbox.telegram_records import BotAccount
from sandbox.telegram_state import EmulatorState, MethodHandler


async def get_me(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    return {
        **bot.as_user(),
        "can_join_groups": True,
        "can_read_all_group_messages": not bot.privacy_mode,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def _scope_key(
    emulator: EmulatorState, bot: BotAccount, params: dict[str, Any]
) -> tuple[tuple[str, int | None, int | None], str]:
    language = params.get("language_code", "")
    if language and not re.fullmatch(r"[a-z]{2}", language):
        raise bad_request("invalid language code specified")
    scope = params.get("scope") or {"type": "default"}
    chat_id = scope.get("chat_id")
    if chat_id is not None:
        chat_id = emulator.chat_for(bot, chat_id, sending=False).id
    user_id = scope.get("user_id")
    if scope["type"] in ("chat_member",) and user_id not in emulator.users:
        raise bad_request("user not found")
    return (scope["type"], chat_id, user_id), language


async def set_my_commands(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    commands = params["commands"]
    if len(commands) > 100:
        raise bad_request("too many commands specified")
    for command in commands:
        if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"].removeprefix("/")):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(command["description"].strip()) <= 256:
            raise bad_request("command description must be 1-256 characters")
    key = _scope_key(emulator, bot, params)
    cleaned = [{"command": c["command"].removeprefix("/"), "description": c["description"]} for c in commands]
    if cleaned:
        bot.commands[key] = cleaned
    else:
        bot.commands.pop(key, None)
    return True


async def get_my_commands(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    return list(bot.commands.get(_scope_key(emulator, bot, params), []))


async def delete_my_commands(emulator: EmulatorState, bot: BotAccount, params: dict[str, Any], request: Request) -> Any:
    bot.commands.pop(_scope_key(emulator, bot, params), None)
    return True


HANDLERS: dict[str, MethodHandler] = {
    "getMe": get_me,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
}
