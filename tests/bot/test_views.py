"""bot/ui/views.py and bot/ui/format.py: what each screen says and which buttons it carries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardMarkup

from bot.deliveries import LocationOffer, Nearby, NearbyResult, SizeOffer
from bot.harbor.models import Location, LockerType
from bot.keys import LockerKey
from bot.ui import format as fmt
from bot.ui import views
from storage.models import Delivery, DeliveryState, IssuedKey, KeyKind

S = DeliveryState
NOW = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # 09:00 PST, 11:00 CST
TYPES = [LockerType(id=i, name=n) for i, n in enumerate(("small", "medium", "large", "x-large"), start=1)]


def location(loc_id: int = 101, name: str = "Civic Center - McAllister St", free: int = 3) -> Location:
    return Location.from_api(
        {
            "id": loc_id,
            "name": name,
            "lat": 37.7805,
            "lon": -122.4177,
            "address1": "355 McAllister St",
            "city": "San Francisco",
            "state": "CA",
            "zip": "94102",
            "timezone": "America/Los_Angeles",
            "lockerAvailability": {"availableLockers": free * 4, "totalLockers": 40},
            "byType": [
                {"lockerType": t.model_dump(), "lockerAvailability": {"availableLockers": free, "totalLockers": 10}}
                for t in TYPES
            ],
        }
    )


def delivery(state: DeliveryState = S.RESERVED, **changes: object) -> Delivery:
    fields: dict[str, object] = {
        "id": 123456,
        "sender_id": 1001,
        "state": state,
        "location_id": 101,
        "location_name": "Civic Center - McAllister St",
        "address": "355 McAllister St, San Francisco, CA 94102",
        "timezone": "America/Los_Angeles",
        "tower_id": "010000000000001a",
        "locker_id": 1057,
        "locker_name": "57",
        "size_id": 4,
        "size_name": "x-large",
        "reserved_until": NOW + timedelta(minutes=5) if state is S.RESERVED else None,
    }
    fields.update(changes)
    return Delivery(**fields)  # type: ignore[arg-type]


def key(kind: str = "dropoff", expires: datetime = NOW + timedelta(minutes=5)) -> LockerKey:
    return LockerKey(
        kind=kind,  # type: ignore[arg-type]
        env="sandbox",
        tower_id="010000000000001a",
        locker_id=1057,
        locker_name="57",
        payload="ab" * 80,
        payload_auth="cd" * 64,
        expires=expires,
        sdk_token="token",
    )


def inline_buttons(markup: object) -> list[InlineKeyboardButton]:
    if markup is None or isinstance(markup, ReplyKeyboardMarkup):
        return []
    assert isinstance(markup, InlineKeyboardMarkup)
    return [b for row in markup.inline_keyboard for b in row]


def labels_and_data(markup: object) -> list[tuple[str, str]]:
    return [(b.text, b.callback_data) for b in inline_buttons(markup)]  # type: ignore[misc]


def every_view() -> list[tuple[str, object]]:
    """(name, markup) of every screen views.py builds, in every variant."""
    places = [Nearby(location(100 + i, f"Location number {i} with a rather long name"), 0.3 * i) for i in range(1, 6)]
    sizes = [SizeOffer(t, 9) for t in TYPES]
    shown: list[tuple[str, object]] = [
        ("main_menu", views.main_menu("en")),
        ("location_request", views.location_request("en")),
        ("nearby", views.nearby(NearbyResult((37.7, -122.4), 5, places), "en").markup),
        ("nothing_nearby", views.nothing_nearby(NearbyResult((37.7, -122.4), 50, []), "en").markup),
        ("choose_size", views.choose_size(LocationOffer(location(), sizes), "en").markup),
        ("choose_size none", views.choose_size(LocationOffer(location(), []), "en").markup),
        ("size_ran_out", views.size_ran_out(LocationOffer(location(), sizes[:2]), "large", "en").markup),
        ("already_open", views.already_open(delivery(), "en").markup),
        ("harbor_down", views.harbor_down("en", views.retry_button("en", "size", 101, 4)).markup),
    ]
    for state in S:
        shown.append((f"status {state.value}", views.status(delivery(state), "en").markup))
    for kind in KeyKind:
        record = IssuedKey(id=77, delivery_id=123456, kind=kind, user_id=1, chat_id=1, expires_at=NOW)
        shown.append(
            (f"key_expired {kind.value}", views.key_expired(record, delivery(S.AWAITING_DROPOFF), True, "en").markup)
        )
    return shown


# --- callback data ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "markup"), every_view(), ids=[name for name, _ in every_view()])
def test_callback_data_are_short_self_describing_strings(name: str, markup: object) -> None:
    for b in inline_buttons(markup):
        value = b.callback_data
        assert isinstance(value, str), (name, b.text)  # no arbitrary callback data: any process reads it
        assert len(value.encode()) <= 64  # Telegram's limit
        action, *args = value.split(":")
        assert re.fullmatch(r"[a-z_]+", action), value
        kinds = [int if isinstance(a, int) else str for a in views.callback_args(value)]
        assert views.action_is(action, *kinds).match(value), value
        assert [str(a) for a in views.callback_args(value)] == args


def test_action_is_matches_only_its_own_action_and_arguments() -> None:
    matches = views.action_is("key", int)
    assert matches.match("key:5")
    assert matches.match(views.data("key", 123456))
    assert not matches.match("pkey:5")
    assert not matches.match("key")
    assert not matches.match("key:5:6")
    assert not matches.match("key:abc")
    assert not matches.match("")
    assert views.action_is("size", int, int).match("size:101:4")
    assert views.action_is("menu", str).match("menu:dropoff")
    assert not views.action_is("menu", str).match("menu:a b")


def test_callback_args_reads_back_what_data_wrote() -> None:
    assert views.callback_args(views.data("size", 101, 4)) == [101, 4]
    assert views.callback_args(views.data("menu", "my")) == ["my"]
    assert views.callback_args("back") == []
    assert views.callback_args(["key", 5]) == []  # not ours (e.g. a stale button of the old format)


def test_data_refuses_more_than_64_bytes() -> None:
    with pytest.raises(ValueError, match="over 64 bytes"):
        views.data("x", "y" * 64)


def test_exact_matches_only_the_whole_value() -> None:
    assert views.exact("back").match("back")
    assert not views.exact("back").match("backs")
    assert not views.exact("menu:my").match("menu:my:1")


# --- screens -------------------------------------------------------------------------------------------


def test_the_reservation_names_locker_size_place_address_and_local_end_of_hold() -> None:
    text = views.reserved(delivery(), "en", now=NOW).text

    assert "<b>57</b>" in text
    assert "x-large" in text
    assert "Civic Center - McAllister St" in text
    assert "355 McAllister St, San Francisco, CA 94102" in text
    assert "09:05 PST" in text  # 17:05 UTC, in San Francisco


def test_the_reservation_ends_in_the_location_s_own_zone() -> None:
    in_austin = delivery(timezone="America/Chicago")
    summer = delivery(reserved_until=datetime(2026, 7, 1, 17, 5, tzinfo=UTC))

    assert "11:05 CST" in views.reserved(in_austin, "en", now=NOW).text
    assert "10:05 PDT" in views.reserved(summer, "en", now=datetime(2026, 7, 1, 17, 0, tzinfo=UTC)).text


def test_the_reservation_escapes_names_from_harbor() -> None:
    text = views.reserved(delivery(location_name="A & B <C>"), "en", now=NOW).text

    assert "A &amp; B &lt;C&gt;" in text


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (S.RESERVED, [("🔑 Get drop-off key", "key:123456"), ("✖ Cancel", "cancel:123456")]),
        (
            S.AWAITING_DROPOFF,
            [("🔑 New drop-off key", "key:123456"), ("📦 It didn't fit", "fit:123456"), ("✖ Cancel", "cancel:123456")],
        ),
        (S.DRAFT, []),
        (S.IN_LOCKER, []),
        (S.AWAITING_PICKUP, []),
        (S.COMPLETED, []),
        (S.CANCELLED, []),
        (S.EXPIRED, []),
        (S.RELEASED, []),
    ],
)
def test_a_delivery_s_buttons_follow_its_state(state: DeliveryState, expected: list) -> None:
    assert labels_and_data(views.delivery_actions(delivery(state), "en")) == expected


def test_the_status_of_a_reservation_shows_its_hold() -> None:
    view = views.status(delivery(S.RESERVED), "en")

    assert "Get drop-off key" in view.text
    assert labels_and_data(view.markup)[0][1] == "key:123456"


def test_the_status_of_a_later_state_names_it() -> None:
    assert "in the locker" in views.status(delivery(S.IN_LOCKER), "en").text
    assert "released by the service" in views.status(delivery(S.RELEASED), "en").text


def test_nearby_lists_each_place_with_a_button_in_order() -> None:
    places = [Nearby(location(102, "Yerba Buena"), 0.4), Nearby(location(101, "Civic Center"), 1.25)]

    view = views.nearby(NearbyResult((37.7, -122.4), 5, places), "en")

    assert "within 5 km" in view.text
    assert view.text.index("Yerba Buena") < view.text.index("Civic Center")
    assert "400 m" in view.text
    assert "small 3 · medium 3 · large 3 · x-large 3" in view.text
    assert labels_and_data(view.markup) == [
        ("📍 Yerba Buena (400 m)", "loc:102"),
        ("📍 Civic Center (1.2 km)", "loc:101"),
    ]


def test_five_nearby_places_fit_one_message() -> None:
    long_name = "Location with a very long name, as some shopping centres have - entrance B"
    places = [Nearby(location(100 + i, long_name), 1.0 * i) for i in range(1, 6)]

    assert len(views.nearby(NearbyResult((37.7, -122.4), 50, places), "en").text) <= 4096


def test_choose_size_offers_the_free_sizes_and_a_way_back() -> None:
    view = views.choose_size(LocationOffer(location(), [SizeOffer(TYPES[0], 12), SizeOffer(TYPES[2], 1)]), "en")

    assert labels_and_data(view.markup) == [
        ("small — 12 free", "size:101:1"),
        ("large — 1 free", "size:101:3"),
        ("⬅ Other locations", "back"),
    ]


def test_size_ran_out_names_the_size_and_offers_what_is_left() -> None:
    view = views.size_ran_out(LocationOffer(location(), [SizeOffer(TYPES[0], 6)]), "large", "en")

    assert "All large lockers" in view.text
    assert "Still free there" in view.text
    assert [d for _, d in labels_and_data(view.markup)] == ["size:101:1", "back"]


def test_the_key_caption_says_where_and_until_when_in_local_time() -> None:
    caption = views.key_caption(key("pickup"), delivery(S.AWAITING_PICKUP), "en")

    assert "Pickup key" in caption
    for part in ("57", "x-large", "Civic Center - McAllister St", "355 McAllister St", "09:05 PST"):
        assert part in caption
    assert len(caption) <= 1024


def test_an_expired_key_offers_a_new_one_only_when_renewable() -> None:
    record = IssuedKey(id=7, delivery_id=123456, kind=KeyKind.PICKUP, user_id=1, chat_id=1, expires_at=NOW)

    renewable = views.key_expired(record, delivery(S.IN_LOCKER), True, "en")
    final = views.key_expired(record, delivery(S.COMPLETED), False, "en")

    assert "pickup key" in renewable.text
    assert labels_and_data(renewable.markup) == [("🔑 New pickup key", "pkey:123456")]
    assert final.markup is None


# --- format ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", [None, "", "Mars/Olympus_Mons", "America", "../../etc/passwd", "UTC\x00"])
def test_local_time_falls_back_to_utc_for_a_missing_or_invalid_zone(zone: str | None) -> None:
    assert fmt.local_time(NOW + timedelta(minutes=5), zone, now=NOW) == "17:05 UTC"
    assert fmt.local_datetime(NOW, zone) == "2026-03-02 17:00 UTC"


def test_local_time_shows_the_date_when_it_is_another_day_where_the_locker_is() -> None:
    evening_now = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)  # 12:00 in San Francisco

    # Already 3 March in UTC, still 2 March in San Francisco: no date needed.
    assert fmt.local_time(datetime(2026, 3, 3, 7, 30, tzinfo=UTC), "America/Los_Angeles", now=evening_now) == (
        "23:30 PST"
    )
    assert fmt.local_time(datetime(2026, 3, 3, 9, 0, tzinfo=UTC), "America/Los_Angeles", now=evening_now) == (
        "03 Mar 01:00 PST"
    )


@pytest.mark.parametrize(
    ("km", "shown"), [(0.0, "0 m"), (0.4, "400 m"), (0.9994, "999 m"), (1.0, "1.0 km"), (12.345, "12.3 km")]
)
def test_distances_read_naturally(km: float, shown: str) -> None:
    assert fmt.distance(km) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(20, "20 seconds"), (60, "1 minute"), (300, "5 minutes"), (5400, "90 minutes"), (86400, "24 hours")],
)
def test_durations_read_naturally(seconds: float, shown: str) -> None:
    assert fmt.duration(seconds) == shown
