"""The catalogues, one module per language, and which language a person reads.

The effective language of a person is the one they chose with /language, else their Telegram
client's language (its primary subtag: "es-MX" reads Spanish), else English.
"""

from __future__ import annotations

from typing import Protocol

from bot.ui.locales.en import EN
from bot.ui.locales.es import ES
from bot.ui.locales.plural import Plural

DEFAULT_LANGUAGE = "en"
SUPPORTED: tuple[str, ...] = ("en", "es")
CATALOGUES: dict[str, dict[str, str | Plural]] = {"en": EN, "es": ES}
# The name of each language in itself: what the /language buttons show, whatever the current language.
NATIVE_NAMES: dict[str, str] = {"en": "English", "es": "Español"}

__all__ = [
    "CATALOGUES", "DEFAULT_LANGUAGE", "EN", "ES", "NATIVE_NAMES", "SUPPORTED", "Plural", "of", "resolve", "supported",
]  # fmt: skip


class HasLanguages(Protocol):
    """A stored person (storage.models.User): what they chose, and what their Telegram client said."""

    chosen_language: str | None
    language: str | None


def supported(code: str | None) -> str | None:
    """The supported language a code names ("es-MX", "ES", "es_419" -> "es"), or None."""
    if not code:
        return None
    primary = code.replace("_", "-").split("-")[0].lower()
    return primary if primary in CATALOGUES else None


def resolve(*codes: str | None) -> str:
    """The first of `codes` (most wanted first: chosen, then Telegram's) that is supported, else English."""
    for code in codes:
        if found := supported(code):
            return found
    return DEFAULT_LANGUAGE


def of(user: HasLanguages | None) -> str:
    """The language to write to a stored person in: for notices, timers and messages to others, which
    are read by that person, not by whoever caused them."""
    return resolve(user.chosen_language, user.language) if user is not None else DEFAULT_LANGUAGE
