"""bot/geo.py: great-circle distances, search boxes, and coordinates typed by a person."""

from __future__ import annotations

import pytest

from bot.geo import box_around, distance_km, parse_point

SF = (37.7749, -122.4194)
AUSTIN = (30.2672, -97.7431)


@pytest.mark.parametrize(
    ("a", "b", "km", "tolerance"),
    [
        (SF, AUSTIN, 2_430, 30),  # about 1,500 miles as the crow flies
        ((51.5074, -0.1278), (48.8566, 2.3522), 344, 3),  # London - Paris
        ((0.0, 0.0), (1.0, 0.0), 111.2, 0.1),  # one degree of latitude
        ((0.0, 0.0), (0.0, 180.0), 20_015, 5),  # half way round the equator
        ((0.0, 179.5), (0.0, -179.5), 111.2, 0.1),  # across the date line, not round the world
    ],
)
def test_distance_km_matches_known_distances(a, b, km, tolerance) -> None:
    assert distance_km(a, b) == pytest.approx(km, abs=tolerance)
    assert distance_km(b, a) == pytest.approx(distance_km(a, b))


def test_distance_from_a_point_to_itself_is_zero() -> None:
    assert distance_km(SF, SF) == 0


@pytest.mark.parametrize("centre", [SF, AUSTIN, (0.0, 0.0), (-33.87, 151.21), (64.1, -21.9)])
@pytest.mark.parametrize("radius", [0.5, 5, 50])
def test_box_around_holds_the_centre_and_is_twice_the_radius_wide(centre, radius) -> None:
    (lat1, lon1), (lat2, lon2) = box_around(centre, radius)
    lat, lon = centre

    assert lat1 < lat < lat2
    assert lon1 < lon < lon2
    # Edge to edge through the centre: 2 x radius, north-south and east-west.
    assert distance_km((lat1, lon), (lat2, lon)) == pytest.approx(2 * radius, rel=0.01)
    assert distance_km((lat, lon1), (lat, lon2)) == pytest.approx(2 * radius, rel=0.01)


def test_box_around_stays_on_the_globe_near_a_pole() -> None:
    (lat1, lon1), (lat2, lon2) = box_around((89.99, 10.0), 50)

    assert -90 <= lat1 < 89.99 < lat2 <= 90
    assert -180 <= lon1 < 10.0 < lon2 <= 180


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ("37.7, -122.4", (37.7, -122.4)),
        ("37.7;-122.4", (37.7, -122.4)),
        ("37.7 -122.4", (37.7, -122.4)),
        ("37.7,-122.4", (37.7, -122.4)),
        ("  37.7793 ,  -122.4193 ", (37.7793, -122.4193)),
        ("-33.87 151.21", (-33.87, 151.21)),
        ("90, 180", (90.0, 180.0)),
        ("-90, -180", (-90.0, -180.0)),
        ("0 0", (0.0, 0.0)),
    ],
)
def test_parse_point_accepts_the_usual_ways_of_typing_coordinates(text, point) -> None:
    assert parse_point(text) == point


@pytest.mark.parametrize(
    "text",
    [
        "91, 0",
        "-90.5, 0",
        "0, 180.01",
        "0, -181",
        "37.7",
        "37.7, -122.4, 10",
        "hello",
        "",
        "   ",
        "37.7, west",
        "1e2, 5",
        "nan, nan",
        "37,7 -122,4",
        "1234, 5",
        "/dropoff",
    ],
)
def test_parse_point_rejects_out_of_range_values_and_junk(text) -> None:
    assert parse_point(text) is None
