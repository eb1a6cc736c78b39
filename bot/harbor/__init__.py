"""Harbor Lockers API client: auth (token cache), endpoints, typed models, errors, retries."""

from bot.harbor.client import HarborClient
from bot.harbor.errors import (
    HarborAuthError,
    HarborError,
    HarborNotAvailable,
    HarborNotFound,
    HarborOutcomeUnknown,
    HarborRateLimited,
    HarborUnavailable,
    HarborValidationError,
)
from bot.harbor.factory import HarborConnection, connect_harbor
from bot.harbor.models import (
    AVAILABLE,
    AccessToken,
    Availability,
    Counts,
    Location,
    Locker,
    LockerStatus,
    LockerToken,
    LockerType,
    Reservation,
    TypeAvailability,
)

__all__ = [
    "AVAILABLE",
    "AccessToken",
    "Availability",
    "Counts",
    "HarborAuthError",
    "HarborClient",
    "HarborConnection",
    "HarborError",
    "HarborNotAvailable",
    "HarborNotFound",
    "HarborOutcomeUnknown",
    "HarborRateLimited",
    "HarborUnavailable",
    "HarborValidationError",
    "Location",
    "Locker",
    "LockerStatus",
    "LockerToken",
    "LockerType",
    "Reservation",
    "TypeAvailability",
    "connect_harbor",
]
