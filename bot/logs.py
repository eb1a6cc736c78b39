"""Logging set-up shared by `run`, `console` and `doctor`, with secrets redacted from every line.

Redaction works on the text a handler is about to write, not on `record.msg`/`record.args`: libraries
pass URLs as `httpx.URL` objects, PTB logs whole request dicts at DEBUG, and exceptions quote the URL
they failed on, so only the final string reliably shows what would leak. Every level is redacted;
DEBUG merely has more to redact.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TextIO
from urllib.parse import quote

from bot.config import LogFormat

if TYPE_CHECKING:
    from bot.config import Settings

REDACTED = "<redacted>"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers that chatter about every request (with the bot token in each URL); only DEBUG wants them.
NOISY_LOGGERS = ("httpx", "httpcore", "apscheduler")
# Fields whose value opens a door or authenticates the bot, in JSON, Python reprs and query strings.
SECRET_FIELDS = frozenset(
    {
        "payload",
        "payload_auth",
        "payloadAuth",
        "sdk_token",
        "sdkToken",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "secret_token",
        # A Locker Open link (docs/harbor-api.md §6) opens a door however old it is: the whole link is secret.
        "linkToken",
        "link_token",
    }
)
# A registered secret shorter than this would blank out ordinary words all over the log.
MIN_SECRET_CHARS = 8

_B64URL = r"[A-Za-z0-9_-]"
_NOT_B64URL_BEFORE = r"(?<![A-Za-z0-9_-])"

_Replacement = str | Callable[[re.Match[str]], str]


def _field_value(match: re.Match[str]) -> str:
    # Keep the quoting the value had, so a redacted JSON or repr line still reads as one.
    value = match["value"]
    quote_char = value[0] if value[0] in "\"'" else ""
    return f"{match['key']}{quote_char}{REDACTED}{quote_char}"


# Applied in order. None of them nests quantifiers, and each run of characters can be matched one way
# only, so a hostile message costs linear time here as in parsing.
_PATTERNS: tuple[tuple[re.Pattern[str], _Replacement], ...] = (
    # Telegram puts the bot token in every URL path, in whatever shape the token has.
    (re.compile(r"/bot\d+:[^/\s'\"?#]+"), "/bot<token>"),
    # A bot token anywhere else (an error message, a repr of the settings).
    (re.compile(rf"(?<![0-9A-Za-z])\d{{5,}}:{_B64URL}{{30,}}"), "<bot-token>"),
    (
        re.compile(r"(?i)(x-telegram-bot-api-secret-token['\"]?\s*[:=,]\s*(?:b?['\"])?)[A-Za-z0-9_-]+"),
        rf"\g<1>{REDACTED}",
    ),
    # Authorization headers, whatever the scheme (Basic carries the Harbor client id and secret), and a
    # bearer token quoted on its own.
    (
        re.compile(r"(?i)(\bauthorization['\"]?\s*[:=,]\s*(?:b?['\"])?(?:(?:Bearer|Basic|Digest)\s+)?)[^\s'\",})\]]+"),
        rf"\g<1>{REDACTED}",
    ),
    (re.compile(r"\b([Bb]earer\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\g<1>{REDACTED}"),
    # JWTs (Harbor access and tower_access tokens): three base64url parts, the first always `eyJ`.
    (re.compile(rf"{_NOT_B64URL_BEFORE}eyJ{_B64URL}+\.{_B64URL}+\.{_B64URL}*"), "<jwt>"),
    (
        re.compile(
            r"(?P<key>(?<![A-Za-z0-9_])['\"]?(?:"
            + "|".join(sorted(SECRET_FIELDS, key=len, reverse=True))
            + r")['\"]?\s*[:=]\s*)"
            r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s,;&'\"})\]]+)"
        ),
        _field_value,
    ),
    # A key's payload and payload_auth are long hex; 32+ digits spares tower ids (16) and UUIDs (dashed).
    (re.compile(r"(?<![0-9A-Za-z_])[0-9A-Fa-f]{32,}(?![0-9A-Za-z_])"), "<hex>"),
    # Pickup links: t.me/<bot>?start=<code>, and the `/start <code>` message the link makes Telegram send.
    # The code is 32 base64url characters; 16+ still catches it if LINK_BYTES changes, but spares
    # Harbor's `?start=37.7,-122.4` area searches.
    (re.compile(rf"(?i)([?&]start=){_B64URL}{{16,}}"), r"\g<1><code>"),
    (re.compile(rf"(/start(?:@\w+)?\s+){_B64URL}{{16,}}"), r"\g<1><code>"),
    # Locker Open links (`…/pickup?token=<base64url>.<sig>`, `locker-open://dropoff?token=…`), also
    # URL-encoded inside a form body or a quoted URL: the token is a bearer key to a locker.
    (re.compile(r"(?i)((?:[?&]|%3F|%26)token(?:=|%3D))[A-Za-z0-9_.~-]{8,}"), rf"\g<1>{REDACTED}"),
)


class _Secrets:
    """Exact values registered at run time (configured tokens and secrets), matched in one pass."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self.pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        with self._lock:
            # Also the URL-encoded spelling: a secret with `/` or `+` is quoted in a form body or query.
            new = {value, quote(value, safe="")} - self._values
            if not new:
                return
            self._values |= new
            # Longest first, so a secret that contains another is replaced whole.
            ordered = sorted(self._values, key=len, reverse=True)
            # Swapped in as one assignment: a thread logging meanwhile uses the old or the new pattern.
            self.pattern = re.compile("|".join(map(re.escape, ordered)))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self.pattern = None


_secrets = _Secrets()


class _SecretLike(Protocol):
    def get_secret_value(self) -> str: ...


def register_secret(value: str | _SecretLike | None) -> None:
    """Redact this exact value wherever it appears in a log line from now on.

    Accepts a pydantic SecretStr too. None, blank and short values (< MIN_SECRET_CHARS) are ignored:
    they are either unset settings or too likely to occur in ordinary text to blank out.
    """
    if value is None:
        return
    text = value if isinstance(value, str) else value.get_secret_value()
    text = text.strip()
    if len(text) >= MIN_SECRET_CHARS:
        _secrets.add(text)


def clear_secrets() -> None:
    """Forget every registered secret (for tests)."""
    _secrets.clear()


def redact(text: str) -> str:
    """`text` with every known kind of secret, and every registered one, replaced by a placeholder."""
    # Registered values first: they are exact, and a later pattern could otherwise cut one in half.
    registered = _secrets.pattern
    if registered is not None:
        text = registered.sub(REDACTED, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_json(value: Any) -> Any:
    """A JSON-able value with secret fields blanked and every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: REDACTED if key in SECRET_FIELDS else _redact_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_json(item) for item in value]
    return value


class RedactingFormatter(logging.Formatter):
    """The usual text line, redacted as a whole: message, exception traceback and stack alike."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, exception, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        for key, value in record.__dict__.items():
            if key in _RECORD_FIELDS or key in entry or key.startswith("_"):
                continue
            if key in SECRET_FIELDS:
                entry[key] = REDACTED
                continue
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                # Not JSON-able: its repr still tells the reader something, and is redacted like the rest.
                entry[key] = redact(repr(value))
            else:
                entry[key] = _redact_json(value)
        return json.dumps(entry)


class _BotHandler(logging.StreamHandler[TextIO]):
    """Our own handler class, so a second `setup` can find and replace the first one's handler."""


def _level_number(level: str | int) -> int:
    if isinstance(level, int):
        return level
    number = logging.getLevelNamesMapping().get(level.strip().upper())
    if number is None:
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return number


def setup(level: str | int = "INFO", fmt: LogFormat = LogFormat.TEXT, *, stream: TextIO | None = None) -> None:
    """Send the root logger's records at `level` and above to `stream` (stderr), redacted, as text or JSON.

    Calling it again replaces the handler it added before rather than adding a second one.
    """
    number = _level_number(level)
    handler = _BotHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if LogFormat(fmt) is LogFormat.JSON else RedactingFormatter(TEXT_FORMAT))

    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _BotHandler)]:
        root.removeHandler(old)
        # Flushed, not closed: its stream is stderr or the caller's, and neither is ours to close.
        old.flush()
    root.addHandler(handler)
    root.setLevel(number)

    # httpx logs a line per request and apscheduler one per job run; an operator wants them only when
    # debugging, and then they are redacted like everything else.
    noisy = logging.DEBUG if number <= logging.DEBUG else logging.WARNING
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(noisy)


def setup_from_settings(settings: Settings) -> None:
    """`setup` with LOG_LEVEL and LOG_FORMAT, after registering every configured secret for redaction."""
    for secret in (
        settings.telegram_bot_token,
        settings.harbor_client_secret,
        settings.telegram_webhook_secret,
        settings.harbor_webhook_secret,
    ):
        register_secret(secret)
    setup(settings.log_level, settings.log_format)
