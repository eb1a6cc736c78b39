"""Small formatters shared by the views: times in a location's zone, distances, size lists."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name that is a folder of the zone database ("America") or unreadable.
        return ZoneInfo("UTC")


def local_time(when: datetime, tz_name: str | None, *, now: datetime | None = None) -> str:
    """`14:35 PST`, with the date too when it is not today where the locker is."""
    tz = zone(tz_name)
    local = when.astimezone(tz)
    today = (now or datetime.now(UTC)).astimezone(tz).date()
    clock = local.strftime("%H:%M %Z")
    return clock if local.date() == today else f"{local.strftime('%d %b')} {clock}"


def local_datetime(when: datetime | None, tz_name: str | None = None) -> str:
    if when is None:
        return "—"
    return when.astimezone(zone(tz_name)).strftime("%Y-%m-%d %H:%M %Z")


def distance(km: float) -> str:
    return f"{km * 1000:.0f} m" if km < 1 else f"{km:.1f} km"


def sizes(pairs: Iterable[tuple[str, int]]) -> str:
    return " · ".join(f"{name} {count}" for name, count in pairs)


def duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{int(seconds)} seconds"
    if minutes < 120:
        return f"{minutes} minutes" if minutes != 1 else "1 minute"
    return f"{minutes / 60:.0f} hours"
