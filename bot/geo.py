"""Distances and search boxes on the globe; parsing a typed `lat, lon`."""

from __future__ import annotations

import math
import re

EARTH_RADIUS_KM = 6371.0088

# Longest text worth parsing as a typed point: "-89.1234567890123, -179.1234567890123" is 38 characters,
# so 64 leaves room for generous precision and spacing. Anything longer is not a point, and checking
# the length first keeps every later step cheap whatever a person (or a script) sends.
MAX_POINT_CHARS = 64
# Checked before stripping so even a megabyte of padding costs O(1) to turn away; nobody types hundreds
# of spaces round a coordinate pair.
_MAX_RAW_CHARS = 256
_NUMBER = r"(-?\d{1,3}(?:\.\d+)?)"
# Each stretch of text can be matched one way only, so a failed match cannot backtrack into trying
# every split of a run of spaces (the old `\s*[,;\s]\s*` could, which made it quadratic): the
# separator is either one comma or semicolon with optional spaces round it, or spaces alone.
_POINT = re.compile(rf"{_NUMBER}(?:\s*[,;]\s*|\s+){_NUMBER}")

Point = tuple[float, float]


def distance_km(a: Point, b: Point) -> float:
    """Great-circle (haversine) distance."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def box_around(center: Point, half_side_km: float) -> tuple[Point, Point]:
    """Two opposite corners of a box reaching `half_side_km` from the centre in every direction."""
    lat, lon = center
    dlat = math.degrees(half_side_km / EARTH_RADIUS_KM)
    # Near the poles a degree of longitude shrinks to nothing; clamp so the box stays finite.
    dlon = math.degrees(half_side_km / (EARTH_RADIUS_KM * max(math.cos(math.radians(lat)), 0.01)))
    return (max(lat - dlat, -90.0), max(lon - dlon, -180.0)), (min(lat + dlat, 90.0), min(lon + dlon, 180.0))


def parse_point(text: str) -> Point | None:
    """`37.77, -122.41` (comma, semicolon or space between) -> (lat, lon), or None if it is not one."""
    point = _numbers(text)
    return point if point is not None and _in_range(point) else None


def out_of_range(text: str) -> bool:
    """Typed like coordinates (`91, 200`) but no place on Earth: worth saying so, not searching for."""
    point = _numbers(text)
    return point is not None and not _in_range(point)


def _numbers(text: str) -> Point | None:
    if len(text) > _MAX_RAW_CHARS:
        return None
    text = text.strip()
    if len(text) > MAX_POINT_CHARS:
        return None
    match = _POINT.fullmatch(text)
    if not match:
        return None
    # `\d` also matches other scripts' digits (Arabic-Indic, Devanagari, ...), which float() reads too.
    return float(match.group(1)), float(match.group(2))


def _in_range(point: Point) -> bool:
    lat, lon = point
    return -90 <= lat <= 90 and -180 <= lon <= 180
