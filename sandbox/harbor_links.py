"""Locker Open links in the Harbor simulator (docs/harbor-api.md §6, §7), and the app clip that opens them.

Routes (served by sandbox/harbor.py behind the same bearer check as every /api/v1 route):

  POST /api/v1/locker-open-requests/dropoff-locker-request
       {"locationId", "lockerTypeId", "requireLowLocker", "returnUrl", "clientInfo", "payload"} (all required)
       -> 200 {"id", "lockerId", "towerId", "linkToken"}; Harbor picks a free locker of that type (not a
       low one unless asked) and holds it for the caller for 5 minutes (status rented). None free ->
       400 {"detail": "No locker available for the requested locker type"}.
  POST /api/v1/locker-open-requests/pickup-locker-request {"lockerId", "returnUrl", "clientInfo", "payload"}
       -> the same shape; 403 "Locker is not assigned to you" / 400 "Locker is not occupied".
  GET  /api/v1/locker-open-requests/{id} -> {"id", "lockerId", "towerId", "kind", "state"} (the caller's only).

Hook (no auth): POST /_sim/open-link {"url", "outcome"?: "success" | "doesnt_fit" | "failed"} plays the app
clip at the tower: it returns {"status", "locker", "return_to"} where `return_to` is the request's returnUrl
with `status`, `open_locker_request`, `locker_id` and `tower_id` added (None without a returnUrl), the page
the customer's phone opens next.

Decisions where §6 is silent (guesses, each in one place here):
- the link is `https://lockeropen.com/{kind}?token=<base64url>.<sig>&env=sandbox`;
- a link opens once ("a single open transaction"): a second open answers 409; a failed attempt
  ("failed": Bluetooth, distance) changes nothing and the same link can be tried again;
- a drop-off link whose 5-minute hold ended answers 410 "Link expired" (no new locker is assigned);
- "doesnt_fit" (drop-off only, Harbor's built-in flow) gives the locker back and returns status
  `doesnt_fit`; success returns `success`;
- events: LOCKER_ASSIGNED/LOCKER_OPEN_LINK_CREATED when a request is made (status rented for a drop-off,
  occupied for a pick-up) and LOCKER_OPERATION/LOCKER_TOKEN_USED when a link opens the locker, each with
  `client_info` (the request's clientInfo), `locker_open_request_id` and `locker_open_request_payload`.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

from sandbox.harbor_base import LockerRecord, SimError, iso
from sandbox.harbor_webhooks import DATA_KEYS, HarborWebhooks


class SimulatorCore(Protocol):
    """What the link requests use of the simulator (sandbox/harbor_state.py HarborSimulator); a protocol,
    so this module does not import the simulator that holds it."""

    locations: dict[int, Any]
    lockers: dict[int, LockerRecord]
    webhooks: HarborWebhooks

    def _expire(self) -> datetime: ...

    def _locker(self, locker_id: int) -> LockerRecord: ...

    def _free(self, locker: LockerRecord, now: datetime) -> None: ...

    def _locker_json(self, locker: LockerRecord) -> dict[str, Any]: ...


HOLD_SECONDS = 300  # §6.4: fixed
LINK_HOST = "https://lockeropen.com"
NO_LOCKER = "No locker available for the requested locker type"
OUTCOMES = ("success", "doesnt_fit", "failed")


@dataclass
class LinkRecord:
    id: int
    kind: str  # "dropoff" | "pickup"
    client_id: str
    tower_id: str
    locker_id: int
    token: str
    client_info: str
    payload: dict[str, Any]
    return_url: str
    created: datetime
    hold_expires: datetime | None  # drop-off only
    used_at: datetime | None = None

    def state(self, now: datetime) -> str:
        if self.used_at is not None:
            return "used"
        if self.hold_expires is not None and now >= self.hold_expires:
            return "expired"
        return "pending"

    def view(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "lockerId": self.locker_id,
            "towerId": self.tower_id,
            "kind": self.kind,
            "state": self.state(now),
            "clientInfo": self.client_info,
            "created": iso(self.created),
        }


class LinkRequests:
    """The simulator's Locker Open requests; every method is atomic (no awaits)."""

    def __init__(self, sim: SimulatorCore) -> None:
        self.sim = sim
        self.records: list[LinkRecord] = []
        self._by_token: dict[str, LinkRecord] = {}
        self._next_id = 56

    # -------------------------------------------------------------- the API
    def create_dropoff(self, client_id: str, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, {"locationId": int, "lockerTypeId": int, "requireLowLocker": bool, **_COMMON})
        now = self.sim._expire()
        location_id = body["locationId"]
        if location_id not in self.sim.locations:
            raise SimError(404, "Location not found")
        low = body["requireLowLocker"]
        free = sorted(
            (
                lk
                for lk in self.sim.lockers.values()
                if lk.location_id == location_id
                and lk.type_id == body["lockerTypeId"]
                and lk.status == "available"
                and (lk.is_low or not low)
            ),
            key=lambda lk: (lk.is_low, lk.id),  # a low locker only when asked or when nothing else is free
        )
        if not free:
            raise SimError(400, NO_LOCKER)
        locker = free[0]
        hold = now + timedelta(seconds=HOLD_SECONDS)
        locker.status, locker.holder, locker.reservation, locker.rent_expires = "rented", client_id, None, hold
        return self._made(client_id, "dropoff", locker, body, now, hold)

    def create_pickup(self, client_id: str, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, {"lockerId": int, **_COMMON})
        now = self.sim._expire()
        locker = self.sim._locker(body["lockerId"])
        if locker.holder != client_id:
            raise SimError(403, "Locker is not assigned to you")
        if locker.status != "occupied":
            raise SimError(400, "Locker is not occupied")
        return self._made(client_id, "pickup", locker, body, now, None)

    def get(self, client_id: str, request_id: int) -> dict[str, Any]:
        now = self.sim._expire()
        for record in self.records:
            if record.id == request_id and record.client_id == client_id:
                return record.view(now)
        raise SimError(404, "Locker open request not found")

    def _made(
        self,
        client_id: str,
        kind: str,
        locker: LockerRecord,
        body: dict[str, Any],
        now: datetime,
        hold: datetime | None,
    ) -> dict[str, Any]:
        raw = secrets.token_bytes(24)
        token = _b64(raw) + "." + _b64(secrets.token_bytes(16))
        record = LinkRecord(
            id=self._next_id,
            kind=kind,
            client_id=client_id,
            tower_id=locker.tower_id,
            locker_id=locker.id,
            token=token,
            client_info=body["clientInfo"],
            payload=body["payload"],
            return_url=body["returnUrl"],
            created=now,
            hold_expires=hold,
        )
        self._next_id += 1
        self.records.append(record)
        self._by_token[token] = record
        self._event("LOCKER_ASSIGNED", "LOCKER_OPEN_LINK_CREATED", record, locker, now)
        url = f"{LINK_HOST}/{kind}?" + urlencode({"token": token, "env": "sandbox"})
        return {"id": record.id, "lockerId": locker.id, "towerId": locker.tower_id, "linkToken": url}

    # -------------------------------------------------------------- the app clip at the tower
    def open(self, url: str, outcome: str = "success") -> dict[str, Any]:
        if outcome not in OUTCOMES:
            raise SimError(422, f"outcome must be one of {', '.join(OUTCOMES)}")
        now = self.sim._expire()
        token = dict(parse_qsl(urlsplit(url).query)).get("token", url)
        record = self._by_token.get(token)
        if record is None:
            raise SimError(404, "Link not found")
        if record.used_at is not None:
            raise SimError(409, "Link already used")
        if record.state(now) == "expired":
            raise SimError(410, "Link expired")
        locker = self.sim.lockers[record.locker_id]
        if locker.holder != record.client_id or locker.status not in ("rented", "occupied"):
            raise SimError(409, "Locker is not held for this link")
        if outcome == "failed":
            return self._outcome("failed", record, locker)
        if record.kind == "dropoff":
            if locker.status != "rented":
                raise SimError(409, "Locker is not waiting for a drop-off")
            record.used_at = now
            if outcome == "doesnt_fit":
                # Harbor's built-in flow reopens the door and cancels the hold (§6.3).
                self.sim._free(locker, now)
                return self._outcome("doesnt_fit", record, locker)
            locker.status, locker.rent_expires = "occupied", None
        else:
            if outcome == "doesnt_fit":
                raise SimError(422, "doesnt_fit is a drop-off flow")
            if locker.status != "occupied":
                raise SimError(409, "Locker is not occupied")
            record.used_at = now
            self.sim._free(locker, now)
        self._event("LOCKER_OPERATION", "LOCKER_TOKEN_USED", record, locker, now)
        return self._outcome("success", record, locker)

    def _outcome(self, status: str, record: LinkRecord, locker: LockerRecord) -> dict[str, Any]:
        return_to = None
        if record.return_url:
            query = {
                "status": status,
                "open_locker_request": record.id,
                "locker_id": locker.id,
                "tower_id": locker.tower_id,
            }
            glue = "&" if urlsplit(record.return_url).query else "?"
            return_to = record.return_url + glue + urlencode(query)
        return {"status": status, "locker": self.sim._locker_json(locker), "return_to": return_to}

    def _event(self, event: str, source: str, record: LinkRecord, locker: LockerRecord, now: datetime) -> None:
        data: dict[str, Any] = dict.fromkeys(DATA_KEYS)
        data.update(
            timestamp=iso(now),
            locker_id=locker.id,
            locker_status=locker.status,
            tower_id=locker.tower_id,
            source=source,
            client_info=record.client_info,
            locker_open_request_id=record.id,
            locker_open_request_payload=record.payload,
        )
        self.sim.webhooks.emit(event, data, now)


_COMMON: dict[str, type] = {"returnUrl": str, "clientInfo": str, "payload": dict}


def _require(body: dict[str, Any], fields: dict[str, type]) -> None:
    """FastAPI-style 422 for missing or mistyped fields (bool is not an int here)."""
    errors: list[dict[str, Any]] = []
    for name, kind in fields.items():
        if name not in body:
            errors.append({"type": "missing", "loc": ["body", name], "msg": "Field required", "input": body})
            continue
        value = body[name]
        if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            errors.append({"type": f"{kind.__name__}_type", "loc": ["body", name], "msg": "Wrong type", "input": value})
    if errors:
        raise SimError(422, errors)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
