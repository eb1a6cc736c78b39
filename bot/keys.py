"""The key a QR code carries (docs/design.md §4, docs/harbor-api.md §9.1).

A key is everything the phone app needs to open one locker once: the environment, the tower, the
drop-off or pick-up token's ``payload`` and ``payload_auth`` and, unless switched off, the SDK token
(``tower_access``). It travels as compact JSON, keys always in this order::

    {"v":1,"kind":"dropoff","env":"sandbox","tower_id":"0100000000000014","locker_id":363,
     "locker_name":"57","payload":"<hex>","payload_auth":"<hex>","expires":"2026-11-26T10:00:00Z",
     "sdk_token":"<tower_access token>"}

``sdk_token`` is left out when there is none. The JSON is pure ASCII (anything else is written as
``\\uXXXX``), so QR readers never have to guess a character set. ``expires`` is UTC with a ``Z`` and
whole seconds.

The module does no I/O and knows nothing of Telegram. ``payload``, ``payload_auth`` and
``sdk_token`` open a door: ``repr()`` never shows them, and they must never be logged or stored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

FORMAT_VERSION = 1

Kind = Literal["dropoff", "pickup"]
Env = Literal["sandbox", "production"]
KINDS: tuple[str, ...] = get_args(Kind)
ENVS: tuple[str, ...] = get_args(Env)

_FIELDS = (
    "v", "kind", "env", "tower_id", "locker_id", "locker_name",
    "payload", "payload_auth", "expires", "sdk_token",
)  # fmt: skip
_REQUIRED = frozenset(_FIELDS) - {"sdk_token"}

_TOWER_ID = re.compile(r"[0-9A-Fa-f]{16}")  # docs/harbor-api.md §3: 16 hex digits, either case
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")  # §5: hex-encoded bytes, so an even, non-zero length
_EXPIRES = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True, slots=True)
class LockerKey:
    """One door opening, as handed to the phone app.

    ``expires`` must be timezone-aware; it is stored in UTC with sub-second precision dropped
    (rounded down, so the key never claims to live longer than the Harbor token does).
    """

    kind: Kind
    env: Env
    tower_id: str
    locker_id: int
    locker_name: str
    payload: str
    payload_auth: str
    expires: datetime
    sdk_token: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.env not in ENVS:
            raise ValueError(f"env must be one of {', '.join(ENVS)}, not {self.env!r}")
        if not isinstance(self.tower_id, str) or not _TOWER_ID.fullmatch(self.tower_id):
            raise ValueError(f"tower_id must be 16 hexadecimal digits, not {self.tower_id!r}")
        if type(self.locker_id) is not int or self.locker_id < 0:
            raise ValueError(f"locker_id must be a non-negative integer, not {self.locker_id!r}")
        if not isinstance(self.locker_name, str):
            raise ValueError(f"locker_name must be a string, not {type(self.locker_name).__name__}")
        # The secrets are checked without echoing them.
        for name in ("payload", "payload_auth"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _HEX.fullmatch(value):
                raise ValueError(f"{name} must be a non-empty, even-length hexadecimal string")
        if self.sdk_token is not None and (not isinstance(self.sdk_token, str) or not self.sdk_token):
            raise ValueError("sdk_token must be a non-empty string or None")
        if not isinstance(self.expires, datetime):
            raise ValueError(f"expires must be a datetime, not {type(self.expires).__name__}")
        if self.expires.tzinfo is None or self.expires.utcoffset() is None:
            raise ValueError("expires must be timezone-aware")
        # (Aware datetimes compare equal across zones, so always store the normalised value.)
        object.__setattr__(self, "expires", self.expires.astimezone(UTC).replace(microsecond=0))

    def to_json(self) -> str:
        """The compact JSON of docs/design.md §4: fixed key order, no spaces, ASCII only."""
        data: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "kind": self.kind,
            "env": self.env,
            "tower_id": self.tower_id,
            "locker_id": self.locker_id,
            "locker_name": self.locker_name,
            "payload": self.payload,
            "payload_auth": self.payload_auth,
            "expires": self.expires.strftime(_EXPIRES_FORMAT),
        }
        if self.sdk_token is not None:
            data["sdk_token"] = self.sdk_token
        return json.dumps(data, separators=(",", ":"), ensure_ascii=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> LockerKey:
        """Parse and validate a key; anything not exactly format version 1 raises ValueError.

        Strict on content (every field present with the right type, no unknown or repeated
        fields, ``v`` exactly 1, ``expires`` as ``YYYY-MM-DDTHH:MM:SSZ``); indifferent to the order
        of fields and to white space, which JSON does not give a meaning.
        """
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as exc:
            raise ValueError(f"a key must be JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"a key must be a JSON object, not {type(data).__name__}")
        version = data.get("v")
        if type(version) is not int or version != FORMAT_VERSION:  # True and 1.0 are not 1
            raise ValueError(f"unsupported key format version {version!r} (expected {FORMAT_VERSION})")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) in key: {', '.join(unknown)}")
        missing = [name for name in _FIELDS if name in _REQUIRED and name not in data]
        if missing:
            raise ValueError(f"missing field(s) in key: {', '.join(missing)}")
        if "sdk_token" in data and data["sdk_token"] is None:
            raise ValueError("sdk_token must be omitted, not null, when there is none")
        for name in ("kind", "env", "tower_id", "locker_name", "payload", "payload_auth", "expires"):
            if not isinstance(data[name], str):
                raise ValueError(f"{name} must be a string, not {type(data[name]).__name__}")
        expires_text = data["expires"]
        if not _EXPIRES.fullmatch(expires_text):
            raise ValueError(f"expires must look like 2026-11-26T10:00:00Z, not {expires_text!r}")
        try:
            expires = datetime.strptime(expires_text, _EXPIRES_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(f"expires is not a valid date and time: {expires_text!r}") from None
        return cls(
            kind=data["kind"],
            env=data["env"],
            tower_id=data["tower_id"],
            locker_id=data["locker_id"],
            locker_name=data["locker_name"],
            payload=data["payload"],
            payload_auth=data["payload_auth"],
            expires=expires,
            sdk_token=data.get("sdk_token"),
        )

    def __repr__(self) -> str:
        # payload, payload_auth and sdk_token open a door: only whether a token is present shows.
        return (
            f"LockerKey(kind={self.kind!r}, env={self.env!r}, tower_id={self.tower_id!r}, "
            f"locker_id={self.locker_id!r}, locker_name={self.locker_name!r}, "
            f"expires={self.expires.strftime(_EXPIRES_FORMAT)!r}, "
            f"sdk_token={'<set>' if self.sdk_token is not None else None})"
        )

    __str__ = __repr__


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"field {name!r} appears more than once in the key")
        result[name] = value
    return result


@dataclass(frozen=True, slots=True)
class LinkKey:
    """A Locker Open link (docs/harbor-api.md §6) as the customer gets it: a URL button, and the same URL as a
    QR code for a second phone. The URL opens a door: ``repr()`` never shows it; never log or store it."""

    kind: Kind
    url: str
    tower_id: str
    locker_id: int
    locker_name: str
    expires: datetime

    def qr_text(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return (
            f"LinkKey(kind={self.kind!r}, tower_id={self.tower_id!r}, locker_id={self.locker_id!r}, "
            f"locker_name={self.locker_name!r}, expires={self.expires.strftime(_EXPIRES_FORMAT)!r})"
        )

    __str__ = __repr__
