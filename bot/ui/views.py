"""What each screen looks like: text plus buttons, built from domain objects.

Handlers and jobs send these; nothing else composes Telegram markup. Callback data are short strings
`action:id:id` that any process can read (docs/design.md §8).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.deliveries import LocationOffer, NearbyResult, SizeOffer
from bot.keys import LinkKey, LockerKey
from bot.ui import format as fmt
from bot.ui import sizes as size_words
from bot.ui.texts import Safe, raw, t
from storage.models import Delivery, DeliveryState, IssuedKey, KeyKind

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None


@dataclass(frozen=True, slots=True)
class View:
    text: str
    markup: Markup = None


# callback data -------------------------------------------------------------------------------
# Self-describing strings, `action:arg:arg` (docs/design.md §8): any process can act on any button ever sent,
# with no cache. The handler's pattern says which args an action takes, so forged data matches none.

CALLBACK_SEP = ":"
MAX_CALLBACK_BYTES = 64  # Telegram's limit
_ARG = {int: r"-?\d{1,19}", str: r"[A-Za-z0-9_-]{1,32}"}


def data(action: str, *args: int | str) -> str:
    value = CALLBACK_SEP.join([action, *(str(a) for a in args)])
    if len(value.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {action}")
    return value


def action_is(action: str, *kinds: type[int] | type[str]) -> re.Pattern[str]:
    """A CallbackQueryHandler pattern: exactly this action with these kinds of argument."""
    parts = [re.escape(action), *(f"({_ARG[kind]})" for kind in kinds)]
    return re.compile("^" + re.escape(CALLBACK_SEP).join(parts) + "$")


def exact(value: str) -> re.Pattern[str]:
    """A pattern for callback data without arguments that varies (menu buttons)."""
    return re.compile("^" + re.escape(value) + "$")


def callback_args(value: str | object) -> list[int | str]:
    """The arguments of callback data that matched its action's pattern (ints where digits)."""
    if not isinstance(value, str):
        return []
    parts = value.split(CALLBACK_SEP)[1:]
    return [int(p) if p.lstrip("-").isdigit() else p for p in parts]


def button(label: str, action: str, *args: int | str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=data(action, *args))


def keyboard(*rows: Sequence[InlineKeyboardButton]) -> InlineKeyboardMarkup | None:
    rows = tuple(row for row in rows if row)
    return InlineKeyboardMarkup(rows) if rows else None


# start / menu --------------------------------------------------------------------------------


def main_menu(lang: str | None) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [button(raw("menu.dropoff", lang), "menu", "dropoff")],
            [button(raw("menu.my", lang), "menu", "my"), button(raw("menu.help", lang), "menu", "help")],
        ]
    )


def welcome(name: str, lang: str | None) -> View:
    """/start: the greeting and the menu in one message (one Bot API call, one notification)."""
    return View(t("start.greeting", lang, name=name) + "\n\n" + t("start.menu", lang), main_menu(lang))


def location_request(lang: str | None) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [[KeyboardButton(raw("dropoff.share_button", lang), request_location=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


# drop-off ------------------------------------------------------------------------------------


def nearby(result: NearbyResult, lang: str | None) -> View:
    lines = [t("dropoff.nearby_header", lang, radius=fmt.number(result.radius_km, "g", lang))]
    buttons = []
    for index, place in enumerate(result.places, start=1):
        loc = place.location
        free = loc.availability.free_by_type() if loc.availability else []
        lines.append(
            t(
                "dropoff.nearby_item",
                lang,
                index=index,
                name=loc.name,
                distance=fmt.distance(place.distance_km, lang),
                address=loc.address,
                sizes=fmt.sizes((size_words.name(f.type.name, lang), f.counts.available) for f in free),
            )
        )
        label = raw("dropoff.location_button", lang, name=loc.name, distance=fmt.distance(place.distance_km, lang))
        buttons.append([button(label, "loc", loc.id)])
    lines.append(t("dropoff.nearby_footer", lang))
    return View("\n\n".join(lines), keyboard(*buttons))


def nothing_nearby(result: NearbyResult, lang: str | None) -> View:
    radius = fmt.number(result.radius_km, "g", lang)
    return View(t("dropoff.nothing_nearby", lang, radius=radius), location_request(lang))


def size_buttons(location_id: int, sizes: Sequence[SizeOffer], lang: str | None) -> list[list[InlineKeyboardButton]]:
    return [
        [
            button(
                raw("dropoff.size_button", lang, size=size_label(s, lang), free=s.free), "size", location_id, s.type.id
            )
        ]
        for s in sizes
    ]


def size_label(offer: SizeOffer, lang: str | None) -> str:
    """A size as a button says it: its name and the dimensions Harbor gives (issue 17)."""
    return size_words.short(offer.type.name, offer.type.description, lang)


def size_lines(sizes: Sequence[SizeOffer], lang: str | None) -> str:
    """What each free size holds, one line each, above the buttons (issue 17)."""
    return "\n".join(
        t("dropoff.size_line", lang, size=size_words.long(s.type.name, s.type.description, lang)) for s in sizes
    )


def choose_size(offer: LocationOffer, lang: str | None) -> View:
    loc = offer.location
    back = [button(raw("dropoff.back_button", lang), "back")]
    if not offer.sizes:
        return View(t("dropoff.no_sizes", lang, name=loc.name), keyboard(back))
    text = t("dropoff.choose_size", lang, name=loc.name, address=loc.address) + "\n" + size_lines(offer.sizes, lang)
    return View(text, keyboard(*size_buttons(loc.id, offer.sizes, lang), back))


def size_ran_out(offer: LocationOffer, size_name: str, lang: str | None) -> View:
    loc = offer.location
    text = t("dropoff.size_ran_out", lang, size=size_words.name(size_name, lang), name=loc.name)
    if offer.sizes:
        text += "\n" + t("dropoff.sizes_still_free", lang)
    back = [button(raw("dropoff.back_button", lang), "back")]
    return View(text, keyboard(*size_buttons(loc.id, offer.sizes, lang), back))


def delivery_actions(delivery: Delivery, lang: str | None) -> InlineKeyboardMarkup | None:
    """The buttons a delivery's status message carries in each state."""
    did = delivery.id or 0
    if delivery.state is DeliveryState.RESERVED:
        return keyboard(
            [button(raw("dropoff.key_button", lang), "key", did)],
            [button(raw("dropoff.cancel_button", lang), "cancel", did)],
        )
    if delivery.state is DeliveryState.AWAITING_DROPOFF:
        return keyboard(
            [button(raw("dropoff.new_key_button", lang), "key", did)],
            [button(raw("fit.button", lang), "fit", did)],
            [button(raw("dropoff.cancel_button", lang), "cancel", did)],
        )
    return None


def reserved(delivery: Delivery, lang: str | None, *, now: datetime | None = None) -> View:
    assert delivery.reserved_until is not None
    text = t(
        "dropoff.reserved",
        lang,
        locker=delivery.locker_name,
        size=size_words.name(delivery.size_name, lang),
        name=delivery.location_name,
        address=delivery.address,
        until=fmt.local_time(delivery.reserved_until, delivery.timezone, now=now, lang=lang),
    )
    return View(text + "\n\n" + held_size(delivery, lang), delivery_actions(delivery, lang))


def held_size(delivery: Delivery, lang: str | None) -> str:
    """A line for the hold message: the size and what it holds, as Harbor describes it (issue 17)."""
    return t("dropoff.held_size", lang, size=size_words.long(delivery.size_name, delivery.size_description, lang))


def reserved_with_place(delivery: Delivery, lang: str | None) -> View:
    """The reservation, with a way to the locker: one message where a venue and a text said it in two."""
    view = reserved(delivery, lang)
    rows: list[Sequence[InlineKeyboardButton]] = (
        [*view.markup.inline_keyboard] if isinstance(view.markup, InlineKeyboardMarkup) else []
    )
    if delivery.lat is not None and delivery.lon is not None:
        url = f"https://www.google.com/maps/dir/?api=1&destination={delivery.lat:.6f},{delivery.lon:.6f}"
        rows.append([InlineKeyboardButton(raw("dropoff.directions_button", lang), url=url)])
    return View(view.text, keyboard(*rows))


def already_open(delivery: Delivery, lang: str | None) -> View:
    did = delivery.id or 0
    text = t(
        "dropoff.already_open",
        lang,
        locker=delivery.locker_name or "?",
        size=size_words.name(delivery.size_name, lang),
        name=delivery.location_name,
        state=Safe(state_label(delivery, lang)),
    )
    return View(
        text,
        keyboard(
            [button(raw("dropoff.resume_button", lang), "resume", did)],
            [button(raw("dropoff.start_over_button", lang), "restart", did)],
        ),
    )


def status(delivery: Delivery, lang: str | None) -> View:
    """The current state of a delivery, as a message with the actions that make sense now."""
    if delivery.state is DeliveryState.RESERVED and delivery.reserved_until is not None:
        return reserved(delivery, lang)
    return View(my_item(delivery, lang), delivery_actions(delivery, lang))


def hold_expired(delivery: Delivery, lang: str | None) -> View:
    return View(t("dropoff.hold_expired", lang, locker=delivery.locker_name, name=delivery.location_name))


def cancelled(delivery: Delivery, lang: str | None) -> View:
    return View(t("dropoff.cancelled", lang, locker=delivery.locker_name, name=delivery.location_name))


def locker_lost(delivery: Delivery, lang: str | None) -> View:
    return View(t("dropoff.locker_lost", lang, locker=delivery.locker_name, name=delivery.location_name))


# keys ----------------------------------------------------------------------------------------


def key_caption(key: LockerKey | LinkKey, delivery: Delivery, lang: str | None) -> str:
    """Where, which locker and until when; a Locker Open link's caption says to tap the link instead."""
    kind = "dropoff" if key.kind == KeyKind.DROPOFF.value else "pickup"
    name = f"key.link_{kind}_caption" if isinstance(key, LinkKey) else f"key.{kind}_caption"
    if isinstance(key, LinkKey) and kind == "pickup":
        name = "key.link_pickup_caption_live"  # a pick-up request has no end but its use (docs/harbor-api.md §14)
    return t(
        name,
        lang,
        locker=delivery.locker_name,
        size=size_words.name(delivery.size_name, lang),
        name=delivery.location_name,
        address=delivery.address,
        until=fmt.local_time(key.expires, delivery.timezone, lang=lang),
    )


def key_expired(record: IssuedKey, delivery: Delivery, renewable: bool, lang: str | None) -> View:
    kind = raw(f"key.kind.{record.kind.value}", lang)
    if not renewable:
        return View(t("key.expired_closed", lang, kind=kind, locker=delivery.locker_name))
    # A Locker Open link Harbor has not called spent may still open the locker: say so, not "expired".
    possibly_live = record.sealed_link is not None and record.link_spent_at is None
    text = t(
        "key.link_expired_live" if possibly_live else "key.expired",
        lang,
        kind=kind,
        locker=delivery.locker_name,
        name=delivery.location_name,
    )
    action = "key" if record.kind is KeyKind.DROPOFF else "pkey"
    label = raw("dropoff.new_key_button" if record.kind is KeyKind.DROPOFF else "pickup.new_key_button", lang)
    return View(text, keyboard([button(label, action, delivery.id or 0)]))


# /my -----------------------------------------------------------------------------------------


def state_label(delivery: Delivery, lang: str | None) -> str:
    until = fmt.local_time(delivery.reserved_until, delivery.timezone, lang=lang) if delivery.reserved_until else ""
    return t(f"state.{delivery.state.value}", lang, until=until)


def my_item(delivery: Delivery, lang: str | None, *, finished: bool = False) -> str:
    """One delivery in /my; a finished one marked as such."""
    return t(
        "my.finished_item" if finished else "my.item",
        lang,
        id=delivery.id,
        name=delivery.location_name,
        locker=delivery.locker_name or "?",
        size=size_words.name(delivery.size_name, lang),
        state=Safe(state_label(delivery, lang)),
    )


def finished_list(deliveries: Sequence[Delivery], lang: str | None) -> View:
    """/my's recently finished deliveries, marked as finished (issue 17)."""
    lines = [t("my.finished_header", lang)]
    lines += [my_item(delivery, lang, finished=True) for delivery in deliveries]
    return View("\n".join(lines))


def harbor_down(lang: str | None, retry: InlineKeyboardButton | None = None) -> View:
    return View(t("error.harbor_down", lang), keyboard([retry] if retry else []))


def retry_button(lang: str | None, action: str, *args: int | str) -> InlineKeyboardButton:
    return button(raw("error.retry_button", lang), action, *args)
