"""Small formatters shared by the views: times in a location's zone, distances, durations, size lists.

Each takes the reader's language: Babel supplies month names, the decimal sign and plural rules (CLDR),
the catalogue the words. English output is the historical one ("05 Mar 14:35 PST", "1.2 km").
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date
from babel.numbers import get_decimal_symbol

from bot.ui.locales import resolve
from bot.ui.texts import raw

# Day and month before the clock; a pattern per language (CLDR's own skeletons would reorder the clock
# too, and "14:35 PST" reads the same in both languages). Languages not listed use English's.
_DAY_MONTH = {"en": "dd MMM", "es": "d MMM"}


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name that is a folder of the zone database ("America") or unreadable.
        return ZoneInfo("UTC")


def local_time(when: datetime, tz_name: str | None, *, now: datetime | None = None, lang: str | None = None) -> str:
    """`14:35 PST`, with the date too when it is not today where the locker is (`05 Mar` / `5 mar`)."""
    tz = zone(tz_name)
    local = when.astimezone(tz)
    today = (now or datetime.now(UTC)).astimezone(tz).date()
    # The zone's abbreviation (PST, CDT) as zoneinfo names it: US Spanish speakers read the same ones.
    clock = local.strftime("%H:%M %Z")
    if local.date() == today:
        return clock
    language = resolve(lang)
    return f"{format_date(local, _DAY_MONTH.get(language, _DAY_MONTH['en']), locale=language)} {clock}"


def local_datetime(when: datetime | None, tz_name: str | None = None) -> str:
    """ISO-like date and time (admin screens, link expiry): the same in every language."""
    if when is None:
        return "—"
    return when.astimezone(zone(tz_name)).strftime("%Y-%m-%d %H:%M %Z")


def number(value: float, spec: str, lang: str | None = None) -> str:
    """`value` formatted by `spec` (Python's), with the language's decimal sign ("1,2" in Spanish).

    Python does the rounding for every language, so English stays exactly what it was."""
    return f"{value:{spec}}".replace(".", _decimal_sign(resolve(lang)))


@functools.cache
def _decimal_sign(language: str) -> str:
    return get_decimal_symbol(language)


def distance(km: float, lang: str | None = None) -> str:
    if km < 1:
        return raw("unit.meters", lang, value=f"{km * 1000:.0f}")
    return raw("unit.kilometers", lang, value=number(km, ".1f", lang))


def sizes(pairs: Iterable[tuple[str, int]]) -> str:
    return " · ".join(f"{name} {count}" for name, count in pairs)


def duration(seconds: float, lang: str | None = None) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return raw("unit.seconds", lang, count=int(seconds))
    if minutes < 120:
        return raw("unit.minutes", lang, count=minutes)
    return raw("unit.hours", lang, count=round(minutes / 60))
