"""State and rules of the Harbor API simulator (docs/harbor-api.md §15, §3, §4, §5), free of HTTP.

`sandbox.harbor` is the entry point: it re-exports everything public from here and adds the Starlette
app. Every method that reads or changes state first applies expiry (lazily, from the injected clock) and
never awaits, so each call is atomic within the one asyncio loop that runs the app.

Decisions this module takes where §15 leaves room (each marked "guess" where Harbor is silent):

- holder: the client id that reserved / rented / occupies a locker. A locker in a held status
  (reserved, rented, occupied, declined) whose holder is not the caller is "held by another client"
  (403) for token, cancel and release calls; a reservation request just sees "not available" (400).
- release: held by the caller (or by nobody) -> available, reservation dropped, live tokens void;
  an available locker releases as a no-op (200); an out_of_service locker answers 200 and stays out of
  service (a service provider cannot put a broken locker back in service; only the admin hook can).
- drop-off token: also allowed on a locker `declined` by the caller (§5 "declined --drop-off token-->
  rented"). Each token issued while the locker is rented pushes its hold to that token's expiry; when
  the last one runs out unused the locker returns to available (§15).
- a used pick-up token frees the locker and voids every other live token of it.
- assigned lockers: reserved, rented, occupied and also declined lockers of the caller.
"""

from __future__ import annotations

import copy
import hmac
import json
import random
import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sandbox.harbor_base import (
    ACCESS_TOKEN_SECONDS,
    DEFAULT_CLIENTS,
    HELD,
    LOCATION_KEYS,
    SCOPES,
    STATUS_IDS,
    TOKEN_PATH,
    TOWER_ID_RE,
    WEEKDAYS,
    AccessRecord,
    Clock,
    Fault,
    LockerRecord,
    OAuthError,
    RequestRecord,
    ReservationRecord,
    SimError,
    TokenRecord,
    b64url,
    door_range,
    iso,
    load_default_seed,
)
from sandbox.harbor_faults import FaultsAndLog
from sandbox.harbor_links import LinkRequests
from sandbox.harbor_webhooks import HarborWebhooks

__all__ = ["DEFAULT_CLIENTS", "TOKEN_PATH", "Clock", "HarborSimulator", "OAuthError", "RequestRecord", "SimError"]


class HarborSimulator(FaultsAndLog):
    """In-memory Harbor: locations, towers, lockers, OAuth clients and tokens, faults, request log."""

    token_seconds = ACCESS_TOKEN_SECONDS

    def __init__(
        self,
        seed: dict[str, Any] | None = None,
        *,
        clients: dict[str, str] | None = None,
        clock: Clock | None = None,
        rng_seed: int | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        duplicate_events: bool = False,
        webhook_retry_delay: float = 0.2,
    ) -> None:
        self.clock = clock or Clock()
        # §7 events (sandbox/harbor_webhooks.py holds the envelope and the signature contract).
        self.webhooks = HarborWebhooks(
            webhook_url, webhook_secret, duplicate_events=duplicate_events, retry_delay=webhook_retry_delay
        )
        self.clients = dict(DEFAULT_CLIENTS if clients is None else clients)
        self.requests: list[RequestRecord] = []
        self._rng = random.Random(rng_seed)
        self._faults: list[Fault] = []
        self._access: dict[str, AccessRecord] = {}
        self._tokens: list[TokenRecord] = []
        self._by_payload: dict[str, TokenRecord] = {}
        self._next_token_id = 7001
        self._next_reservation_id = 5001
        self._kid = b64url(secrets.token_bytes(32))
        self._load(copy.deepcopy(seed) if seed is not None else load_default_seed())
        self.links = LinkRequests(self)  # Locker Open links, §6 (sandbox/harbor_links.py)

    # ----------------------------------------------------------------- seed
    def _load(self, seed: dict[str, Any]) -> None:
        self.types: dict[int, dict[str, Any]] = {}
        for t in seed["lockerTypes"]:
            self.types[int(t["id"])] = {"name": t["name"], "description": t.get("description"), "id": int(t["id"])}
        type_by_name = {t["name"]: i for i, t in self.types.items()}
        self.locations: dict[int, dict[str, Any]] = {}
        self.towers: dict[str, list[int]] = {}  # tower id (lower) -> locker ids
        self._tower_location: dict[str, int] = {}
        self.lockers: dict[int, LockerRecord] = {}
        for loc in seed["locations"]:
            record = {key: loc.get(key) for key in LOCATION_KEYS}
            record["id"], record["lat"], record["lon"] = int(loc["id"]), float(loc["lat"]), float(loc["lon"])
            if record["id"] in self.locations:
                raise ValueError(f"duplicate location id {record['id']}")
            hours = record["accessHours"]
            if hours is not None and set(hours) != set(WEEKDAYS):
                raise ValueError(f"location {record['id']}: accessHours needs the seven day keys")
            self.locations[record["id"]] = record
            for tower in loc["towers"]:
                tower_id = str(tower["id"]).lower()
                if not TOWER_ID_RE.match(tower_id) or tower_id in self.towers:
                    raise ValueError(f"bad or duplicate tower id {tower['id']!r}")
                self.towers[tower_id] = []
                self._tower_location[tower_id] = record["id"]
                for group in tower["lockers"]:
                    type_id = type_by_name[group["type"]]
                    for door in door_range(group["doors"]):
                        locker_id = int(tower["firstLockerId"]) + door - 1
                        if locker_id in self.lockers:
                            raise ValueError(f"duplicate locker id {locker_id}")
                        status = group.get("status", "available")
                        if status not in STATUS_IDS:
                            raise ValueError(f"unknown status {status!r}")
                        holder = group.get("holder") if status in HELD else None
                        self.lockers[locker_id] = LockerRecord(
                            id=locker_id,
                            name=str(door),
                            tower_id=tower_id,
                            location_id=record["id"],
                            type_id=type_id,
                            is_low=bool(group.get("low", False)),
                            access_mode=group.get("accessMode", "public"),
                            status=status,
                            holder=holder,
                        )
                        self.towers[tower_id].append(locker_id)
                self.towers[tower_id].sort()

    # ----------------------------------------------------------------- views
    def now(self) -> datetime:
        return self.clock.now()

    def _locker_json(self, locker: LockerRecord) -> dict[str, Any]:
        return {
            "id": locker.id,
            "name": locker.name,
            "isLowLocker": locker.is_low,
            "towerId": locker.tower_id,
            "status": {"name": locker.status, "id": STATUS_IDS[locker.status]},
            "type": dict(self.types[locker.type_id]),
            "accessMode": locker.access_mode,
        }

    def _availability(self, location_id: int) -> dict[str, Any]:
        # "totalLockers" counts every locker of the location, out_of_service ones included (they exist,
        # they are just not free); "availableLockers" counts status available only. byType lists the types
        # the location has, in type-id order.
        per_type: dict[int, list[int]] = {}
        for tower_id, ids in self.towers.items():
            if self._tower_location[tower_id] != location_id:
                continue
            for locker_id in ids:
                locker = self.lockers[locker_id]
                counts = per_type.setdefault(locker.type_id, [0, 0])
                counts[0] += locker.status == "available"
                counts[1] += 1
        by_type = [
            {
                "lockerType": dict(self.types[type_id]),
                "lockerAvailability": {"availableLockers": free, "totalLockers": total},
            }
            for type_id, (free, total) in sorted(per_type.items())
        ]
        return {
            "lockerAvailability": {
                "availableLockers": sum(t["lockerAvailability"]["availableLockers"] for t in by_type),
                "totalLockers": sum(t["lockerAvailability"]["totalLockers"] for t in by_type),
            },
            "byType": by_type,
        }

    # ----------------------------------------------------------------- expiry
    def _expire(self) -> datetime:
        now = self.clock.now()
        for locker in self.lockers.values():
            reservation_over = locker.status == "reserved" and locker.reservation and locker.reservation.expires <= now
            hold_over = locker.status == "rented" and locker.rent_expires and locker.rent_expires <= now
            if reservation_over or hold_over:
                self._free(locker, now)
        return now

    def _free(self, locker: LockerRecord, now: datetime) -> None:
        locker.status, locker.holder, locker.reservation, locker.rent_expires = "available", None, None, None
        self._void_tokens(locker.id, now)

    def _void_tokens(self, locker_id: int, now: datetime) -> None:
        for token in self._tokens:
            if token.locker_id == locker_id and token.live(now):
                token.voided_at = now

    # ----------------------------------------------------------------- OAuth
    def issue_access_token(
        self,
        form: Mapping[str, str],
        *,
        basic: tuple[str, str] | None = None,
        issuer: str = "http://127.0.0.1:8700/realms/harbor",
        client_host: str = "127.0.0.1",
    ) -> dict[str, Any]:
        """The token endpoint (client_credentials grant). Raises OAuthError like Keycloak would."""
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError(400, "invalid_request", "Missing form parameter: grant_type")
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        expected = self.clients.get(client_id)
        if expected is None or not hmac.compare_digest(expected.encode(), (secret or "").encode()):
            raise OAuthError(401, "invalid_client", "Invalid client or Invalid client credentials")
        if grant_type != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant_type: {grant_type}")
        words = (form.get("scope") or "").split()
        if not words or any(w not in SCOPES for w in words):
            raise OAuthError(400, "invalid_scope", "Invalid scopes: " + (form.get("scope") or ""))
        scopes = tuple(dict.fromkeys(words))
        return self._mint(client_id, scopes, issuer, client_host)

    def mint_access_token(self, client_id: str | None = None, scope: str = "service_provider tower_access") -> str:
        """Test helper: a bearer as the token endpoint would issue it (no credentials needed)."""
        client_id = client_id or next(iter(self.clients))
        return self._mint(
            client_id, tuple(dict.fromkeys(scope.split())), "http://simulator/realms/harbor", "127.0.0.1"
        )["access_token"]

    def _mint(self, client_id: str, scopes: tuple[str, ...], issuer: str, client_host: str) -> dict[str, Any]:
        now = self.clock.now()
        expires = now + timedelta(seconds=self.token_seconds)
        for stale in [k for k, a in self._access.items() if a.expires < now - timedelta(hours=1)]:
            del self._access[stale]
        sub = str(uuid.uuid5(uuid.NAMESPACE_URL, f"harbor-simulator:{client_id}"))
        scope = " ".join(scopes)
        # Claims as a Keycloak 24 service-account token carries them; RS256 signature of a 2048-bit key.
        claims = {
            "exp": int(expires.timestamp()),
            "iat": int(now.timestamp()),
            "jti": str(uuid.uuid4()),
            "iss": issuer,
            "aud": ["harbor-api", "account"],
            "sub": sub,
            "typ": "Bearer",
            "azp": client_id,
            "acr": "1",
            "allowed-origins": ["/*"],
            "realm_access": {
                "roles": [
                    "offline_access",
                    "default-roles-harbor",
                    "uma_authorization",
                    *(["service-provider"] if "service_provider" in scopes else []),
                ]
            },
            "resource_access": {
                "harbor-api": {"roles": [s.replace("_", "-") for s in scopes]},
                "account": {"roles": ["manage-account", "manage-account-links", "view-profile"]},
            },
            "scope": scope,
            "clientHost": client_host,
            "email_verified": False,
            "preferred_username": f"service-account-{client_id}",
            "clientAddress": client_host,
            "client_id": client_id,
        }
        header = {"alg": "RS256", "typ": "JWT", "kid": self._kid}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        token = signing_input + "." + b64url(secrets.token_bytes(256))
        self._access[token] = AccessRecord(token, client_id, scopes, sub, expires)
        return {
            "access_token": token,
            "expires_in": self.token_seconds,
            "refresh_expires_in": 0,
            "refresh_token": None,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": scope,
        }

    def authenticate(self, authorization: str | None, scope: str = "service_provider") -> AccessRecord:
        """Check an Authorization header: 401 missing/unknown/expired, 403 without `scope`."""
        now = self._expire()
        scheme, _, value = (authorization or "").partition(" ")
        access = self._access.get(value.strip()) if scheme.lower() == "bearer" else None
        if access is None or access.expires <= now:
            raise SimError(401, "Could not validate credentials", {"WWW-Authenticate": "Bearer"})
        if scope not in access.scopes:
            raise SimError(403, "Not enough permissions")
        return access

    def client_of(self, authorization: str | None) -> str | None:
        """Who a bearer belongs to (even when expired), for the request log."""
        scheme, _, value = (authorization or "").partition(" ")
        access = self._access.get(value.strip()) if scheme.lower() == "bearer" else None
        return access.client_id if access else None

    def user(self, access: AccessRecord) -> dict[str, Any]:
        return {
            "id": access.sub,
            "client_id": access.client_id,
            "email": None,
            "is_active": True,
            "scopes": list(access.scopes),
        }

    # ----------------------------------------------------------------- locations
    def _location(self, location_id: int) -> dict[str, Any]:
        try:
            return self.locations[location_id]
        except KeyError:
            raise SimError(404, "Location not found") from None

    def list_locations(self, skip: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        self._expire()
        return [dict(self.locations[i]) for i in sorted(self.locations)[skip : skip + limit]]

    def get_location(self, location_id: int) -> dict[str, Any]:
        self._expire()
        return dict(self._location(location_id))

    def in_area(self, lat1: float, lon1: float, lat2: float, lon2: float) -> list[dict[str, Any]]:
        self._expire()
        lat_lo, lat_hi = sorted((lat1, lat2))
        lon_lo, lon_hi = sorted((lon1, lon2))
        return [
            {**loc, **self._availability(loc_id)}
            for loc_id, loc in sorted(self.locations.items())
            if lat_lo <= loc["lat"] <= lat_hi and lon_lo <= loc["lon"] <= lon_hi
        ]

    def availability(self, location_id: int) -> dict[str, Any]:
        self._expire()
        self._location(location_id)
        return self._availability(location_id)

    def location_lockers(self, location_id: int) -> list[dict[str, Any]]:
        self._expire()
        self._location(location_id)
        return [
            self._locker_json(self.lockers[i])
            for tower_id, ids in self.towers.items()
            if self._tower_location[tower_id] == location_id
            for i in ids
        ]

    def tower_lockers(self, tower_id: str) -> list[dict[str, Any]]:
        self._expire()
        return [self._locker_json(self.lockers[i]) for i in self._tower(tower_id)]

    def _tower(self, tower_id: str) -> list[int]:
        try:
            return self.towers[tower_id.lower()]
        except KeyError:
            raise SimError(404, "Tower not found") from None

    def _tower_locker(self, tower_id: str, locker_id: int) -> LockerRecord:
        if locker_id not in self._tower(tower_id):
            raise SimError(404, "Locker not found")
        return self.lockers[locker_id]

    @staticmethod
    def _check_holder(locker: LockerRecord, client_id: str) -> None:
        if locker.status in HELD and locker.holder != client_id:
            raise SimError(403, "Locker is held by another client")

    # ----------------------------------------------------------------- locker operations (§15)
    def reserve(self, client_id: str, tower_id: str, locker_id: int, duration: int) -> dict[str, Any]:
        now = self._expire()
        locker = self._tower_locker(tower_id, locker_id)
        if locker.status != "available":
            raise SimError(400, "Locker is not available")
        reservation = ReservationRecord(
            self._next_reservation_id, client_id, duration, now + timedelta(seconds=duration)
        )
        self._next_reservation_id += 1
        locker.status, locker.holder, locker.reservation = "reserved", client_id, reservation
        return {
            "id": reservation.id,
            "lockerId": locker.id,
            "towerId": locker.tower_id,
            "duration": duration,
            "expiresAt": iso(reservation.expires),
        }

    def cancel_reservation(self, client_id: str, tower_id: str, locker_id: int) -> dict[str, Any]:
        now = self._expire()
        locker = self._tower_locker(tower_id, locker_id)
        self._check_holder(locker, client_id)
        if locker.status != "reserved":
            raise SimError(400, "Locker is not reserved")
        self._free(locker, now)
        return self._locker_json(locker)

    def issue_locker_token(
        self, client_id: str, kind: str, tower_id: str, locker_id: int, duration: int, client_info: str = ""
    ) -> dict[str, Any]:
        now = self._expire()
        locker = self._tower_locker(tower_id, locker_id)
        if kind == "dropoff":
            if locker.status == "out_of_service":
                raise SimError(400, "Locker is not available")
            self._check_holder(locker, client_id)
        elif kind == "pickup":
            self._check_holder(locker, client_id)
            if locker.status != "occupied":
                raise SimError(400, "Locker is not occupied")
        else:  # pragma: no cover - programming error
            raise ValueError(kind)
        token = TokenRecord(
            id=self._next_token_id,
            kind=kind,
            tower_id=locker.tower_id,
            locker_id=locker.id,
            payload=secrets.token_hex(80),
            payload_auth=secrets.token_hex(64),
            client_info=client_info,
            client_id=client_id,
            created=now,
            expires=now + timedelta(seconds=duration),
        )
        self._next_token_id += 1
        self._tokens.append(token)
        self._by_payload[token.payload] = token
        reservation_id = locker.reservation.id if locker.reservation else None  # a drop-off token ends it
        if kind == "dropoff" and locker.status != "occupied":
            if locker.status == "rented" and locker.rent_expires is not None:
                locker.rent_expires = max(locker.rent_expires, token.expires)
            else:
                locker.rent_expires = token.expires
            locker.status, locker.holder, locker.reservation = "rented", client_id, None
        self.webhooks.token_event("LOCKER_TOKEN_CREATED", token, locker, now, reservation_id)
        return {
            "id": token.id,
            "tower_id": token.tower_id,
            "locker": self._locker_json(locker),
            "payload": token.payload,
            "payload_auth": token.payload_auth,
            "expires": iso(token.expires),
        }

    def release(self, client_id: str, tower_id: str, locker_id: int) -> dict[str, Any]:
        now = self._expire()
        locker = self._tower_locker(tower_id, locker_id)
        self._check_holder(locker, client_id)
        if locker.status != "out_of_service":
            self._free(locker, now)
        return self._locker_json(locker)

    def assigned_lockers(self, client_id: str) -> list[dict[str, Any]]:
        self._expire()
        return [
            self._locker_json(locker)
            for _, locker in sorted(self.lockers.items())
            if locker.status in HELD and locker.holder == client_id
        ]

    # ----------------------------------------------------------------- test hooks
    def use_token(self, payload: str, payload_auth: str | None = None, sdk_token: str | None = None) -> dict:
        """The phone relays a token at the tower. Returns {"token": ..., "locker": ...} or raises SimError."""
        now = self._expire()
        token = self._by_payload.get((payload or "").lower())
        if token is None:
            raise SimError(404, "Token not found")
        if payload_auth is not None and not hmac.compare_digest(payload_auth.lower(), token.payload_auth):
            raise SimError(403, "Invalid payload_auth")
        if sdk_token is not None:
            access = self._access.get(sdk_token)
            if (
                access is None
                or access.expires <= now
                or "tower_access" not in access.scopes
                or access.client_id != token.client_id
            ):
                raise SimError(401, "SDK token is not a live tower_access token of the token's client")
        if token.used_at is not None:
            raise SimError(409, "Token already used")
        if token.voided_at is not None:
            raise SimError(410, "Token was revoked")
        if now >= token.expires:
            raise SimError(410, "Token expired")
        locker = self.lockers[token.locker_id]
        if locker.status not in HELD or locker.holder != token.client_id:
            raise SimError(409, "Locker is not held by the token's client")
        if token.kind == "pickup" and locker.status != "occupied":
            raise SimError(409, "Locker is not occupied")
        token.used_at = now
        if token.kind == "dropoff":
            locker.status, locker.reservation, locker.rent_expires = "occupied", None, None
        else:
            self._free(locker, now)
        self.webhooks.token_event("LOCKER_TOKEN_USED", token, locker, now)
        return {"token": token.view(now), "locker": self._locker_json(locker)}

    def set_locker_status(self, locker_id: int, status: str, holder: str | None = None) -> dict:
        """Admin hook: force any status. available/out_of_service clear the holder; a new holder or a
        freed locker voids its live tokens. A reserved status set here never expires."""
        now = self._expire()
        locker = self._locker(locker_id)
        if status not in STATUS_IDS:
            raise SimError(422, f"Unknown status {status!r}; one of {', '.join(STATUS_IDS)}")
        holder = holder if status in HELD else None
        if holder != locker.holder or status not in HELD:
            self._void_tokens(locker.id, now)
        locker.status, locker.holder, locker.reservation, locker.rent_expires = status, holder, None, None
        return self._locker_json(locker)

    async def webhooks_idle(self) -> None:
        """Wait until every webhook event was delivered (or given up after its retries)."""
        await self.webhooks.idle()

    def _locker(self, locker_id: int) -> LockerRecord:
        try:
            return self.lockers[int(locker_id)]
        except (KeyError, ValueError, TypeError):
            raise SimError(404, "Locker not found") from None

    def locker(self, locker_id: int) -> dict:
        """The §3.2 locker JSON as the API shows it."""
        self._expire()
        return self._locker_json(self._locker(locker_id))

    def holder(self, locker_id: int) -> str | None:
        """Who holds a locker (the API does not show it)."""
        self._expire()
        return self._locker(locker_id).holder

    def issued_tokens(self) -> list[dict]:
        """Every drop-off/pick-up token ever issued (times as ISO-8601 strings, plus its `state`)."""
        now = self._expire()
        return [token.view(now) for token in self._tokens]
