"""The compact Bot API table and the script that generates it."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox import gen_telegram_spec
from sandbox.telegram import SPEC_PATH, TelegramEmulator, load_spec

MINI_SPEC = {
    "version": "Bot API 0.1",
    "release_date": "today",
    "changelog": "...",
    "methods": {
        "getMe": {"name": "getMe", "href": "x", "description": ["..."], "returns": ["User"]},
        "setMyCommands": {
            "name": "setMyCommands",
            "description": ["..."],
            "returns": ["Boolean"],
            "fields": [
                {"name": "commands", "types": ["Array of BotCommand"], "required": True, "description": "..."},
                {"name": "scope", "types": ["BotCommandScope"], "required": False, "description": "..."},
            ],
        },
    },
    "types": {
        "User": {
            "name": "User",
            "fields": [{"name": "id", "types": ["Integer"], "required": True, "description": "."}],
        },
        "BotCommand": {
            "name": "BotCommand",
            "fields": [
                {"name": "command", "types": ["String"], "required": True, "description": "Text"},
                {"name": "description", "types": ["String"], "required": True, "description": "Text"},
            ],
        },
        "BotCommandScope": {"name": "BotCommandScope", "subtypes": ["BotCommandScopeDefault"], "description": ["."]},
        "BotCommandScopeDefault": {
            "name": "BotCommandScopeDefault",
            "subtype_of": ["BotCommandScope"],
            "fields": [
                {"name": "type", "types": ["String"], "required": True, "description": "Scope type, must be default"}
            ],
        },
    },
}


def test_build_table_keeps_what_validation_needs(tmp_path: Path) -> None:
    source = tmp_path / "spec.json"
    source.write_text(json.dumps(MINI_SPEC))
    out = tmp_path / "table.json"
    assert gen_telegram_spec.main([str(source), "--out", str(out)]) == 0
    table = json.loads(out.read_text())
    assert table["methods"] == {
        "getMe": {},
        "setMyCommands": {
            "commands": {"types": ["Array of BotCommand"], "required": True},
            "scope": {"types": ["BotCommandScope"], "required": False},
        },
    }
    assert table["returns"]["setMyCommands"] == ["Boolean"]
    assert set(table["types"]) == {"BotCommand", "BotCommandScope", "BotCommandScopeDefault"}  # not User (output)
    assert table["types"]["BotCommandScopeDefault"]["discriminator"] == "default"
    assert table["types"]["BotCommandScope"]["subtypes"] == ["BotCommandScopeDefault"]
    assert "Scope type" not in out.read_text()  # no descriptions
    assert "href" not in out.read_text()


def test_committed_table_covers_the_emulated_methods() -> None:
    table = load_spec()
    assert SPEC_PATH.exists()
    emulator = TelegramEmulator(table)
    for method in emulator.dispatcher.handlers:
        assert method in table["methods"], method
    assert table["methods"]["sendMessage"]["chat_id"] == {"types": ["Integer", "String"], "required": True}
    assert table["types"]["InlineKeyboardButton"]["fields"]["callback_data"] == {"types": ["String"], "required": False}
    assert table["types"]["InputMediaPhoto"]["discriminator"] == "photo"
