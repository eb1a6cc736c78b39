"""bot/logs.py: LOG_LEVEL and LOG_FORMAT, and no secret in any line the bot writes, whatever the level."""

from __future__ import annotations

import io
import json
import logging
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from bot import logs
from bot.config import LogFormat

# Shaped like the real thing: a bot token, a pickup-link code (secrets.token_urlsafe(24)), a key's
# payload and payload_auth, and a Harbor access token (a JWT).
BOT_TOKEN = "7123456789:AAHk3xZ_vQ9-mN2pL8rT4wY6uI0oE1sD5fG"
CODE = "q3Zk-8vN_2pLx7rT4wY6uI0oE1sD5fGh"
PAYLOAD = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
PAYLOAD_AUTH = "00ff" * 24
JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiJzZXJ2aWNlLWFjY291bnQiLCJzY29wZSI6InNlcnZpY2VfcHJvdmlkZXIifQ"
    ".c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1ieS10aGUtaGFyYm9yLWtleQ"
)
WEBHOOK_SECRET = "wh-Secret_0123456789abcdefXYZ"
SECRETS = (BOT_TOKEN, CODE, PAYLOAD, PAYLOAD_AUTH, JWT, WEBHOOK_SECRET)
# The parts an operator reading the log would copy out; none may survive in any form.
FRAGMENTS = (BOT_TOKEN.split(":")[1], CODE, PAYLOAD, PAYLOAD_AUTH, JWT.split(".")[1], WEBHOOK_SECRET)


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """Each test sets logging up its own way; put the root logger back as pytest had it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in logs.NOISY_LOGGERS}
    yield
    logs.clear_secrets()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, noisy_level in noisy.items():
        logging.getLogger(name).setLevel(noisy_level)


def _setup(level: str | int = "DEBUG", fmt: LogFormat = LogFormat.TEXT) -> io.StringIO:
    stream = io.StringIO()
    logs.setup(level, fmt, stream=stream)
    return stream


def _log_everything_secret() -> None:
    """What PTB, httpx and our own code log at DEBUG on a busy day, secrets included."""
    url = httpx.URL(f"http://telegram.emulator/bot{BOT_TOKEN}/sendMessage")
    logging.getLogger("httpx").debug('HTTP Request: %s %s "%s"', "POST", url, "HTTP/1.1 200 OK")
    logging.getLogger("telegram.ext.ExtBot").debug(
        "Calling Bot API endpoint `%s` with parameters `%s`",
        "sendMessage",
        {"chat_id": 42, "text": f"Send this link: https://t.me/harbor_bot?start={CODE}", "parse_mode": None},
    )
    logging.getLogger("telegram.ext.Updater").debug(
        "Update: %r", {"message": {"text": f"/start {CODE}", "chat": {"id": 42}}}
    )
    logging.getLogger("bot.keys").debug("key %s", json.dumps({"payload": PAYLOAD, "payload_auth": PAYLOAD_AUTH}))
    logging.getLogger("bot.harbor").debug("headers %s", {"Authorization": f"Bearer {JWT}"})
    logging.getLogger("bot.harbor").debug("sdk token %s", JWT)
    logging.getLogger("bot.web").debug("headers %s", [(b"x-telegram-bot-api-secret-token", WEBHOOK_SECRET.encode())])
    logging.getLogger("bot.web").debug("webhook set, checking %s", WEBHOOK_SECRET)  # only registration hides it
    try:
        raise httpx.ConnectError(f"cannot reach http://telegram.emulator/bot{BOT_TOKEN}/getUpdates ({BOT_TOKEN})")
    except httpx.ConnectError:
        logging.getLogger("telegram.ext.Application").exception("network trouble while polling")


@pytest.mark.parametrize("fmt", list(LogFormat))
def test_no_secret_reaches_the_stream_at_debug(fmt) -> None:
    logs.register_secret(WEBHOOK_SECRET)
    stream = _setup("DEBUG", fmt)

    _log_everything_secret()

    output = stream.getvalue()
    assert output.count("\n") >= 9  # every record was written, not dropped
    for fragment in FRAGMENTS:
        assert fragment not in output
    # ...while what an operator needs is still there.
    for kept in ("sendMessage", "HTTP/1.1 200 OK", "network trouble while polling", "ConnectError", "chat_id"):
        assert kept in output


def test_text_lines_show_placeholders_where_the_secrets_were() -> None:
    stream = _setup("DEBUG")

    _log_everything_secret()

    output = stream.getvalue()
    assert "http://telegram.emulator/bot<token>/sendMessage" in output
    assert "?start=<code>" in output
    assert "/start <code>" in output
    assert "Bearer <redacted>" in output
    assert "<jwt>" in output
    assert "Traceback (most recent call last)" in output  # the exception is there, only redacted


def test_json_lines_parse_and_carry_time_level_logger_message_and_exception() -> None:
    stream = _setup("DEBUG", LogFormat.JSON)

    _log_everything_secret()

    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(entries) == 9
    for entry in entries:
        assert entry["time"].endswith("+00:00")
        assert {"time", "level", "logger", "message"} <= entry.keys()
    first = entries[0]
    assert (first["level"], first["logger"]) == ("DEBUG", "httpx")
    assert first["message"] == 'HTTP Request: POST http://telegram.emulator/bot<token>/sendMessage "HTTP/1.1 200 OK"'
    failure = entries[-1]
    assert failure["level"] == "ERROR"
    assert failure["message"] == "network trouble while polling"
    assert "httpx.ConnectError" in failure["exception"]
    assert "<bot-token>" in failure["exception"]
    assert "exception" not in first


def test_json_lines_carry_extra_fields_redacted() -> None:
    stream = _setup("INFO", LogFormat.JSON)

    logging.getLogger("bot").info(
        "handed over",
        extra={"delivery_id": 7, "tower": {"id": "0100000000000014", "payload": PAYLOAD}, "link": f"?start={CODE}"},
    )
    logging.getLogger("bot").info("odd extra", extra={"when": object(), "sdk_token": JWT})

    handed, odd = (json.loads(line) for line in stream.getvalue().splitlines())
    assert handed["delivery_id"] == 7
    assert handed["tower"] == {"id": "0100000000000014", "payload": "<redacted>"}
    assert handed["link"] == "?start=<code>"
    assert odd["when"].startswith("<object object")  # not JSON-able: written as its repr
    assert odd["sdk_token"] == "<redacted>"


@pytest.mark.parametrize("fmt", list(LogFormat))
def test_level_filters_records_and_quietens_httpx_and_apscheduler(fmt) -> None:
    stream = _setup("WARNING", fmt)

    logging.getLogger("bot").info("routine")
    logging.getLogger("bot").warning("worth a look")
    logging.getLogger("bot").error("broken")

    output = stream.getvalue()
    assert "routine" not in output
    assert "worth a look" in output
    assert "broken" in output

    _setup("INFO", fmt)
    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("apscheduler").level == logging.WARNING


def test_debug_lets_httpx_and_apscheduler_through() -> None:
    stream = _setup("debug")  # case does not matter

    logging.getLogger("httpx").debug("request line")
    logging.getLogger("apscheduler.scheduler").debug("job ran")

    assert logging.getLogger("httpx").level == logging.DEBUG
    assert "request line" in stream.getvalue()
    assert "job ran" in stream.getvalue()


def test_info_hides_httpx_request_lines() -> None:
    stream = _setup("INFO")

    logging.getLogger("httpx").info("HTTP Request: GET https://example.com")

    assert stream.getvalue() == ""


def test_setup_accepts_numeric_levels_and_rejects_unknown_names() -> None:
    logs.setup(logging.ERROR, stream=io.StringIO())
    assert logging.getLogger().level == logging.ERROR

    with pytest.raises(ValueError, match="unknown log level"):
        logs.setup("LOUD")


def test_setup_without_arguments_logs_info_as_text_to_stderr(capsys) -> None:
    logs.setup()
    logging.getLogger("bot").info("hello %s", BOT_TOKEN)

    err = capsys.readouterr().err
    assert "INFO bot: hello <bot-token>" in err


def test_setup_twice_keeps_a_single_handler() -> None:
    first = _setup("INFO")
    second = _setup("INFO", LogFormat.JSON)

    logging.getLogger("bot").info("once")

    assert first.getvalue() == ""
    assert [json.loads(line)["message"] for line in second.getvalue().splitlines()] == ["once"]
    ours = [
        h for h in logging.getLogger().handlers if isinstance(h.formatter, logs.JsonFormatter | logs.RedactingFormatter)
    ]
    assert len(ours) == 1


def test_register_secret_redacts_an_exact_value_anywhere() -> None:
    client_secret = "Hx7/kq+Zr2=="  # base64-ish, with characters a URL must encode
    logs.register_secret(SecretStr(client_secret))
    stream = _setup("INFO")

    logging.getLogger("bot.harbor").info("token request with %s", f"client_secret_x={client_secret}")
    logging.getLogger("bot.harbor").info("form body secret=%s", "Hx7%2Fkq%2BZr2%3D%3D")
    logging.getLogger("bot").info("inside a word: abc%sdef", client_secret)

    output = stream.getvalue()
    assert "Hx7" not in output
    assert output.count("<redacted>") == 3


def test_register_secret_ignores_unset_and_short_values() -> None:
    for value in (None, "", "   ", "abc", SecretStr("short")):
        logs.register_secret(value)

    assert logs.redact("abc is short") == "abc is short"


def test_setup_from_settings_registers_the_configured_secrets() -> None:
    class FakeSettings:
        telegram_bot_token = SecretStr("not-shaped-like-a-token-1")
        harbor_client_secret = SecretStr("harbor-client-secret-2")
        telegram_webhook_secret = None
        harbor_webhook_secret = SecretStr("harbor-webhook-secret-3")
        log_level = "INFO"
        log_format = LogFormat.TEXT

    logs.setup_from_settings(FakeSettings())  # type: ignore[arg-type]

    line = "not-shaped-like-a-token-1 harbor-client-secret-2 harbor-webhook-secret-3"
    assert logs.redact(line) == "<redacted> <redacted> <redacted>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Field names in JSON, Python reprs and query strings, keeping their quoting.
        ('{"payload": "abc", "v": 1}', '{"payload": "<redacted>", "v": 1}'),
        ("{'payload_auth': 'abc'}", "{'payload_auth': '<redacted>'}"),
        ('{"client_secret":"s3cr\\"et","x":2}', '{"client_secret":"<redacted>","x":2}'),
        (
            "grant_type=client_credentials&client_secret=s3cret&scope=x",
            "grant_type=client_credentials&client_secret=<redacted>&scope=x",
        ),
        ("access_token=abc refresh_token=def", "access_token=<redacted> refresh_token=<redacted>"),
        ("{'url': 'https://h/tg', 'secret_token': 'abc'}", "{'url': 'https://h/tg', 'secret_token': '<redacted>'}"),
        ("X-Telegram-Bot-Api-Secret-Token: abc-DEF_1", "X-Telegram-Bot-Api-Secret-Token: <redacted>"),
        ("authorization: Basic aGFyYm9yOnNlY3JldA==", "authorization: Basic <redacted>"),
        ("X-Telegram-Bot-Api-Secret-Token: bbb-1", "X-Telegram-Bot-Api-Secret-Token: <redacted>"),
        ("(b'x-telegram-bot-api-secret-token', b'bcd')", "(b'x-telegram-bot-api-secret-token', b'<redacted>')"),
        ("{'Authorization': 'Bearer abc'}", "{'Authorization': 'Bearer <redacted>'}"),
        # A bot token however it is embedded.
        (f"token={BOT_TOKEN}.", "token=<bot-token>."),
        ("GET /bot123:short/getMe", "GET /bot<token>/getMe"),
        # Pickup codes behind /start, with or without the bot's name.
        (f"/start@harbor_bot {CODE}", "/start@harbor_bot <code>"),
        (f"tg://resolve?domain=harbor_bot&start={CODE}", "tg://resolve?domain=harbor_bot&start=<code>"),
    ],
)
def test_redact_known_shapes(text, expected) -> None:
    assert logs.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "GET /api/v1/locations/in-area?start=37.7,-122.4&end=37.8,-122.3",  # a Harbor area search
        "tower 0100000000000014 locker 363",  # tower ids are 16 hex digits: an operator needs them
        "delivery 5f0c4e2a-9b1d-4c3e-8f7a-6d5e4c3b2a10 stored",  # a UUID
        "/start",
        "user 123456789 chose the Bearer option",
        "payload is ready",
        "at 12:30:45 chat 4242424242",
    ],
)
def test_redact_leaves_ordinary_text_alone(text) -> None:
    assert logs.redact(text) == text


def test_redact_is_fast_on_hostile_text() -> None:
    # A log line can quote anything a user sent; redaction must stay linear like parsing.
    hostile = [
        "1" * 100_000 + ":",
        "a" * 100_000 + "g",
        "eyJ" + "a" * 100_000,
        '"payload": "' + "x" * 100_000,
        "/start " * 20_000,
        "?start=" + "A" * 15 + "&" * 100_000,
        secrets.token_urlsafe(75_000),
    ]
    started = time.process_time()
    for text in hostile:
        logs.redact(text)
    assert time.process_time() - started < 1.0
