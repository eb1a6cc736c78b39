"""`python -m bot doctor`: one PASS/FAIL line per check, no traceback, no secret, a meaningful exit code."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.config import load_settings
from bot.doctor import main
from sandbox.harbor import TOKEN_PATH, HarborSimulator, create_app
from sandbox.telegram import IN_PROCESS_ROOT, TelegramEmulator
from storage.migrate import head_revision

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _sqlite_template: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("HARBOR_", "TELEGRAM_")) or name in ("ADMIN_IDS", "KEY_SECONDS", "DATABASE_URL"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    # The default DATABASE_URL (harbor_bot.sqlite3 here), migrated, as after the bot's first start.
    shutil.copyfile(_sqlite_template, tmp_path / "harbor_bot.sqlite3")


def run(**kwargs) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = main(out=lines.append, **kwargs)
    return code, lines


def test_simulator_every_line_passes(monkeypatch):
    monkeypatch.setenv("HARBOR_ENV", "simulator")
    code, lines = run()
    assert code == 0, lines
    assert [line.split(":")[0] for line in lines] == [
        "PASS settings",
        "PASS database",
        "PASS harbor token",
        "PASS test-token",
        "PASS nearby",
    ]
    assert lines[1] == "PASS database: sqlite:///harbor_bot.sqlite3 answers, schema at " + head_revision()
    assert "valid 300 s" in lines[2]
    assert "simulator" in lines[2]
    nearby = lines[4]
    assert "Civic Center" in nearby
    assert " km — small " in nearby


def test_nearby_widens_the_box(monkeypatch):
    monkeypatch.setenv("HARBOR_ENV", "simulator")
    # 25 km from downtown Austin: nothing within 5, 10 or 20 km, both seed locations within 50 km.
    code, lines = run(near=(30.05, -97.74))
    assert code == 0, lines
    assert "within 50 km" in lines[-1]
    assert "Downtown Austin" in lines[-1]


def test_nowhere_near_a_locker_fails_nearby(monkeypatch):
    monkeypatch.setenv("HARBOR_ENV", "simulator")
    code, lines = run(near=(-33.86, 151.21))
    assert code == 1
    assert lines[-1].startswith("FAIL nearby: no Harbor location within 50 km")


def test_bad_settings_is_one_line_and_exit_2(monkeypatch):
    monkeypatch.setenv("HARBOR_ENV", "sandbox")
    code, lines = run()
    assert code == 2
    assert len(lines) == 1
    assert lines[0].startswith("FAIL settings: HARBOR_CLIENT_ID and HARBOR_CLIENT_SECRET must be set")


def test_wrong_secret_in_process_is_one_fail_line(monkeypatch):
    sim = HarborSimulator(clients={"x": "right"})
    settings = load_settings(harbor_env="sandbox", harbor_client_id="x", harbor_client_secret="wrong-in-process-secret")
    code, lines = run(settings=settings, transport=httpx.ASGITransport(app=create_app(sim)))
    assert code == 1
    fails = [line for line in lines if line.startswith("FAIL")]
    assert fails == [
        "FAIL harbor token: Harbor refused the client credentials (invalid_client): "
        "check HARBOR_CLIENT_ID and HARBOR_CLIENT_SECRET"
    ]
    assert not any("wrong-in-process-secret" in line for line in lines)


def test_harbor_down_is_a_fail_line_not_a_traceback(monkeypatch):
    sim = HarborSimulator()
    sim.add_fault(path=TOKEN_PATH, status=500, times=None)
    settings = load_settings(harbor_env="simulator")
    code, lines = run(settings=settings, transport=httpx.ASGITransport(app=create_app(sim)))
    assert code == 1
    assert lines[2].startswith("FAIL harbor token: Harbor's token endpoint answered 500")


def test_unexpected_exception_in_a_check_is_a_fail_line(monkeypatch):
    class Broken(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request):
            raise RuntimeError("the transport exploded")

    settings = load_settings(harbor_env="simulator")
    code, lines = run(settings=settings, transport=Broken())
    assert code == 1
    assert lines[2] == "FAIL harbor token: RuntimeError: the transport exploded"


@pytest.fixture
def telegram() -> TelegramEmulator:
    emulator = TelegramEmulator()
    emulator.add_bot("123456:GOOD-TOKEN-abc", username="harbor_doctor_bot")
    return emulator


def test_telegram_get_me_passes(telegram):
    settings = load_settings(
        harbor_env="simulator", telegram_bot_token="123456:GOOD-TOKEN-abc", telegram_api_url=IN_PROCESS_ROOT
    )
    code, lines = run(settings=settings, telegram_request=telegram.ptb_request())
    assert code == 0, lines
    assert lines[-2] == f"PASS telegram: {IN_PROCESS_ROOT} knows the bot as @harbor_doctor_bot"
    assert lines[-1] == "PASS webhook: none set: updates are fetched by `python -m bot run` (polling)"


def _set_webhook(telegram: TelegramEmulator, url: str) -> None:
    async def call() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(telegram.app), base_url=IN_PROCESS_ROOT) as api:
            answer = await api.post("/bot123456:GOOD-TOKEN-abc/setWebhook", json={"url": url, "secret_token": "s3"})
            assert answer.json()["ok"], answer.text

    asyncio.run(call())


def test_webhook_info_is_reported_and_a_wrong_url_fails(telegram):
    _set_webhook(telegram, "https://bot.example.com/telegram")
    settings = load_settings(
        harbor_env="simulator",
        telegram_bot_token="123456:GOOD-TOKEN-abc",
        telegram_api_url=IN_PROCESS_ROOT,
        webhook_url="https://bot.example.com",
    )
    code, lines = run(settings=settings, telegram_request=telegram.ptb_request())
    assert code == 0, lines
    assert lines[-1].startswith("PASS webhook: https://bot.example.com/telegram, 0 pending update(s)")
    assert lines[-1].endswith("webhook mode: updates go to the `web` processes (`python -m bot run` refuses to start)")

    moved = settings.model_copy(update={"webhook_url": "https://new.example.com"})
    code, lines = run(settings=moved, telegram_request=telegram.ptb_request())
    assert code == 1
    assert lines[-1].startswith("FAIL webhook:") and "expected https://new.example.com/telegram" in lines[-1]


def test_telegram_invalid_token_fails_without_showing_it(telegram):
    settings = load_settings(
        harbor_env="simulator", telegram_bot_token="999:REVOKED-TOKEN-xyz", telegram_api_url=IN_PROCESS_ROOT
    )
    code, lines = run(settings=settings, telegram_request=telegram.ptb_request())
    assert code == 1
    assert lines[-1].startswith("FAIL telegram:")
    assert "TELEGRAM_BOT_TOKEN" in lines[-1]
    assert not any("REVOKED-TOKEN-xyz" in line for line in lines)


def test_telegram_unreachable_fails():
    port = free_port()
    settings = load_settings(
        harbor_env="simulator", telegram_bot_token="5:UNREACHABLE-xyz", telegram_api_url=f"http://127.0.0.1:{port}"
    )
    code, lines = run(settings=settings)
    assert code == 1
    assert lines[-1].startswith("FAIL telegram:")
    assert "could not be reached" in lines[-1]
    assert not any("UNREACHABLE-xyz" in line for line in lines)


# -- the real thing: a Harbor simulator server and `python -m bot doctor` as processes ----------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def harbor_server() -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.harbor", "--port", str(port), "--client-id", "x", "--client-secret", "right"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the Harbor simulator server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


def doctor_process(base: str, secret: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HARBOR_", "TELEGRAM_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        HARBOR_ENV="sandbox",
        HARBOR_API_URL=base,
        HARBOR_TOKEN_URL=base + TOKEN_PATH,
        HARBOR_CLIENT_ID="x",
        HARBOR_CLIENT_SECRET=secret,
    )
    return subprocess.run(
        [sys.executable, "-m", "bot", "doctor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_doctor_process_with_a_wrong_secret(harbor_server, tmp_path):
    result = doctor_process(harbor_server, "wrong-secret-9f8e7d", tmp_path)
    assert result.returncode != 0
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1, result.stdout
    assert "refused the client credentials" in fails[0]
    assert "HARBOR_CLIENT_SECRET" in fails[0]
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream
        assert "wrong-secret-9f8e7d" not in stream


def test_doctor_process_with_the_right_secret(harbor_server, tmp_path):
    result = doctor_process(harbor_server, "right", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("PASS") for line in lines), lines
    assert f"sandbox token endpoint {harbor_server}{TOKEN_PATH}" in lines[2]
    assert "Traceback" not in result.stderr


def test_doctor_says_harbor_events_are_not_served_without_a_secret(monkeypatch):
    """Issue 15: `POST /harbor` is served only with HARBOR_WEBHOOK_SECRET; doctor says which it is."""
    monkeypatch.setenv("HARBOR_ENV", "simulator")
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.com")
    _, lines = run()
    [line] = [line for line in lines if "harbor events" in line]
    assert line.startswith("SKIP harbor events") and "POST /harbor answers 404" in line
    monkeypatch.setenv("HARBOR_WEBHOOK_SECRET", "harbor-webhook-secret-1")
    _, lines = run()
    [line] = [line for line in lines if "harbor events" in line]
    assert line == "PASS harbor events: POST https://bot.example.com/harbor verified with HARBOR_WEBHOOK_SECRET"
