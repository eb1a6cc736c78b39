"""Typed views of Harbor's JSON (docs/harbor-api.md §3, §4, §15).

Parsing is tolerant: unknown fields are ignored and both camelCase and snake_case are accepted where
the sources disagree (§6.1, §11).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator

# §15: the client matches on status.name; every other name counts as not available.
AVAILABLE = "available"
KNOWN_STATUSES = ("available", "reserved", "rented", "occupied", "declined", "out_of_service")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class LockerType(_Model):
    id: int
    name: str
    description: str | None = None


class LockerStatus(_Model):
    name: str
    id: int | None = None


class Locker(_Model):
    id: int
    name: str
    is_low_locker: bool = Field(False, validation_alias=AliasChoices("isLowLocker", "is_low_locker"))
    tower_id: str = Field(validation_alias=AliasChoices("towerId", "tower_id"))
    status: LockerStatus
    type: LockerType
    access_mode: str | None = Field(None, validation_alias=AliasChoices("accessMode", "access_mode"))

    @field_validator("tower_id")
    @classmethod
    def _lower_tower(cls, value: str) -> str:
        # §3: tower ids are hex and compared case-insensitively.
        return value.lower()

    @property
    def is_available(self) -> bool:
        return self.status.name == AVAILABLE


class Counts(_Model):
    available: int = Field(0, validation_alias=AliasChoices("availableLockers", "available_lockers"))
    total: int = Field(0, validation_alias=AliasChoices("totalLockers", "total_lockers"))


class TypeAvailability(_Model):
    type: LockerType = Field(validation_alias=AliasChoices("lockerType", "locker_type"))
    counts: Counts = Field(validation_alias=AliasChoices("lockerAvailability", "locker_availability"))


class Availability(_Model):
    counts: Counts = Field(
        default_factory=Counts, validation_alias=AliasChoices("lockerAvailability", "locker_availability")
    )
    by_type: list[TypeAvailability] = Field(default_factory=list, validation_alias=AliasChoices("byType", "by_type"))

    def free_by_type(self) -> list[TypeAvailability]:
        """Types with at least one free locker, in Harbor's type-id order."""
        return sorted((t for t in self.by_type if t.counts.available > 0), key=lambda t: t.type.id)


class TimeWindow(_Model):
    start: str
    end: str


class Location(_Model):
    id: int
    name: str
    lat: float
    lon: float
    description: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    notes: str | None = None
    access_hours: dict[str, list[TimeWindow]] | None = Field(
        None, validation_alias=AliasChoices("accessHours", "access_hours")
    )
    timezone: str | None = None
    availability: Availability | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Location:
        """A location object; in-area results carry availability at the top level (§15)."""
        if "lockerAvailability" in data or "byType" in data:
            data = {**data, "availability": {k: data[k] for k in ("lockerAvailability", "byType") if k in data}}
        return cls.model_validate(data)

    @property
    def address(self) -> str:
        """One line a person can read, without repeating what address2 already says (§3.1)."""
        parts = [p for p in (self.address1, self.address2) if p]
        tail = " ".join(p for p in (self.state, self.zip) if p)
        city_line = ", ".join(p for p in (self.city, tail) if p)
        if city_line and not any(self.city and self.city in p for p in parts[1:]):
            parts.append(city_line)
        return ", ".join(parts)


class Reservation(_Model):
    id: int | str
    locker_id: int = Field(validation_alias=AliasChoices("lockerId", "locker_id"))
    tower_id: str = Field(validation_alias=AliasChoices("towerId", "tower_id"))
    duration: int | None = None
    expires_at: datetime | None = Field(None, validation_alias=AliasChoices("expiresAt", "expires_at"))


class LockerToken(_Model):
    """A drop-off or pick-up token. payload/payload_auth open a door: never log or store them."""

    id: int | str | None = None
    tower_id: str = Field(validation_alias=AliasChoices("tower_id", "towerId"))
    locker: Locker
    payload: SecretStr
    payload_auth: SecretStr = Field(validation_alias=AliasChoices("payload_auth", "payloadAuth"))
    expires: datetime

    @field_validator("tower_id")
    @classmethod
    def _lower_tower(cls, value: str) -> str:
        return value.lower()


class AccessToken(_Model):
    """An OAuth access token with its absolute expiry (monotonic seconds, see auth.py)."""

    value: SecretStr
    scope: str
    expires_at: float
    lifetime: float | None = None  # expires_in as Harbor gave it, in seconds

    def __repr__(self) -> str:  # pragma: no cover - belt and braces: SecretStr already hides it
        return f"AccessToken(scope={self.scope!r}, expires_at={self.expires_at}, lifetime={self.lifetime})"
