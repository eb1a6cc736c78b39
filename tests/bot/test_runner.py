"""`python -m bot run` as an operator runs it: clear refusals, migrations on start, clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

TOKEN = "123456:TEST-TOKEN"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARBOR_", "TELEGRAM_", "DATABASE_URL"))}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}", **extra})
    return env


def _run(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        env=_env(tmp_path, **extra),
        cwd=tmp_path,  # no .env file there
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_to_start_without_a_telegram_token(tmp_path: Path) -> None:
    done = _run(tmp_path, HARBOR_ENV="simulator")
    assert done.returncode == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_refuses_to_start_without_harbor_credentials(tmp_path: Path) -> None:
    done = _run(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, HARBOR_ENV="sandbox")
    assert done.returncode == 2
    assert "HARBOR_CLIENT_ID and HARBOR_CLIENT_SECRET must be set" in done.stderr
    assert "HARBOR_ENV=simulator" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.1)


@pytest.fixture
def emulator_server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.telegram", "--port", str(port), "--token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: _get(f"{root}/bot{TOKEN}/getMe") is not None)
        yield root
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _get(url: str) -> object | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


def test_runs_against_telegram_migrates_the_database_and_stops_cleanly_on_sigterm(
    tmp_path: Path, emulator_server: str
) -> None:
    env = _env(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=emulator_server, HARBOR_ENV="simulator")
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        request = urllib.request.Request(
            f"{emulator_server}/_sandbox/send",
            data=json.dumps({"user_id": 5, "text": "/start"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5).close()

        def greeted() -> bool:
            chat = json.dumps(_get(f"{emulator_server}/_sandbox/chat?user_id=5"))
            return "What would you like to do?" in chat

        _wait_until(greeted)
        commands = _get(f"{emulator_server}/bot{TOKEN}/getMyCommands")
        assert {"dropoff", "my", "cancel", "help"} <= {c["command"] for c in commands["result"]}  # type: ignore[index]
    finally:
        bot.send_signal(signal.SIGTERM)
        output, _ = bot.communicate(timeout=30)
    assert bot.returncode == 0, output
    assert "Traceback" not in output
    assert TOKEN.split(":")[1] not in output  # the token never reaches the log
    tables = {
        row[0]
        for row in sqlite3.connect(tmp_path / "bot.sqlite3").execute(
            "select name from sqlite_master where type='table'"
        )
    }
    assert {"deliveries", "users", "alembic_version", "chat_states", "scheduled_jobs", "outbox"} <= tables
    assert "ptb_persistence" not in tables  # conversation state lives in chat_states, not PTB persistence


def _webhook(root: str) -> str:
    info = _get(f"{root}/bot{TOKEN}/getWebhookInfo")
    assert isinstance(info, dict)
    return str(info["result"]["url"])


def _set_webhook_on(root: str) -> None:
    request = urllib.request.Request(
        f"{root}/bot{TOKEN}/setWebhook",
        data=json.dumps({"url": "https://bot.example.com/telegram"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=5).close()


def test_run_refuses_to_take_the_updates_of_a_registered_webhook(tmp_path: Path, emulator_server: str) -> None:
    _set_webhook_on(emulator_server)
    done = _run(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=emulator_server, HARBOR_ENV="simulator")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    [sentence] = [line for line in done.stderr.splitlines() if "harbor-bot" in line]
    assert "webhook https://bot.example.com/telegram" in sentence and "--drop-webhook" in sentence
    assert _webhook(emulator_server) == "https://bot.example.com/telegram"  # still set


def test_run_with_drop_webhook_deletes_it_and_polls(tmp_path: Path, emulator_server: str) -> None:
    _set_webhook_on(emulator_server)
    env = _env(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=emulator_server, HARBOR_ENV="simulator")
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--drop-webhook"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_until(lambda: _webhook(emulator_server) == "")
        request = urllib.request.Request(
            f"{emulator_server}/_sandbox/send",
            data=json.dumps({"user_id": 5, "text": "/start"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5).close()
        chat = f"{emulator_server}/_sandbox/chat?user_id=5"
        _wait_until(lambda: "What would you like to do?" in json.dumps(_get(chat)))
    finally:
        bot.send_signal(signal.SIGTERM)
        output, _ = bot.communicate(timeout=30)
    assert bot.returncode == 0, output
    assert "Traceback" not in output
