"""What the delivery services take and return, and the problems they raise. No Telegram, no SQL."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypedDict

from bot.config import Settings
from bot.deliveries import sealing
from bot.geo import Point
from bot.harbor.models import Location, Locker, LockerType
from bot.keys import LinkKey, LockerKey
from storage.models import Delivery, IssuedKey


@dataclass(frozen=True, slots=True)
class Policy:
    """The settings the services obey (a slice of bot.config.Settings)."""

    reservation_seconds: int = 300
    key_seconds: int = 300
    search_radius_km: float = 5.0
    max_radius_km: float = 50.0
    max_results: int = 5
    key_env: str = "sandbox"
    include_sdk_token: bool = True
    pickup_link_days: int = 7
    reminder_hours: float = 24.0
    key_mode: str = "sdk"  # bot.config.KeyMode: "sdk" or "link"
    webhook_url: str | None = None  # the public base of `web`, for Locker Open's returnUrl
    locker_open_url: str = "https://lockeropen.com"

    @property
    def link_mode(self) -> bool:
        return self.key_mode == "link"

    def return_url(self, delivery_id: int) -> str:
        """Where Locker Open sends the customer after an attempt; "" (no redirect) without a public URL.
        The delivery is in the path, signed (bot/deliveries/sealing.py): what Harbor appends to the
        query is not documented (§6.3), and a bare id would let anyone name any delivery."""
        if not self.webhook_url:
            return ""
        return f"{self.webhook_url}/harbor/return/{sealing.return_token(self.secret, delivery_id)}"

    admin_ids: frozenset[int] = frozenset()  # told when a locker may open with a link the bot no longer owns
    # Derived from the bot token and the Harbor client secret (sealing.derive_secret): signs return
    # URLs and seals kept Locker Open links.
    secret: bytes = field(default=b"", repr=False)

    pickup_key_seconds: int = 120
    dropoff_max_keys: int = 3
    dropoff_max_hold_seconds: int = 1800
    chat_state_retention_seconds: int = 3600

    def hold_ends_at(self, created_at: datetime) -> datetime:
        """The latest moment one reservation may keep its locker, however many keys lapse."""
        return created_at + timedelta(seconds=self.dropoff_max_hold_seconds)

    def key_duration(self, kind: str) -> int:
        """Seconds a key of this kind ("dropoff" or "pickup") lasts."""
        return self.pickup_key_seconds if kind == "pickup" else self.key_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            reservation_seconds=settings.reservation_seconds,
            key_seconds=settings.key_seconds,
            search_radius_km=settings.search_radius_km,
            key_env=settings.key_env,
            include_sdk_token=settings.key_include_sdk_token,
            pickup_link_days=settings.pickup_link_days,
            reminder_hours=settings.reminder_hours,
            key_mode=settings.key_mode.value,
            webhook_url=settings.webhook_url,
            locker_open_url=settings.locker_open_url,
            pickup_key_seconds=settings.pickup_key_seconds,
            dropoff_max_keys=settings.dropoff_max_keys,
            dropoff_max_hold_seconds=settings.dropoff_max_hold_seconds,
            chat_state_retention_seconds=settings.chat_state_retention_seconds,
            admin_ids=settings.admin_ids,
            secret=sealing.derive_secret(
                *(
                    s.get_secret_value() if s else None
                    for s in (settings.telegram_bot_token, settings.harbor_client_secret)
                )
            ),
        )


@dataclass(frozen=True, slots=True)
class Person:
    """Who is talking to the bot, as the front end knows them."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Nearby:
    location: Location
    distance_km: float


@dataclass(frozen=True, slots=True)
class NearbyResult:
    center: Point
    radius_km: float
    places: list[Nearby]


@dataclass(frozen=True, slots=True)
class SizeOffer:
    type: LockerType
    free: int


@dataclass(frozen=True, slots=True)
class LocationOffer:
    location: Location
    sizes: list[SizeOffer]


@dataclass(frozen=True, slots=True)
class IssuedKeyView:
    """A key just issued: the material for the QR (never stored) and the record that is."""

    key: LockerKey | LinkKey
    record: IssuedKey
    delivery: Delivery


@dataclass(frozen=True, slots=True)
class Closed:
    """A delivery that was closed (cancelled, expired, released) and the keys that died with it."""

    delivery: Delivery
    voided_keys: list[IssuedKey] = field(default_factory=list)


class ChangeKind(StrEnum):
    IN_LOCKER = "in_locker"
    COMPLETED = "completed"
    OPENED_WITHOUT_KEY = "opened_without_key"  # an item went from a locker nobody had a key for


@dataclass(frozen=True, slots=True)
class Change:
    """Something the locker watch saw."""

    kind: ChangeKind
    delivery: Delivery
    used_keys: list[IssuedKey]


class LinkIssuer(Protocol):
    """What the delivery service asks of Locker Open links (bot/deliveries/links.py) in KEY_MODE=link.

    A protocol, so that the service does not import the link code, which builds on the service.
    """

    async def reserve(self, user_id: int, location_id: int, size_id: int, chat_id: int) -> IssuedKeyView: ...

    async def renew_dropoff(self, delivery: Delivery, user_id: int, chat_id: int) -> IssuedKeyView: ...

    async def issue_pickup(self, delivery: Delivery, user_id: int, chat_id: int) -> IssuedKeyView: ...


class DeliveryProblem(Exception):
    """Something the user can act on; the handlers turn each subclass into a friendly message."""


class DeliveryNotFound(DeliveryProblem):
    """Unknown, or not this person's: both look the same from outside."""


class WrongState(DeliveryProblem):
    def __init__(self, delivery: Delivery) -> None:
        super().__init__(delivery.state)
        self.delivery = delivery


class AlreadyOpen(DeliveryProblem):
    def __init__(self, delivery: Delivery) -> None:
        super().__init__(delivery.id)
        self.delivery = delivery


class SizeRanOut(DeliveryProblem):
    def __init__(self, offer: LocationOffer, size_name: str) -> None:
        super().__init__(offer.location.id)
        self.offer = offer
        self.size_name = size_name


class LocationNotFound(DeliveryProblem):
    pass


class KeyStillValid(DeliveryProblem):
    def __init__(self, record: IssuedKey, delivery: Delivery) -> None:
        super().__init__(record.id)
        self.record = record
        self.delivery = delivery


class LockerLost(DeliveryProblem):
    """The locker went to someone else while the customer had no valid key; the delivery expired."""

    def __init__(self, delivery: Delivery) -> None:
        super().__init__(delivery.id)
        self.delivery = delivery


class HoldLimitReached(DeliveryProblem):
    """Too many drop-off keys, or too long since the reservation: the locker was given back."""

    def __init__(self, delivery: Delivery) -> None:
        super().__init__(delivery.id)
        self.delivery = delivery


class ItemAlreadyInside(DeliveryProblem):
    """Too late to cancel: the item is in the locker (announced to the sender through the outbox)."""

    def __init__(self, delivery: Delivery) -> None:
        super().__init__(delivery.id)
        self.delivery = delivery


class ServiceUnavailable(DeliveryProblem):
    """Harbor did not answer (or answered with an error we cannot act on); nothing was changed."""


class LockerStillInUse(DeliveryProblem):
    """Harbor chose, for a new link, a locker another open delivery holds; `delivery` is unchanged."""

    def __init__(self, delivery: Delivery, locker_name: str) -> None:
        super().__init__(delivery.id)
        self.delivery = delivery
        self.locker_name = locker_name


class LockerColumns(TypedDict):
    tower_id: str
    locker_id: int
    locker_name: str
    low_locker: bool


def locker_columns(locker: Locker) -> LockerColumns:
    """What a delivery records of the locker it holds (a reservation, a link request, a bigger size)."""
    return {
        "tower_id": locker.tower_id,
        "locker_id": locker.id,
        "locker_name": locker.name,
        "low_locker": locker.is_low_locker,
    }


class StatusColumns(TypedDict, total=False):
    status_chat_id: int
    status_message_id: int


def status_columns(status: tuple[int, int] | None) -> StatusColumns:
    """The delivery columns naming the message that shows its status, (chat id, message id); none for None."""
    if status is None:
        return {}
    chat_id, message_id = status
    return {"status_chat_id": chat_id, "status_message_id": message_id}


def client_info(delivery_id: int) -> str:
    """What Harbor stores with a token, so its webhooks and logs point back to the delivery."""
    return f"harbor-bot:delivery:{delivery_id}"


def delivery_of_client_info(value: str | None) -> int | None:
    """The delivery a Harbor webhook's `client_info` names, when it is one of ours."""
    # ASCII digits, a bounded number of them: `str.isdigit()` also accepts "²", which int() refuses,
    # and int() refuses more than 4300 digits; both came from outside.
    match = _CLIENT_INFO.fullmatch(value) if isinstance(value, str) else None
    return int(match[1]) if match else None


_CLIENT_INFO = re.compile(r"harbor-bot:delivery:([0-9]{1,18})")


def draft_row(user_id: int, location: Location, size_id: int, size_name: str, size_description: str | None) -> Delivery:
    """A sender's new delivery, before any locker is held."""
    return Delivery(
        sender_id=user_id,
        location_id=location.id,
        location_name=location.name,
        address=location.address,
        timezone=location.timezone,
        lat=location.lat,
        lon=location.lon,
        size_id=size_id,
        size_name=size_name,
        size_description=size_description,
    )
