"""Locker Open links (docs/harbor-api.md §6): the routes, bodies and answers, and every [U] decision about them.

Harbor's own "Locker Open" app clip opens the locker; the back end only asks for a link. Where §6 is
silent this module settles it, so that a surprise in the real API is a change here:

- Response field names: the docs say `locker_id`, working code reads `lockerId`/`towerId` (§6.1); both
  spellings are accepted, and a missing locker or tower is read back from
  `GET /locker-open-requests/{id}` (as LockerDrop does) by the caller.
- The link: `linkToken` is taken as a link when it is an `https://` URL. A `locker-open://kind?...` deep
  link (§6.3), which Telegram's URL buttons refuse, or a bare token becomes
  `{LOCKER_OPEN_URL}/{kind}?token=...` [U: the universal-link host and path are not documented].
- "No locker available" (§6.1, §8) is recognised by its text whatever the status code (400/404/409).
- The hold of a drop-off request is fixed at 5 minutes (§6.4); whether an old link still opens after it
  is [U], and a pick-up request has no lifetime at all (§14): an unused request is a live bearer key until
  Harbor says it is spent. `GET /locker-open-requests/{id}` is read for that: a `state` of `used` or
  `expired` (the simulator's words) means spent; anything else, or no answer, means possibly live
  (bot/deliveries/link_requests.py).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator

from bot.harbor.errors import HarborError

DROPOFF_REQUEST = ("POST", "/api/v1/locker-open-requests/dropoff-locker-request")
PICKUP_REQUEST = ("POST", "/api/v1/locker-open-requests/pickup-locker-request")
REQUEST = "/api/v1/locker-open-requests/{request_id}"

# §6.4: "not configurable".
DROPOFF_HOLD_SECONDS = 300
NO_LOCKER_AVAILABLE = "no locker available"
SPENT_STATES = frozenset({"used", "expired"})

LinkKind = Literal["dropoff", "pickup"]


def dropoff_body(
    location_id: int, locker_type_id: int, *, return_url: str, client_info: str, payload: dict[str, Any]
) -> dict[str, Any]:
    # Every field the docs call required, camelCase as in §6.1 (§11: open requests are camelCase).
    return {
        "locationId": int(location_id),
        "lockerTypeId": int(locker_type_id),
        "requireLowLocker": False,
        "returnUrl": return_url,
        "clientInfo": client_info,
        "payload": payload,
    }


def pickup_body(locker_id: int, *, return_url: str, client_info: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"lockerId": int(locker_id), "returnUrl": return_url, "clientInfo": client_info, "payload": payload}


class LockerOpenRequest(BaseModel):
    """Harbor's answer to a link request. `link_token` opens a door: never log or store it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    id: int | str
    locker_id: int | None = Field(None, validation_alias=AliasChoices("lockerId", "locker_id"))
    tower_id: str | None = Field(None, validation_alias=AliasChoices("towerId", "tower_id"))
    link_token: SecretStr | None = Field(None, validation_alias=AliasChoices("linkToken", "link_token"))
    state: str | None = None  # in `GET /locker-open-requests/{id}` only [U]

    @property
    def spent(self) -> bool:
        """Harbor says the link opens nothing any more (used, or its hold over)."""
        return (self.state or "").lower() in SPENT_STATES

    @field_validator("tower_id")
    @classmethod
    def _lower_tower(cls, value: str | None) -> str | None:
        return value.lower() if value else value


def is_no_locker(exc: HarborError) -> bool:
    """Harbor found no free locker of the asked type (§6.1): try, or offer, the next size up."""
    return NO_LOCKER_AVAILABLE in (exc.detail or "").lower()


def link_url(link_token: str, kind: LinkKind, *, base: str, env: str) -> str:
    """The https link a Telegram URL button (and the QR under it) can carry."""
    token = link_token.strip()
    parts = urlsplit(token)
    if parts.scheme == "https":
        return token
    if parts.scheme == "locker-open":
        # locker-open://dropoff?token=...&env=... -> {base}/dropoff?token=...&env=...
        query = dict(parse_qsl(parts.query))
        return f"{base}/{parts.netloc or kind}?{urlencode(query, quote_via=quote)}"
    return f"{base}/{kind}?{urlencode({'token': token, 'env': env}, quote_via=quote)}"
