"""bot.keys: the JSON a QR code carries (docs/design.md §4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.keys import LockerKey

PAYLOAD = "a1b2c3d4" * 8
PAYLOAD_AUTH = "0f1e2d3c" * 8
SDK_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzY29wZSI6InRvd2VyX2FjY2VzcyJ9.c2lnbmF0dXJl"
EXPIRES = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def make_key(**changes: object) -> LockerKey:
    fields: dict[str, object] = {
        "kind": "dropoff",
        "env": "sandbox",
        "tower_id": "0100000000000014",
        "locker_id": 363,
        "locker_name": "57",
        "payload": PAYLOAD,
        "payload_auth": PAYLOAD_AUTH,
        "expires": EXPIRES,
        "sdk_token": SDK_TOKEN,
    }
    fields.update(changes)
    return LockerKey(**fields)  # type: ignore[arg-type]


def valid_dict() -> dict[str, object]:
    return json.loads(make_key().to_json())


# --- to_json -------------------------------------------------------------------------------------


def test_to_json_is_exactly_the_documented_form() -> None:
    assert make_key().to_json() == (
        '{"v":1,"kind":"dropoff","env":"sandbox","tower_id":"0100000000000014","locker_id":363,'
        f'"locker_name":"57","payload":"{PAYLOAD}","payload_auth":"{PAYLOAD_AUTH}",'
        f'"expires":"2026-11-26T10:00:00Z","sdk_token":"{SDK_TOKEN}"}}'
    )


def test_to_json_key_order() -> None:
    assert list(json.loads(make_key().to_json())) == [
        "v", "kind", "env", "tower_id", "locker_id", "locker_name",
        "payload", "payload_auth", "expires", "sdk_token",
    ]  # fmt: skip


def test_sdk_token_key_is_omitted_when_none() -> None:
    text = make_key(sdk_token=None).to_json()
    assert "sdk_token" not in text
    assert text.endswith('"expires":"2026-11-26T10:00:00Z"}')


def test_no_spaces_and_ascii_only() -> None:
    text = make_key(locker_name="Schließfach 5 — Ost").to_json()
    assert " " not in text.replace("Schlie\\u00dffach 5 \\u2014 Ost", "")
    assert text.isascii()
    assert LockerKey.from_json(text).locker_name == "Schließfach 5 — Ost"


@pytest.mark.parametrize(
    ("expires", "expected"),
    [
        (datetime(2026, 11, 26, 10, 0, tzinfo=UTC), "2026-11-26T10:00:00Z"),
        # another offset is converted to UTC
        (datetime(2026, 11, 26, 12, 30, 5, tzinfo=timezone(timedelta(hours=2))), "2026-11-26T10:30:05Z"),
        # sub-second precision is dropped (rounded down: a key never outlives its token)
        (datetime(2026, 11, 26, 10, 0, 59, 999_999, tzinfo=UTC), "2026-11-26T10:00:59Z"),
    ],
)
def test_expires_is_utc_z_whole_seconds(expires: datetime, expected: str) -> None:
    key = make_key(expires=expires)
    assert json.loads(key.to_json())["expires"] == expected
    assert key.expires.tzinfo is UTC
    assert key.expires.microsecond == 0


def test_expires_in_zoneinfo_is_normalised() -> None:
    zoneinfo = pytest.importorskip("zoneinfo")
    berlin = datetime(2026, 7, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin"))
    assert json.loads(make_key(expires=berlin).to_json())["expires"] == "2026-07-01T10:00:00Z"


# --- round trip ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        make_key(),
        make_key(sdk_token=None),
        make_key(kind="pickup", env="production", tower_id="10000000000000AB", locker_id=0),
        make_key(locker_name="", payload="00", payload_auth="FF"),
    ],
    ids=["full", "no-sdk-token", "pickup-production", "minimal"],
)
def test_round_trip(key: LockerKey) -> None:
    text = key.to_json()
    again = LockerKey.from_json(text)
    assert again == key
    assert again.to_json() == text


def test_from_json_accepts_any_field_order_and_white_space() -> None:
    data = valid_dict()
    text = json.dumps(dict(reversed(list(data.items()))), indent=2)
    assert LockerKey.from_json(text) == make_key()
    assert LockerKey.from_json(text.encode()) == make_key()


# --- repr ----------------------------------------------------------------------------------------


def test_repr_hides_secrets() -> None:
    key = make_key()
    for text in (repr(key), str(key), f"{key}", f"{key!r}", repr([key])):
        assert PAYLOAD not in text
        assert PAYLOAD_AUTH not in text
        assert SDK_TOKEN not in text
        assert "0100000000000014" in text
        assert "363" in text
        assert "2026-11-26T10:00:00Z" in text
    assert "sdk_token=<set>" in repr(key)
    assert "sdk_token=None" in repr(make_key(sdk_token=None))


def test_is_frozen() -> None:
    key = make_key()
    with pytest.raises(AttributeError):
        key.payload = "00"  # type: ignore[misc]


# --- from_json rejections ------------------------------------------------------------------------


def _reject(data: object, match: str) -> None:
    text = data if isinstance(data, str) else json.dumps(data)
    with pytest.raises(ValueError, match=match):
        LockerKey.from_json(text)


def _with(**changes: object) -> dict[str, object]:
    data = valid_dict()
    data.update(changes)
    return data


def _without(name: str) -> dict[str, object]:
    data = valid_dict()
    del data[name]
    return data


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("", "must be JSON"),
        ("{not json", "must be JSON"),
        ("[1, 2]", "JSON object"),
        ('"a string"', "JSON object"),
        (_with(v=2), "version 2"),
        (_with(v=0), "version 0"),
        (_with(v="1"), "version '1'"),
        (_with(v=1.0), "version 1.0"),
        (_with(v=True), "version True"),
        (_without("v"), "version None"),
        (_with(kind="delivery"), "kind must be one of dropoff, pickup"),
        (_with(kind="DROPOFF"), "kind must be one of"),
        (_with(env="development"), "env must be one of sandbox, production"),
        (_with(env=None), "env must be a string"),
        (_with(tower_id="01000000000000"), "tower_id must be 16 hexadecimal digits"),
        (_with(tower_id="010000000000001G"), "tower_id must be 16 hexadecimal digits"),
        (_with(tower_id=100000000000014), "tower_id must be a string"),
        (_with(locker_id="363"), "locker_id must be a non-negative integer"),
        (_with(locker_id=363.0), "locker_id must be a non-negative integer"),
        (_with(locker_id=True), "locker_id must be a non-negative integer"),
        (_with(locker_id=-1), "locker_id must be a non-negative integer"),
        (_with(locker_name=57), "locker_name must be a string"),
        (_with(payload=""), "payload must be a non-empty, even-length hexadecimal string"),
        (_with(payload="abc"), "payload must be a non-empty, even-length hexadecimal"),
        (_with(payload_auth="zz"), "payload_auth must be a non-empty, even-length hexadecimal"),
        (_with(sdk_token=None), "sdk_token must be omitted, not null"),
        (_with(sdk_token=""), "sdk_token must be a non-empty string"),
        (_with(sdk_token=42), "sdk_token must be a non-empty string"),
        (_with(expires="2026-11-26T10:00:00+00:00"), "expires must look like 2026-11-26T10:00:00Z"),
        (_with(expires="2026-11-26T10:00:00.5Z"), "expires must look like"),
        (_with(expires="2026-11-26 10:00:00Z"), "expires must look like"),
        (_with(expires=1795687200), "expires must be a string"),
        (_with(expires="2026-02-30T10:00:00Z"), "not a valid date and time"),
        (_with(extra="x"), "unknown field.*extra"),
        (_without("payload"), "missing field.*payload"),
        (_without("expires"), "missing field.*expires"),
        ('{"v":1,"v":1}', "'v' appears more than once"),
    ],
)
def test_from_json_rejects(data: object, match: str) -> None:
    _reject(data, match)


def test_rejection_messages_do_not_echo_secrets() -> None:
    bad = "ab" * 40 + "g"
    for field in ("payload", "payload_auth"):
        with pytest.raises(ValueError, match="hexadecimal") as info:
            LockerKey.from_json(json.dumps(_with(**{field: bad})))
        assert bad not in str(info.value)


# --- the constructor validates too ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"kind": "delivery"}, "kind must be one of"),
        ({"env": "simulator"}, "env must be one of"),
        ({"expires": datetime(2026, 11, 26, 10, 0)}, "timezone-aware"),
        ({"expires": "2026-11-26T10:00:00Z"}, "expires must be a datetime"),
        ({"payload": "xyz"}, "payload must be"),
    ],
)
def test_constructor_validates(changes: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_key(**changes)
