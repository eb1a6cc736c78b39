"""Distances and search boxes on the globe; parsing a typed `lat, lon`."""

from __future__ import annotations

import math
import re

EARTH_RADIUS_KM = 6371.0088
_POINT = re.compile(r"^\s*(-?\d{1,3}(?:\.\d+)?)\s*[,;\s]\s*(-?\d{1,3}(?:\.\d+)?)\s*$")

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
    match = _POINT.match(text)
    if not match:
        return None
    lat, lon = float(match.group(1)), float(match.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon
