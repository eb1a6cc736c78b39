"""Screens of the handover and the pickup: who collects, the waiting item, a delivery in /my."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.ui import format as fmt
from bot.ui import views
from bot.ui.texts import raw, t
from bot.ui.views import View, button, keyboard
from storage.models import AFTER_DROPOFF_STATES, Delivery


def handover_buttons(delivery: Delivery, language: str | None) -> InlineKeyboardMarkup | None:
    did = delivery.id or 0
    return keyboard(
        [button(raw("handover.link_button", language), "link", did)],
        [button(raw("handover.self_button", language), "self", did)],
        [button(raw("handover.courier_button", language), "couriers", did)],
    )


def in_locker_view(delivery: Delivery, language: str | None) -> View:
    text = t(
        "watch.in_locker", language, locker=delivery.locker_name, name=delivery.location_name, address=delivery.address
    )
    markup = handover_buttons(delivery, language)
    rows: list[Sequence[InlineKeyboardButton]] = [*markup.inline_keyboard] if markup else []
    # Right after the drop-off the sender may find the item did not fit after all (the door closed on an
    # empty locker, which Harbor then reads as occupied).
    rows.append([button(raw("fit.button", language), "fit", delivery.id or 0)])
    return View(text, keyboard(*rows))


def link_expired_view(delivery: Delivery, language: str | None) -> View:
    text = t("handover.link_expired", language, locker=delivery.locker_name, name=delivery.location_name)
    return View(text, handover_buttons(delivery, language))


def directions(delivery: Delivery, language: str | None) -> list[InlineKeyboardButton]:
    if delivery.lat is None or delivery.lon is None:
        return []
    url = f"https://www.google.com/maps/dir/?api=1&destination={delivery.lat:.6f},{delivery.lon:.6f}"
    return [InlineKeyboardButton(raw("dropoff.directions_button", language), url=url)]


def waiting_view(delivery: Delivery, language: str | None, stay_hours: float, *, intro: str = "") -> View:
    """What a collector reads: where the item is, until when, the key button and the way there."""
    text = t(
        "pickup.waiting",
        language,
        locker=delivery.locker_name,
        size=delivery.size_name,
        name=delivery.location_name,
        address=delivery.address,
        stay=fmt.duration(stay_hours * 3600, language),
    )
    key = [button(raw("pickup.key_button", language), "pkey", delivery.id or 0)]
    return View(f"{intro}\n{text}" if intro else text, keyboard(key, directions(delivery, language)))


def delivery_view_for(delivery: Delivery, user_id: int, language: str | None) -> View:
    """A delivery as one person sees it in /my: the actions that person can take now."""
    summary = views.my_item(delivery, language)
    if delivery.state in AFTER_DROPOFF_STATES:
        key = [button(raw("pickup.key_button", language), "pkey", delivery.id or 0)]
        if delivery.sender_id == user_id:
            markup = handover_buttons(delivery, language)
            rows = [*(markup.inline_keyboard if markup else ()), key]
            return View(summary, keyboard(*rows))
        return View(summary, keyboard(key))
    return View(summary, views.delivery_actions(delivery, language))
