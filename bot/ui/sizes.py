"""Sizes people understand (issue 17): a locker type's name and what it holds, in the reader's language.

Harbor describes each locker type in English ("Up to 30 x 40 x 30 cm: shoe boxes, most parcels",
docs/harbor-api.md §3.2). The dimensions are always Harbor's, read from its text; the words come from
the catalogue when it knows the size (`size.name.<name>`, `size.use.<name>`), else Harbor's own text is
shown as it is.
"""

from __future__ import annotations

import re

from bot.ui.locales import EN, resolve
from bot.ui.texts import raw

_NUMBER = r"(\d{1,4}(?:[.,]\d{1,2})?)"
_DIMS = re.compile(rf"{_NUMBER}\s*[x×]\s*{_NUMBER}(?:\s*[x×]\s*{_NUMBER})?\s*(cm|mm|in)\b", re.IGNORECASE)
MAX_HARBOR_TEXT = 60  # Harbor's own text on a button, when the catalogue does not know the size


def dimensions(description: str | None, lang: str | None) -> str | None:
    """'up to 30 × 40 × 30 cm' / 'hasta 30 × 40 × 30 cm' from Harbor's text, or None if it has none."""
    if not description:
        return None
    found = _DIMS.search(description)
    if found is None:
        return None
    numbers = [n.replace(".", ",") if resolve(lang) == "es" else n for n in found.groups()[:3] if n]
    return raw("size.dims", lang, dims=" × ".join(numbers), unit=found.group(4).lower())


def _known(name: str) -> bool:
    return f"size.name.{name}" in EN


def name(size_name: str, lang: str | None) -> str:
    """The size's name in the reader's language ('mediano'), or Harbor's when the catalogue lacks it."""
    return raw(f"size.name.{size_name}", lang) if _known(size_name) else size_name


def short(size_name: str, description: str | None, lang: str | None) -> str:
    """For a button: 'medium · up to 30 × 40 × 30 cm'."""
    dims = dimensions(description, lang)
    if _known(size_name):
        return f"{name(size_name, lang)} · {dims}" if dims else name(size_name, lang)
    if description:
        text = description if len(description) <= MAX_HARBOR_TEXT else description[: MAX_HARBOR_TEXT - 1] + "…"
        return f"{size_name} · {text}"
    return size_name


def long(size_name: str, description: str | None, lang: str | None) -> str:
    """For a message: 'medium: up to 30 × 40 × 30 cm, shoe boxes, most parcels'."""
    if not _known(size_name):
        return f"{size_name}: {description}" if description else size_name
    dims = dimensions(description, lang)
    use = raw(f"size.use.{size_name}", lang) if f"size.use.{size_name}" in EN else None
    details = ", ".join(str(p) for p in (dims, use) if p)
    return f"{name(size_name, lang)}: {details}" if details else name(size_name, lang)
