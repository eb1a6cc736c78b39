"""`python -m bot <command> --help` says what the command does and which environment variables it
reads; together the commands name every setting there is."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.__main__ import build_parser
from bot.config import Settings

COMMANDS = ("run", "web", "set-webhook", "console", "doctor")


def help_of(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("command", "says", "needs"),
    [
        ("run", "long polling", ["TELEGRAM_BOT_TOKEN", "DATABASE_URL", "METRICS_PORT", "HARBOR_CLIENT_SECRET"]),
        ("web", "POST /telegram", ["TELEGRAM_WEBHOOK_SECRET", "PORT", "HOST", "DATABASE_URL", "BOT_PROCESSES"]),
        ("set-webhook", "{WEBHOOK_URL}/telegram", ["WEBHOOK_URL", "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_API_URL"]),
        ("console", "this terminal", ["DATABASE_URL", "ADMIN_IDS", "KEY_MODE"]),
        ("doctor", "PASS/FAIL", ["DATABASE_URL", "HARBOR_ENV", "TELEGRAM_BOT_TOKEN", "WEBHOOK_URL"]),
    ],
)
def test_each_command_says_what_it_does_and_what_it_reads(
    command: str, says: str, needs: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of(command, capsys)
    description = text.split("\n\n")[1]
    assert says in " ".join(description.split())
    assert "Environment it reads:" in text
    for name in needs:
        assert name in text.replace("\n", " ").replace(",", " ").split(), f"{command} --help does not name {name}"


def test_together_the_commands_name_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    named = " ".join(help_of(command, capsys) for command in COMMANDS).replace(",", " ").split()
    missing = [name.upper() for name in Settings.model_fields if name.upper() not in named]
    assert missing == []


def test_the_real_command_line_prints_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "web", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "TELEGRAM_WEBHOOK_SECRET" in result.stdout and result.stderr == ""
