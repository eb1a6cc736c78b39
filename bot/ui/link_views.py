"""Screens of Locker Open links (KEY_MODE=link) and of "It didn't fit", and the page /harbor/return shows."""

from __future__ import annotations

import html
from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.deliveries import LocationOffer
from bot.keys import LinkKey
from bot.ui import format as fmt
from bot.ui import handover_views as hv
from bot.ui import sizes as size_words
from bot.ui import views
from bot.ui.texts import raw, t
from bot.ui.views import View, button, keyboard
from storage.models import Delivery


def link_key_actions(key: LinkKey, delivery: Delivery, lang: str | None) -> InlineKeyboardMarkup | None:
    """The link as a button that opens it on this phone, above what the delivery allows now."""
    rows = [[InlineKeyboardButton(raw("key.open_button", lang, locker=key.locker_name), url=key.url)]]
    actions = views.delivery_actions(delivery, lang) if key.kind == "dropoff" else None
    if actions is not None:
        rows.extend(list(row) for row in actions.inline_keyboard)
    return keyboard(*rows)


def link_held(delivery: Delivery, until: datetime, lang: str | None) -> View:
    """The size tap's answer in link mode: the hold Harbor gave us (its link follows), and the way there."""
    text = t(
        "dropoff.link_held",
        lang,
        locker=delivery.locker_name,
        size=size_words.name(delivery.size_name, lang),
        name=delivery.location_name,
        address=delivery.address,
        until=fmt.local_time(until, delivery.timezone, lang=lang),
    )
    text += "\n\n" + views.held_size(delivery, lang)
    actions = views.delivery_actions(delivery, lang)
    rows = [list(row) for row in actions.inline_keyboard] if actions else []
    return View(text, keyboard(*rows, hv.directions(delivery, lang)))


# "It didn't fit" ---------------------------------------------------------------------------


def fit_confirm(delivery: Delivery, lang: str | None) -> View:
    did = delivery.id or 0
    return View(
        t("fit.confirm", lang, locker=delivery.locker_name),
        keyboard(
            [button(raw("fit.confirm_yes", lang), "fitok", did)],
            [button(raw("fit.confirm_no", lang), "fitno", did)],
        ),
    )


def fit_offer(delivery: Delivery, offer: LocationOffer, confirmed: bool, lang: str | None, *, text: str) -> View:
    """What is still free at the location (one tap each), or a search nearby."""
    did = delivery.id or 0
    rows = [
        [
            button(
                raw("fit.size_button", lang, size=views.size_label(s, lang), free=s.free),
                "fitsize",
                did,
                s.type.id,
                int(confirmed),
            )
        ]
        for s in offer.sizes
    ]
    if offer.sizes:
        text += "\n" + t("dropoff.sizes_still_free", lang)
    rows.append([button(raw("fit.nearby_button", lang), "fitnear", did)])
    rows.append([button(raw("fit.confirm_no", lang), "fitno", did)])
    return View(text, keyboard(*rows))


def no_bigger(delivery: Delivery, offer: LocationOffer, confirmed: bool, lang: str | None) -> View:
    text = t("fit.no_bigger", lang, name=delivery.location_name, locker=delivery.locker_name)
    return fit_offer(delivery, offer, confirmed, lang, text=text)


def no_locker_for_link(delivery: Delivery, offer: LocationOffer, lang: str | None) -> View:
    text = t("link.no_locker", lang, size=delivery.size_name, name=delivery.location_name)
    return fit_offer(delivery, offer, False, lang, text=text)


def refitted(
    old_locker: str, old_size: str, delivery: Delivery, lang: str | None, *, old_link_live: bool = False
) -> View:
    text = t(
        "fit.moved_link_live" if old_link_live else "fit.moved",
        lang,
        old=old_locker,
        old_size=old_size,
        locker=delivery.locker_name,
        size=delivery.size_name,
        name=delivery.location_name,
    )
    return View(text)


# /harbor/return ----------------------------------------------------------------------------


def return_page(bot_username: str | None, lang: str | None = None) -> str:
    """A small page for the phone Locker Open sends back: the news itself comes in Telegram."""
    back = ""
    if bot_username:
        url = html.escape(f"https://t.me/{bot_username}")
        back = f'<p><a href="{url}">{html.escape(raw("web.return_button", lang))}</a></p>'
    title = html.escape(raw("web.return_title", lang))
    body = html.escape(raw("web.return_page", lang))
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title></head><body><p>{body}</p>{back}</body></html>"
    )
