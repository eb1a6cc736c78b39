"""Settings: every environment variable the bot reads, typed, with defaults (docs/design.md §5).

Nothing else in the project reads the environment.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class KeyMode(StrEnum):
    """How a customer opens a locker (README "Keys"): a QR for an app built on Harbor's SDK, or a link
    that Harbor's own Locker Open app clip opens (docs/harbor-api.md §6)."""

    SDK = "sdk"
    LINK = "link"


class HarborEnv(StrEnum):
    SANDBOX = "sandbox"
    PRODUCTION = "production"
    SIMULATOR = "simulator"


# docs/harbor-api.md §1. The simulator runs in process, so its URLs only name the ASGI app.
HARBOR_URLS: dict[HarborEnv, tuple[str, str]] = {
    HarborEnv.PRODUCTION: (
        "https://api.harborlockers.com",
        "https://accounts.harborlockers.com/realms/harbor/protocol/openid-connect/token",
    ),
    HarborEnv.SANDBOX: (
        "https://api.sandbox.harborlockers.com",
        "https://accounts.sandbox.harborlockers.com/realms/harbor/protocol/openid-connect/token",
    ),
    HarborEnv.SIMULATOR: (
        "http://harbor-simulator",
        "http://harbor-simulator/realms/harbor/protocol/openid-connect/token",
    ),
}

# Credentials the in-process simulator accepts; they protect nothing.
SIMULATOR_CLIENT_ID = "harbor-bot-simulator"
SIMULATOR_CLIENT_SECRET = "simulator-secret"


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one sentence for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"

    harbor_env: HarborEnv = HarborEnv.SANDBOX
    harbor_api_url: str | None = None
    harbor_token_url: str | None = None
    harbor_client_id: str | None = None
    harbor_client_secret: SecretStr | None = None

    database_url: str = "sqlite:///harbor_bot.sqlite3"
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()

    reservation_seconds: int = Field(300, ge=1, le=3600)
    key_seconds: int = Field(300, ge=1, le=3600)
    # Harbor cannot revoke a token: a pickup key handed to someone the sender later replaces keeps
    # working until it expires, so pickup keys last only as long as a walk from the chat to the door.
    pickup_key_seconds: int = Field(120, ge=1, le=3600)
    # One account may not hold a locker forever by letting drop-off keys lapse and asking again:
    # the hold ends (and the locker is given back) after this many keys or this long after reserving.
    dropoff_max_keys: int = Field(3, ge=1, le=50)
    dropoff_max_hold_seconds: int = Field(1800, ge=60, le=24 * 3600)
    search_radius_km: float = Field(5.0, gt=0, le=50)
    # Issue 17: Harbor's list of locations (for typed searches) is walked again at most this often,
    # by one process at a time; a search that finds it older walks it on demand.
    locations_refresh_minutes: float = Field(60.0, gt=0, le=7 * 24 * 60)
    # Issue 17 (optional): typed addresses that match no location are geocoded here (off when unset),
    # e.g. https://nominatim.openstreetmap.org/search; Nominatim wants a real User-Agent and <= 1 request/s.
    geocoder_url: str | None = None
    geocoder_user_agent: str | None = None
    geocoder_interval_seconds: float = Field(1.0, gt=0, le=60)
    locker_poll_seconds: float = Field(15.0, gt=0, le=3600)
    pickup_link_days: int = Field(7, ge=1, le=90)
    reminder_hours: float = Field(24.0, gt=0, le=24 * 30)
    # The tower_access token makes the QR dense; apps that fetch their own SDK token can turn it off.
    key_include_sdk_token: bool = True
    key_mode: KeyMode = KeyMode.SDK
    # Where a bare Locker Open token (or a `locker-open://` deep link, which Telegram buttons refuse)
    # is sent instead; docs/harbor-api.md §6.3 leaves the real host open [U].
    locker_open_url: str = "https://lockeropen.com"

    # Webhook mode (`python -m bot web`, docs/design.md §8).
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=1, le=65535)
    # `run` serves GET /metrics on HOST:METRICS_PORT when set (`web` serves it on PORT).
    metrics_port: int | None = Field(None, ge=1, le=65535)
    webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    harbor_webhook_secret: SecretStr | None = None
    # With Harbor's webhooks arriving, polling is only the fallback for a lost event.
    harbor_webhook_poll_seconds: float = Field(120.0, gt=0, le=3600)
    # A request body must arrive whole within this long (a body trickled a byte at a time would hold
    # its connection, and a process has only so many).
    web_body_timeout_seconds: float = Field(10.0, gt=0, le=300)
    # Telegram's limits are per bot; each process takes its share (docs/design.md §8).
    telegram_rate_limit: float = Field(30.0, gt=0, le=1000)
    bot_processes: int = Field(1, ge=1, le=64)
    # Telegram's pace within one private chat: about one message a second, short bursts allowed.
    telegram_chat_rate: float = Field(1.0, gt=0, le=100)
    telegram_chat_burst: int = Field(10, ge=1, le=100)
    # Issue 18: a process sleeps until the next due timer, announcement or lease end (woken early by
    # writes, bot/wake.py), but never longer than this; also the deadlines job's longest interval.
    wake_max_seconds: float = Field(30.0, gt=0, le=60)
    # Issue 19, the inbox of updates (bot/inbox.py): a process that dies while handling an update holds
    # it this long before another takes it over (renewed while it runs); a handled update's id is kept
    # this long so a late redelivery is still recognised (Telegram keeps an update for 24 h).
    inbox_lease_seconds: float = Field(30.0, ge=1, le=600)
    inbox_retention_hours: float = Field(48.0, ge=1, le=24 * 30)

    # Privacy: a shared location is kept only while the drop-off search needs it; the deadlines round
    # forgets the point of any chat idle longer than this.
    chat_state_retention_seconds: int = Field(3600, ge=60, le=7 * 24 * 3600)

    # Per-user budget (in each process; see bot/throttle.py): a burst, then a steady rate; and a cap
    # on Harbor searches one person may cause.
    user_update_burst: int = Field(30, ge=1, le=10_000)
    user_updates_per_minute: float = Field(60.0, gt=0, le=60_000)
    user_searches_per_minute: int = Field(10, ge=1, le=10_000)

    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.TEXT

    @property
    def locations_refresh(self) -> timedelta:
        return timedelta(minutes=self.locations_refresh_minutes)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            try:
                return frozenset(int(p) for p in parts if p)
            except ValueError as exc:
                raise ValueError("must be comma-separated numeric Telegram user ids") from exc
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> object:
        if isinstance(value, str):
            name = value.strip().upper()
            if name not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
                raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
            return name
        return value

    @field_validator("telegram_api_url", "harbor_api_url", "harbor_token_url", "webhook_url", "locker_open_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _geocoder_names_itself(self) -> Settings:
        if self.geocoder_url and not (self.geocoder_user_agent or "").strip():
            raise ValueError("GEOCODER_URL needs GEOCODER_USER_AGENT (a real one naming this deployment)")
        return self

    @model_validator(mode="after")
    def _credentials_for_real_harbor(self) -> Settings:
        if self.harbor_env is HarborEnv.SIMULATOR:
            return self
        missing = [
            name
            for name, value in (
                ("HARBOR_CLIENT_ID", self.harbor_client_id),
                ("HARBOR_CLIENT_SECRET", self.harbor_client_secret),
            )
            if not value
        ]
        if missing:
            raise ValueError(
                f"{' and '.join(missing)} must be set for HARBOR_ENV={self.harbor_env.value}; "
                "set HARBOR_ENV=simulator to run without Harbor credentials"
            )
        return self

    @property
    def harbor_urls(self) -> tuple[str, str]:
        api, token = HARBOR_URLS[self.harbor_env]
        return self.harbor_api_url or api, self.harbor_token_url or token

    @property
    def harbor_credentials(self) -> tuple[str, SecretStr]:
        if self.harbor_env is HarborEnv.SIMULATOR and not self.harbor_client_id:
            return SIMULATOR_CLIENT_ID, SecretStr(SIMULATOR_CLIENT_SECRET)
        assert self.harbor_client_id
        assert self.harbor_client_secret
        return self.harbor_client_id, self.harbor_client_secret

    @property
    def key_env(self) -> str:
        """The environment name the phone app's SDK is set to (docs/design.md §4)."""
        return "production" if self.harbor_env is HarborEnv.PRODUCTION else "sandbox"

    def require_webhook_secret(self) -> SecretStr:
        secret = self.telegram_webhook_secret
        if secret is None or not secret.get_secret_value().strip():
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET is not set: `web` accepts only updates that carry it; choose a random "
                "string of 1-256 characters A-Z, a-z, 0-9, _ and - (and register it with `python -m bot set-webhook`)."
            )
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret.get_secret_value()):
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET is not valid: Telegram allows 1-256 characters A-Z, a-z, 0-9, _ and -."
            )
        return secret

    def require_telegram_token(self) -> SecretStr:
        if not self.telegram_bot_token or not self.telegram_bot_token.get_secret_value().strip():
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and put its token in the "
                "environment or in .env (or try `python -m bot console`, which needs no token)."
            )
        return self.telegram_bot_token


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning validation errors into one readable ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    sentences = []
    for err in exc.errors():
        name = "_".join(str(part) for part in err["loc"]).upper()
        message = err["msg"].removeprefix("Value error, ")
        if name:
            sentences.append(f"{name} is not valid: {message}.")
        else:
            sentences.append(message[0].upper() + message[1:] + ".")
    return " ".join(sentences)
