"""A catalogue entry whose wording depends on a number: one text per CLDR plural category."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Plural:
    """Texts per plural category ("one", "few", "many", "other", ...) of the entry's language.

    `other` is required: CLDR's rules may name a category a catalogue does not spell out (Spanish has
    "many" for 1 000 000), and `other` is the correct wording there.
    """

    other: str
    one: str | None = None
    few: str | None = None
    many: str | None = None

    def forms(self) -> dict[str, str]:
        return {name: text for name in ("one", "few", "many", "other") if (text := getattr(self, name)) is not None}

    def pick(self, category: str) -> str:
        return self.forms().get(category, self.other)

    def format(self, **values: object) -> str:
        """The `other` form filled in: for checks that only need a rendered text."""
        return self.other.format(**values)
