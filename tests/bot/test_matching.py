"""bot/deliveries/matching.py: what a typed place finds, and in which order (issue 17)."""

from __future__ import annotations

import pytest

from bot.deliveries.matching import MAX_QUERY_CHARS, Searchable, fold, one_edit_apart, query_words, rank

PLACES = [
    Searchable(301, "Grand Ave Plaza", "333 S Grand Ave", "Los Angeles", "California", "90071"),
    Searchable(302, "Bunker Hill Station", "400 S Grand Ave", "Los Angeles", "California", "90013"),
    Searchable(101, "Civic Center - McAllister St", "355 McAllister St", "San Francisco", "California", "94102"),
    Searchable(102, "Yerba Buena - Mission St", "801 Mission St", "San Francisco", "California", "94103"),
    Searchable(201, "Downtown Austin - Congress Ave", "600 Congress Ave", "Austin", "Texas", "78701"),
    Searchable(202, "South Congress - Elizabeth St", "1400 S Congress Ave", "Austin", "Texas", "78704"),
    Searchable(401, "Plaza de la Señora", "Avenida Peñón 12", "Ciudad de México", "CDMX", "06000"),
]


def ids(text: str) -> list[int]:
    return [m.id for m in rank(text, PLACES)]


def test_fold_drops_case_accents_and_punctuation() -> None:
    assert fold("  Peñón, AVENIDA—12 ") == "penon avenida 12"
    assert fold("CÍVIC céntér") == "civic center"


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [
        ("grand", "grand", True),
        ("grnd", "grand", True),  # a letter missing
        ("graand", "grand", True),  # one extra
        ("grane", "grand", True),  # one wrong
        ("gradn", "grand", True),  # two swapped
        ("gran", "grande", False),  # two apart
        ("gnard", "grand", False),  # not neighbours
    ],
)
def test_one_edit_apart(a: str, b: str, near: bool) -> None:
    assert one_edit_apart(a, b) is near
    assert one_edit_apart(b, a) is near


@pytest.mark.parametrize("typed", ["grand ave", "90071", "GRAND avenue plaza", "plaza grand", "Grnad Ave Plaza"])
def test_grand_ave_plaza_comes_first(typed: str) -> None:
    assert ids(typed)[0] == 301


def test_exact_zip_and_exact_name_outrank_a_street_match() -> None:
    assert ids("94103") == [102]
    assert ids("Bunker Hill Station")[0] == 302
    assert ids("grand") == [301, 302]  # in the name before only in the street


def test_a_city_lists_its_locations_by_name() -> None:
    assert ids("austin")[:2] == [201, 202]
    assert ids("san francisco") == [101, 102]


def test_every_word_must_be_found() -> None:
    assert ids("grand austin") == []
    assert ids("zzyzx") == []
    assert ids("") == []


def test_numbers_are_not_forgiven_a_slip() -> None:
    assert ids("90072") == []
    assert ids("9007") == [301]  # a ZIP typed in part still finds it


def test_spanish_words_and_accents() -> None:
    assert ids("avenida penon") == [401]
    assert ids("senora") == [401]
    assert ids("ciudad de mexico") == [401]


def test_a_flood_of_text_is_cut_before_any_work() -> None:
    typed = query_words("grand " * 10_000)
    assert len(typed) <= 8
    assert len(" ".join(typed)) <= MAX_QUERY_CHARS
