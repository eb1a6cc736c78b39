"""bot/geo.py: great-circle distances, search boxes, and coordinates typed by a person."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.geo import MAX_POINT_CHARS, box_around, distance_km, parse_point

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


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ("37.7, -122.4\n", (37.7, -122.4)),  # a pasted line keeps its newline
        ("\t37.7\t-122.4\t", (37.7, -122.4)),
        ("37.7 ;  -122.4", (37.7, -122.4)),
        ("37.7\u00a0-122.4", (37.7, -122.4)),  # a no-break space, as some keyboards insert
        ("٣٧.٧, -١٢٢.٤", (37.7, -122.4)),  # Arabic-Indic digits, which float() reads as well
    ],
)
def test_parse_point_accepts_the_other_forms_the_old_pattern_did(text, point) -> None:
    assert parse_point(text) == point


@pytest.mark.parametrize("text", ["37.7 , ; -122.4", "37.7,,-122.4", "37.7 - 122.4", "37. 7, 1", ".5, 1", "+37.7, 1"])
def test_parse_point_rejects_doubled_or_odd_separators(text) -> None:
    assert parse_point(text) is None


def test_parse_point_rejects_text_longer_than_any_typed_point() -> None:
    point = "37.7793, -122.4193"
    assert parse_point(point + " " * 40) == (37.7793, -122.4193)  # padding is stripped before measuring
    assert parse_point("37." + "1" * MAX_POINT_CHARS + ", -122.4") is None  # a valid shape, but absurd


# Shapes that made the old pattern backtrack over every split of a long run: a number, a long run of
# separators, then something that is not a number.
_HOSTILE_SHAPES: list[Callable[[int], str]] = [
    lambda n: " " * n,
    lambda n: "1" + " " * n + "x",
    lambda n: "1" + " " * n + "1x",
    lambda n: "1" * n,
    lambda n: "1," * (n // 2),
    lambda n: "1;" * (n // 2),
    lambda n: "1 " * (n // 2) + "x",
    lambda n: "1." + "1" * n + " x",
    lambda n: "-" * n,
    lambda n: "\t" * n + "1",
]


@pytest.mark.parametrize("size", [4 * 1024, 1024 * 1024])
@pytest.mark.parametrize("shape", range(len(_HOSTILE_SHAPES)))
def test_parse_point_turns_away_long_hostile_text_fast(shape, size) -> None:
    text = _HOSTILE_SHAPES[shape](size)
    started = time.process_time()
    for _ in range(1000):
        assert parse_point(text) is None
    # Linear work on these inputs takes microseconds per call; the old quadratic pattern needed about
    # 0.15 s for ONE 4 KB text of the second shape, i.e. minutes for a thousand, so the bound is loose.
    assert time.process_time() - started < 0.5


@pytest.mark.parametrize("shape", range(len(_HOSTILE_SHAPES)))
def test_parse_point_is_fast_on_hostile_text_just_under_the_length_limit(shape) -> None:
    # Past the length checks the pattern itself must still be linear.
    text = _HOSTILE_SHAPES[shape](MAX_POINT_CHARS)[:MAX_POINT_CHARS]
    started = time.process_time()
    for _ in range(1000):
        parse_point(text)
    assert time.process_time() - started < 0.5


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_parse_point_never_raises_on_any_text(text) -> None:
    point = parse_point(text)
    if point is not None:
        lat, lon = point
        assert -90 <= lat <= 90
        assert -180 <= lon <= 180


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(min_value=-90, max_value=90, allow_nan=False),
    lon=st.floats(min_value=-180, max_value=180, allow_nan=False),
    places=st.integers(min_value=0, max_value=8),
    separator=st.sampled_from([",", ", ", " , ", ";", "; ", " ", "   ", "\t"]),
    padding=st.sampled_from(["", " ", "  ", "\n"]),
)
def test_parse_point_reads_back_a_formatted_point(lat, lon, places, separator, padding) -> None:
    typed_lat, typed_lon = f"{lat:.{places}f}", f"{lon:.{places}f}"

    assert parse_point(f"{padding}{typed_lat}{separator}{typed_lon}{padding}") == (float(typed_lat), float(typed_lon))
