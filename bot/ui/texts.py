"""The catalogue of every user-facing string, keyed by message id, per language.

The texts live in bot/ui/locales/ (one module per language, English the reference); this module is
how the code reads them. Messages use Telegram HTML; values passed in are escaped by `t()`, so a
location called "A & B <C>" renders as written. A `Plural` entry picks its wording from the `count`
value by the language's CLDR plural rules (Babel).
"""

from __future__ import annotations

import functools
import html
from string import Formatter

from babel import Locale
from babel.plural import PluralRule

from bot.ui.locales import CATALOGUES, DEFAULT_LANGUAGE, EN, SUPPORTED, Plural, resolve

__all__ = ["CATALOGUES", "DEFAULT_LANGUAGE", "EN", "SUPPORTED", "Plural", "Safe", "placeholders", "raw", "t"]


def t(key: str, lang: str | None = None, /, **values: object) -> str:
    """The message `key` in `lang` (falling back to English), with `values` HTML-escaped."""
    return _template(key, lang, values).format(**{k: _escape(v) for k, v in values.items()})


def raw(key: str, lang: str | None = None, /, **values: object) -> str:
    """Like t(), for plain-text places (button labels, command descriptions): no escaping."""
    return _template(key, lang, values).format(**values)


def _template(key: str, lang: str | None, values: dict[str, object]) -> str:
    language = resolve(lang)
    entry = CATALOGUES[language].get(key) or EN[key]
    if isinstance(entry, Plural):
        count = values.get("count")
        if not isinstance(count, int | float):
            raise TypeError(f"{key} is a plural entry: it needs a numeric count, got {count!r}")
        return entry.pick(_plural_rule(language)(count))
    return entry


@functools.cache
def _plural_rule(language: str) -> PluralRule:
    return Locale.parse(language).plural_form


class Safe(str):
    """A value that is already HTML (built from other catalogue entries); t() leaves it as is."""


def _escape(value: object) -> str:
    if isinstance(value, Safe):
        return str(value)
    return html.escape(str(value), quote=False)


def placeholders(key: str, lang: str = DEFAULT_LANGUAGE) -> set[str]:
    """The names `key` takes in `lang` (every plural form's, together)."""
    entry = CATALOGUES[lang][key]
    texts = entry.forms().values() if isinstance(entry, Plural) else [entry]
    return {name for text in texts for _, name, _, _ in Formatter().parse(text) if name}
