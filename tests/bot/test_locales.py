"""bot/ui/locales: every language has every key with the same placeholders, plural forms its rules need,
and reads naturally in the formats of its locale (Babel)."""

from __future__ import annotations

from datetime import UTC, datetime
from string import Formatter

import pytest
from babel import Locale

from bot.ui import format as fmt
from bot.ui.locales import CATALOGUES, EN, SUPPORTED, Plural, of, resolve
from bot.ui.texts import placeholders, raw, t
from storage.models import User
from tests.bot.test_texts import CAPTION_LIMIT, MESSAGE_LIMIT, _html_keys, _TelegramHTML, realistic

OTHERS = [code for code in SUPPORTED if code != "en"]


def _names(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name}


@pytest.mark.parametrize("code", OTHERS)
def test_every_language_has_exactly_the_english_keys(code: str) -> None:
    catalogue = CATALOGUES[code]
    assert sorted(EN.keys() - catalogue.keys()) == [], "missing"
    assert sorted(catalogue.keys() - EN.keys()) == [], "not in English"


@pytest.mark.parametrize("code", OTHERS)
def test_every_message_takes_the_same_placeholders_in_every_language(code: str) -> None:
    pairs = {key: (placeholders(key), placeholders(key, code)) for key in EN}
    assert {key: pair for key, pair in pairs.items() if pair[0] != pair[1]} == {}


@pytest.mark.parametrize("code", SUPPORTED)
def test_plural_entries_cover_the_language_s_rules(code: str) -> None:
    """Plural in one language means plural in all; each form uses only names the `other` form has, and
    a language whose rules have a `one` spells it out (1 minute, not 1 minutes)."""
    rules = Locale.parse(code).plural_form.tags
    for key, entry in CATALOGUES[code].items():
        assert isinstance(entry, Plural) == isinstance(EN[key], Plural), key
        if isinstance(entry, Plural):
            assert "count" in _names(entry.other), key
            assert all(_names(form) <= _names(entry.other) for form in entry.forms().values()), key
            assert set(entry.forms()) - {"other"} <= rules, key
            assert "one" not in rules or entry.one is not None, key


def test_the_check_sees_a_missing_key_and_a_different_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CATALOGUES["es"], "start.menu", "¿Qué quieres hacer, {name}?")
    assert placeholders("start.menu", "es") != placeholders("start.menu")
    monkeypatch.delitem(CATALOGUES["es"], "start.menu")
    assert EN.keys() - CATALOGUES["es"].keys() == {"start.menu"}


@pytest.mark.parametrize("code", OTHERS)
@pytest.mark.parametrize("key", _html_keys())
def test_every_message_is_well_formed_telegram_html_within_the_limit(code: str, key: str) -> None:
    text = t(key, code, **realistic(key))
    assert len(text) <= (CAPTION_LIMIT if key.endswith("_caption") else MESSAGE_LIMIT)
    assert _TelegramHTML().check(text) == []


@pytest.mark.parametrize("code", OTHERS)
def test_command_descriptions_exist_in_every_language(code: str) -> None:
    assert all(1 <= len(raw(key, code)) <= 256 for key in EN if key.startswith("cmd."))


def test_the_effective_language() -> None:
    assert resolve("es-MX") == resolve("ES") == resolve("es_419") == "es"
    assert resolve(None, "es") == "es" and resolve("en", "es") == "en"  # the choice wins
    assert resolve("de") == resolve(None) == resolve("", None) == "en"
    assert resolve("de", "es-US") == "es"  # an unsupported choice (a removed language) falls through
    assert of(User(id=1, language="es", chosen_language="en")) == "en"
    assert of(User(id=1, language="es-MX")) == "es"
    assert of(None) == "en"


def test_plurals_follow_each_language_s_rules() -> None:
    assert t("admin.stats_median", "en", median="3 hours", count=1) == "3 hours (1 pickup)"
    assert t("admin.stats_median", "en", median="3 hours", count=2) == "3 hours (2 pickups)"
    assert t("admin.stats_median", "es", median="3 horas", count=1) == "3 horas (1 recogida)"
    assert t("admin.stats_median", "es", median="3 horas", count=0) == "3 horas (0 recogidas)"
    # Spanish CLDR has "many" (1 000 000): no such form in the catalogue, so `other` is used.
    assert t("admin.stats_median", "es", median="", count=1_000_000).endswith("(1000000 recogidas)")
    with pytest.raises(TypeError):
        t("admin.stats_median", "en", median="x")


def test_durations_distances_and_numbers_per_language() -> None:
    assert [fmt.duration(s, "es") for s in (1, 20, 60, 300, 86400)] == [
        "1 segundo", "20 segundos", "1 minuto", "5 minutos", "24 horas",
    ]  # fmt: skip
    assert fmt.duration(3600 * 2, "en") == "2 hours" and fmt.duration(1, "en") == "1 second"
    assert fmt.distance(1.25, "en") == "1.2 km" and fmt.distance(1.25, "es") == "1,2 km"
    assert fmt.distance(0.3, "es") == "300 m"
    assert fmt.number(12.5, "g", "es") == "12,5" and fmt.number(12.5, "g", "en") == "12.5"


def test_times_are_in_the_location_s_zone_with_the_language_s_month() -> None:
    when = datetime(2026, 3, 5, 22, 35, tzinfo=UTC)  # 14:35 in San Francisco
    earlier = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    zone = "America/Los_Angeles"
    assert fmt.local_time(when, zone, now=when, lang="es") == "14:35 PST"
    assert fmt.local_time(when, zone, now=earlier, lang="en") == "05 Mar 14:35 PST"
    assert fmt.local_time(when, zone, now=earlier, lang="es") == "5 mar 14:35 PST"
    assert fmt.local_time(when, "America/Chicago", now=earlier, lang="es") == "5 mar 16:35 CST"
