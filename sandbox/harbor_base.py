"""Building blocks of the Harbor API simulator: constants, errors, the clock, records, seed helpers.

Nothing here knows the rules; `sandbox.harbor_state` applies them and `sandbox.harbor` serves them.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_CLIENTS = {"harbor-bot-simulator": "simulator-secret"}
TOKEN_PATH = "/realms/harbor/protocol/openid-connect/token"
ACCESS_TOKEN_SECONDS = 300
MAX_DURATION = 86400
STATUS_IDS = {"available": 1, "reserved": 2, "rented": 3, "occupied": 4, "declined": 5, "out_of_service": 6}
HELD = frozenset({"reserved", "rented", "occupied", "declined"})
SCOPES = ("service_provider", "tower_access")
LOCATION_KEYS = (
    "id",
    "name",
    "lat",
    "lon",
    "description",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "country",
    "notes",
    "accessHours",
    "timezone",
)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TOWER_ID_RE = re.compile(r"^[0-9a-f]{16}$")
MAX_LOG = 10_000


class SimError(Exception):
    """A refusal with Harbor's HTTP status and FastAPI-style `detail` (a string or the 422 list)."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.headers = headers or {}


class OAuthError(Exception):
    """A Keycloak-style token endpoint refusal: {"error", "error_description"}."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description


class Clock:
    """Simulator time, always aware UTC.

    `Clock()` starts at the real now and runs with real time (so a server started by hand behaves like
    Harbor); `Clock(start=...)` is frozen at `start` unless `tick=True`. `advance()` moves it forward in
    both cases.
    """

    def __init__(self, start: datetime | None = None, *, tick: bool | None = None) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("Clock start must be timezone-aware")
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self._tick = (start is None) if tick is None else tick
        self._mono = time.monotonic()
        self._offset = 0.0

    def now(self) -> datetime:
        elapsed = time.monotonic() - self._mono if self._tick else 0.0
        return self._start + timedelta(seconds=elapsed + self._offset)

    def advance(self, seconds: float) -> None:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds


@dataclass
class RequestRecord:
    """One non-/_sim/ request. Never holds headers or bodies.

    `status` is the answer the server decided on (a fault's status when a fault answered; 499 when the
    client went away before any answer was decided).
    """

    method: str
    path: str
    query: str
    status: int
    client_id: str | None
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "client_id": self.client_id,
            "at": iso(self.at),
        }


@dataclass
class Fault:
    method: str | None
    path: re.Pattern[str] | None
    status: int | None
    retry_after: float | None
    stall: float
    stall_after: bool
    times: int | None
    probability: float

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.path is None or self.path.search(path) is not None

    def response(self) -> tuple[int, dict[str, Any], dict[str, str]]:
        assert self.status is not None
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Error"
        headers = {} if self.retry_after is None else {"Retry-After": format(self.retry_after, "g")}
        return self.status, {"detail": phrase}, headers


@dataclass
class AccessRecord:
    token: str
    client_id: str
    scopes: tuple[str, ...]
    sub: str
    expires: datetime


@dataclass
class ReservationRecord:
    id: int
    client_id: str
    duration: int
    expires: datetime


@dataclass
class TokenRecord:
    id: int
    kind: str  # "dropoff" | "pickup"
    tower_id: str
    locker_id: int
    payload: str
    payload_auth: str
    client_info: str
    client_id: str
    created: datetime
    expires: datetime
    used_at: datetime | None = None
    voided_at: datetime | None = None

    def live(self, now: datetime) -> bool:
        return self.used_at is None and self.voided_at is None and now < self.expires

    def view(self, now: datetime) -> dict[str, Any]:
        if self.used_at:
            state = "used"
        elif self.voided_at:
            state = "voided"
        elif now >= self.expires:
            state = "expired"
        else:
            state = "live"
        return {
            "id": self.id,
            "kind": self.kind,
            "tower_id": self.tower_id,
            "locker_id": self.locker_id,
            "payload": self.payload,
            "payload_auth": self.payload_auth,
            "client_info": self.client_info,
            "created": iso(self.created),
            "expires": iso(self.expires),
            "used_at": iso(self.used_at),
            "voided_at": iso(self.voided_at),
            "client_id": self.client_id,
            "state": state,
        }


@dataclass
class LockerRecord:
    id: int
    name: str
    tower_id: str
    location_id: int
    type_id: int
    is_low: bool
    access_mode: str
    status: str = "available"
    holder: str | None = None
    reservation: ReservationRecord | None = None
    rent_expires: datetime | None = None  # set while rented through drop-off tokens


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_default_seed() -> dict[str, Any]:
    try:
        text = resources.files("sandbox").joinpath("seed.json").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - running from a bare checkout
        text = Path(__file__).with_name("seed.json").read_text(encoding="utf-8")
    return json.loads(text)


def door_range(spec: str | int) -> list[int]:
    text = str(spec)
    first, _, last = text.partition("-")
    lo, hi = int(first), int(last or first)
    if lo < 1 or hi < lo:
        raise ValueError(f"bad door range {text!r}")
    return list(range(lo, hi + 1))
