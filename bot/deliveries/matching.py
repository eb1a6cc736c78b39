"""Typed text against Harbor's locations: name, street, city, state and ZIP (issue 17).

Pure functions, no I/O. Forgiving as people type: case, accents (Unicode NFKD, marks dropped), word
order, common street abbreviations ("avenue" = "ave") and one-letter slips (a letter missing, extra,
wrong or two swapped, in words of four letters or more). Every typed word must be found somewhere in
the location; the exact ZIP and the exact name rank first, then matches in the name, then the rest,
ties by name (so a city name lists that city's locations alphabetically).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# One spelling per street type, English and Spanish, so "Grand Avenue" finds "Grand Ave".
_SAME_WORD = {
    "avenue": "ave",
    "av": "ave",
    "avda": "ave",
    "avenida": "ave",
    "street": "st",
    "str": "st",
    "boulevard": "blvd",
    "road": "rd",
    "drive": "dr",
    "place": "pl",
    "square": "sq",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
}
_NOT_WORDS = re.compile(r"[^0-9a-z]+")
MIN_FUZZY_LENGTH = 4  # "st" -> "at" is not a typo worth forgiving
MAX_QUERY_CHARS = 120  # a search box, not an essay: longer text is cut before any work
MAX_QUERY_WORDS = 8

EXACT_ZIP, EXACT_NAME, IN_NAME = 100.0, 50.0, 10.0


@dataclass(frozen=True, slots=True)
class Searchable:
    """What a location offers to be found by (plain strings, as Harbor gives them)."""

    id: int
    name: str
    street: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""


@dataclass(frozen=True, slots=True)
class Match:
    id: int
    score: float
    name: str


def fold(text: str) -> str:
    """Lower case, no accents, words separated by one space: 'Peñón  Ave.' -> 'penon ave'."""
    decomposed = unicodedata.normalize("NFKD", text[: MAX_QUERY_CHARS * 4])
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(_NOT_WORDS.sub(" ", plain).split())


@functools.lru_cache(maxsize=8192)
def _words(text: str) -> tuple[str, ...]:
    # Harbor's names and addresses repeat from search to search: folded once per process (a pure cache).
    return tuple(_SAME_WORD.get(w, w) for w in fold(text).split())


def words(text: str) -> list[str]:
    return list(_words(text))


def query_words(text: str) -> list[str]:
    """The words of what a person typed (bounded: cost stays small whatever is sent)."""
    return words(text[:MAX_QUERY_CHARS])[:MAX_QUERY_WORDS]


def one_edit_apart(a: str, b: str) -> bool:
    """True when `a` becomes `b` by one letter inserted, deleted, replaced, or two neighbours swapped."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


def word_score(typed: str, candidates: Iterable[str]) -> float:
    """How well one typed word is found among a location's words: 1 exact, 0.9 a prefix, 0.7 a slip."""
    best = 0.0
    for word in candidates:
        if word == typed:
            return 1.0
        if len(typed) >= 3 and word.startswith(typed):
            best = max(best, 0.9)
        elif (
            best < 0.7
            and not typed.isdigit()
            and len(typed) >= MIN_FUZZY_LENGTH
            and len(word) >= MIN_FUZZY_LENGTH
            and one_edit_apart(typed, word)
        ):
            best = 0.7
    return best


def score(typed: Sequence[str], place: Searchable) -> float:
    """0 when some typed word is not found in the location; higher is a better match."""
    if not typed:
        return 0.0
    name = words(place.name)
    everything = [*name, *words(place.street), *words(place.city), *words(place.state), *words(place.zip)]
    scores = [word_score(w, everything) for w in typed]
    if min(scores) == 0:
        return 0.0
    total = sum(scores) / len(scores)
    joined = " ".join(typed)
    if place.zip and joined == fold(place.zip):
        total += EXACT_ZIP
    if joined == " ".join(name):
        total += EXACT_NAME
    if all(word_score(w, name) > 0 for w in typed):
        total += IN_NAME * sum(word_score(w, name) for w in typed) / len(typed)
    return total


def rank(text: str, places: Iterable[Searchable]) -> list[Match]:
    """Every location the text finds, best first, ties by name."""
    typed = query_words(text)
    found = [Match(p.id, s, p.name) for p in places if (s := score(typed, p)) > 0]
    return sorted(found, key=lambda m: (-m.score, fold(m.name), m.id))
