"""The delivery services (docs/design.md §3): finding a locker, holds and keys, the watch, deadlines.

No Telegram here and no SQL strings. The names handlers and tests use are re-exported.
"""

from bot.deliveries.model import (
    AlreadyOpen,
    Change,
    ChangeKind,
    Closed,
    DeliveryNotFound,
    DeliveryProblem,
    HoldLimitReached,
    IssuedKeyView,
    ItemAlreadyInside,
    KeyStillValid,
    LocationNotFound,
    LocationOffer,
    LockerLost,
    LockerStillInUse,
    Nearby,
    NearbyResult,
    Person,
    Policy,
    ServiceUnavailable,
    SizeOffer,
    SizeRanOut,
    WrongState,
    client_info,
)
from bot.deliveries.search import LocationSearch
from bot.deliveries.service import DeliveryService
from bot.deliveries.timers import Deadlines
from bot.deliveries.watch import LockerWatch

__all__ = [
    "AlreadyOpen",
    "Change",
    "ChangeKind",
    "Closed",
    "Deadlines",
    "DeliveryNotFound",
    "DeliveryProblem",
    "DeliveryService",
    "HoldLimitReached",
    "IssuedKeyView",
    "ItemAlreadyInside",
    "KeyStillValid",
    "LocationNotFound",
    "LocationOffer",
    "LocationSearch",
    "LockerLost",
    "LockerStillInUse",
    "LockerWatch",
    "Nearby",
    "NearbyResult",
    "Person",
    "Policy",
    "ServiceUnavailable",
    "SizeOffer",
    "SizeRanOut",
    "WrongState",
    "client_info",
]
