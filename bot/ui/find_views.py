"""Screens of finding a locker from any device (issue 17): the /dropoff prompt with the places a person
used before, and the answer to a typed place."""

from __future__ import annotations

from collections.abc import Sequence

from bot.deliveries.directory import TypedResult
from bot.ui import format as fmt
from bot.ui import sizes
from bot.ui.texts import raw, t
from bot.ui.views import View, button, keyboard, location_request
from storage.repo_locations import UsedPlace


def ask_place(lang: str | None) -> View:
    """What can be shared or typed; "Share my location" stays the phone's one-tap default."""
    return View(t("dropoff.ask_place", lang), location_request(lang))


def used_places(places: Sequence[UsedPlace], lang: str | None) -> View | None:
    """One tap each to the sizes of a place used before (latest first), or nothing to show."""
    if not places:
        return None
    rows = [[button(raw("dropoff.place_button", lang, name=p.name), "loc", p.location_id)] for p in places]
    return View(t("dropoff.places_prompt", lang), keyboard(*rows))


def found(result: TypedResult, lang: str | None) -> View:
    """The locations a typed place found, with their free sizes, as a shared location shows them."""
    if not result.places:
        # With the phone's "share my location" back: nothing was found by what was typed.
        if result.full:
            names = ", ".join(result.full)
            return View(t("dropoff.all_full", lang, query=result.query, names=names), location_request(lang))
        return View(t("dropoff.nothing_found", lang, query=result.query), location_request(lang))
    lines = [t("dropoff.found_header", lang, query=result.query)]
    rows = []
    for index, loc in enumerate(result.places, start=1):
        free = loc.availability.free_by_type() if loc.availability else []
        described = fmt.sizes((sizes.name(f.type.name, lang), f.counts.available) for f in free)
        lines.append(t("dropoff.found_item", lang, index=index, name=loc.name, address=loc.address, sizes=described))
        rows.append([button(raw("dropoff.found_button", lang, name=loc.name), "loc", loc.id)])
    if result.full:
        lines.append(t("dropoff.found_full", lang, names=", ".join(result.full)))
    if result.more:
        lines.append(t("dropoff.found_more", lang, count=result.more))
    lines.append(t("dropoff.found_footer", lang))
    return View("\n\n".join(lines), keyboard(*rows))
