"""Every route and body the client sends to Harbor, in one place (docs/harbor-api.md §4 and §15).

Lines marked [U] are this project's decisions where Harbor's public sources are silent (§14, §15):
when the real API turns out to differ, the fix is a one-line change here.
"""

from __future__ import annotations

from typing import Any

API_PREFIX = "/api/v1"

# OAuth scopes (§2.1).
SERVICE_SCOPE = "service_provider"
TOWER_SCOPE = "tower_access"

# Read-only routes.
LOCATIONS_IN_AREA = "/api/v1/locations/in-area"  # ?start=LAT,LON&end=LAT,LON (§4.1)
LOCATION = "/api/v1/locations/{location_id}/"  # trailing slash as LockerDrop uses it (§8)
LOCATION_AVAILABILITY = "/api/v1/locations/{location_id}/availability"
LOCATION_LOCKERS = "/api/v1/locations/{location_id}/lockers"
TOWER_LOCKERS = "/api/v1/towers/{tower_id}/lockers"
ASSIGNED_LOCKERS = "/api/v1/users/me/assigned-lockers"  # [U] response = list of §3.2 lockers
TEST_TOKEN = "/api/v1/login/test-token"  # POST with an empty body; answer [U]

# State-changing routes: (method, path).
_LOCKER = "/api/v1/towers/{tower_id}/lockers/{locker_id}"
RESERVE = ("POST", _LOCKER + "/reservations")
CANCEL_RESERVATION = ("DELETE", _LOCKER + "/reservations")  # [U] §15: DELETE .../reservations -> 200
DROPOFF_TOKEN = ("POST", _LOCKER + "/dropoff-locker-tokens")
PICKUP_TOKEN = ("POST", _LOCKER + "/pickup-locker-tokens")  # [I] by symmetry with drop-off
RELEASE = ("POST", _LOCKER + "/release-locker")  # answer: the locker (§15)


def in_area_query(start: tuple[float, float], end: tuple[float, float]) -> dict[str, str]:
    return {"start": _point(start), "end": _point(end)}


def reserve_body(duration: int) -> dict[str, Any]:
    return {"duration": int(duration)}


def token_body(duration: int, client_info: str) -> dict[str, Any]:
    # snake_case in token bodies (§11).
    return {"duration": int(duration), "client_info": client_info}


def release_body() -> dict[str, Any]:
    return {}


def token_form(scope: str, client_id: str, client_secret: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_id": client_id,
        "client_secret": client_secret,
    }


def locker_path(template: str, tower_id: str, locker_id: int) -> str:
    # §3: Harbor's samples lower-case tower ids in URLs.
    return template.format(tower_id=tower_id.lower(), locker_id=int(locker_id))


def _point(point: tuple[float, float]) -> str:
    lat, lon = point
    return f"{round(float(lat), 7)},{round(float(lon), 7)}"
