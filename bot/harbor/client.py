"""The async Harbor API client the bot uses (docs/harbor-api.md §4, §8, §15).

One pooled `httpx.AsyncClient`; tokens from `auth.TokenManager`; retries from `retry`; routes and
bodies from `paths` (every [U] decision lives there). Responses are mapped to `errors`:

    401 (after one renewal and one retry) / 403 -> HarborAuthError     404 -> HarborNotFound
    400 / 409 -> HarborNotAvailable     422 -> HarborValidationError     429 -> HarborRateLimited
    5xx, connect errors, timeouts -> HarborUnavailable
    a state-changing POST that may have happened without an answer -> HarborOutcomeUnknown

DELETE of a reservation is treated as idempotent: it is retried like a GET, and when a *retry* finds
no reservation (400/404/409) the cancel counts as done, because an earlier attempt did it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from bot.harbor import links, paths
from bot.harbor.auth import TokenManager
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
from bot.harbor.models import AccessToken, Availability, Location, Locker, LockerToken, Reservation
from bot.harbor.retry import Outcome, RetryPolicy, parse_retry_after, send_with_retries

log = logging.getLogger("bot.harbor")

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

AVAILABILITY_CONCURRENCY = 8


class HarborClient:
    def __init__(
        self,
        *,
        api_url: str,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        get_deadline: float = 20.0,
        backoff_base: float = 0.25,
        backoff_cap: float = 4.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token_url = token_url
        self.client_id = client_id
        self._policy = RetryPolicy(
            timeout=timeout,
            deadline=get_deadline,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            monotonic=monotonic,
            sleep=sleep,
            rng=rng or random.Random(),
        )
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "harbor-bot"},
        )
        self.auth = TokenManager(
            http=lambda: self._http,
            token_url=token_url,
            client_id=client_id,
            client_secret=client_secret,
            policy=self._policy,
        )

    def add_event_hooks(self, hooks: dict[str, list[Any]]) -> None:
        """httpx event hooks ("request", "response") on every call to Harbor, the token endpoint's too."""
        for event, callbacks in hooks.items():
            self._http.event_hooks[event].extend(callbacks)

    # -- lifecycle ------------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self.auth.aclose()
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- tokens ---------------------------------------------------------------------------------

    async def service_token(self) -> AccessToken:
        """The cached `service_provider` token (renewed when due); for diagnostics."""
        return await self.auth.token(paths.SERVICE_SCOPE)

    async def tower_access_token(self) -> SecretStr:
        """A `tower_access` token for the phone app's SDK, reused while it has more than 60 s left."""
        return (await self.auth.token(paths.TOWER_SCOPE)).value

    async def test_token(self) -> dict[str, Any]:
        """Harbor's answer to `POST /login/test-token` (its shape is not documented, §2.2)."""
        data = await self._call("POST", paths.TEST_TOKEN, safe=True)
        return data if isinstance(data, dict) else {"answer": data}

    # -- locations --------------------------------------------------------------------------------

    async def locations_in_area(self, start: tuple[float, float], end: tuple[float, float]) -> list[Location]:
        data = await self._call("GET", paths.LOCATIONS_IN_AREA, params=paths.in_area_query(start, end))
        locations = _parse_list(data, Location.from_api, "location")
        missing = [i for i, loc in enumerate(locations) if loc.availability is None]
        if missing:
            gate = asyncio.Semaphore(AVAILABILITY_CONCURRENCY)

            async def fill(index: int) -> None:
                location = locations[index]
                async with gate:
                    try:
                        availability = await self.location_availability(location.id)
                    except HarborAuthError:
                        raise
                    except HarborError as exc:
                        # One location's counts missing must not hide the others: shown as unknown.
                        log.warning(
                            "harbor availability of location %s unavailable: %s", location.id, type(exc).__name__
                        )
                        return
                locations[index] = location.model_copy(update={"availability": availability})

            await asyncio.gather(*(fill(i) for i in missing))
        return locations

    async def location(self, location_id: int) -> Location:
        data = await self._call("GET", paths.LOCATION.format(location_id=int(location_id)))
        return _parse_one(data, Location.from_api, "location")

    async def location_availability(self, location_id: int) -> Availability:
        data = await self._call("GET", paths.LOCATION_AVAILABILITY.format(location_id=int(location_id)))
        return _parse_one(data, Availability.model_validate, "availability")

    async def location_lockers(self, location_id: int) -> list[Locker]:
        data = await self._call("GET", paths.LOCATION_LOCKERS.format(location_id=int(location_id)))
        return _parse_list(data, Locker.model_validate, "locker")

    async def tower_lockers(self, tower_id: str) -> list[Locker]:
        data = await self._call("GET", paths.TOWER_LOCKERS.format(tower_id=tower_id.lower()))
        return _parse_list(data, Locker.model_validate, "locker")

    async def assigned_lockers(self) -> list[Locker]:
        data = await self._call("GET", paths.ASSIGNED_LOCKERS)
        return _parse_list(data, Locker.model_validate, "locker")

    # -- state changes ------------------------------------------------------------------------------

    async def reserve(self, tower_id: str, locker_id: int, duration: int) -> Reservation:
        method, template = paths.RESERVE
        data = await self._call(
            method, paths.locker_path(template, tower_id, locker_id), json=paths.reserve_body(duration)
        )
        if isinstance(data, dict):
            data = {"towerId": tower_id.lower(), "lockerId": int(locker_id), "duration": duration, **data}
        return _parse_one(data, Reservation.model_validate, "reservation")

    async def cancel_reservation(self, tower_id: str, locker_id: int) -> None:
        method, template = paths.CANCEL_RESERVATION
        await self._call(method, paths.locker_path(template, tower_id, locker_id), safe=True, retried_gone_ok=True)

    async def dropoff_token(
        self, tower_id: str, locker_id: int, *, duration: int, client_info: str = ""
    ) -> LockerToken:
        return await self._locker_token(paths.DROPOFF_TOKEN, tower_id, locker_id, duration, client_info)

    async def pickup_token(self, tower_id: str, locker_id: int, *, duration: int, client_info: str = "") -> LockerToken:
        return await self._locker_token(paths.PICKUP_TOKEN, tower_id, locker_id, duration, client_info)

    async def release(self, tower_id: str, locker_id: int) -> Locker:
        method, template = paths.RELEASE
        data = await self._call(method, paths.locker_path(template, tower_id, locker_id), json=paths.release_body())
        return _parse_one(data, Locker.model_validate, "locker")

    # -- Locker Open links (§6; the [U] decisions are in links.py) -----------------------------------

    async def dropoff_link(
        self, location_id: int, locker_type_id: int, *, return_url: str, client_info: str, payload: dict[str, Any]
    ) -> links.LockerOpenRequest:
        """Harbor picks a free locker of that type and holds it for 5 minutes; `detail` says
        "No locker available" (HarborNotAvailable or HarborNotFound) when there is none."""
        method, path = links.DROPOFF_REQUEST
        body = links.dropoff_body(
            location_id, locker_type_id, return_url=return_url, client_info=client_info, payload=payload
        )
        return _parse_one(await self._call(method, path, json=body), links.LockerOpenRequest.model_validate, "link")

    async def pickup_link(
        self, locker_id: int, *, return_url: str, client_info: str, payload: dict[str, Any]
    ) -> links.LockerOpenRequest:
        method, path = links.PICKUP_REQUEST
        body = links.pickup_body(locker_id, return_url=return_url, client_info=client_info, payload=payload)
        return _parse_one(await self._call(method, path, json=body), links.LockerOpenRequest.model_validate, "link")

    async def link_request(self, request_id: int | str) -> links.LockerOpenRequest:
        """A link request as Harbor stores it: which locker it holds (§4 #17)."""
        data = await self._call("GET", links.REQUEST.format(request_id=quote(str(request_id), safe="")))
        return _parse_one(data, links.LockerOpenRequest.model_validate, "link")

    async def _locker_token(
        self, route: tuple[str, str], tower_id: str, locker_id: int, duration: int, client_info: str
    ) -> LockerToken:
        method, template = route
        data = await self._call(
            method,
            paths.locker_path(template, tower_id, locker_id),
            json=paths.token_body(duration, client_info),
        )
        if isinstance(data, dict):
            data = {"tower_id": tower_id.lower(), **data}
        return _parse_one(data, LockerToken.model_validate, "locker token")

    # -- transport ----------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        safe: bool | None = None,
        retried_gone_ok: bool = False,
    ) -> Any:
        """Send one API call with the service token; returns the decoded JSON (None for no body)."""
        if safe is None:
            safe = method == "GET"
        url = self.api_url + path
        for auth_attempt in (1, 2):
            token = await self.auth.token(paths.SERVICE_SCOPE)
            headers = {"Authorization": f"Bearer {token.value.get_secret_value()}"}

            def send(seconds: float, headers: dict[str, str] = headers) -> Awaitable[httpx.Response]:
                return self._http.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=headers,
                    timeout=seconds,
                    follow_redirects=method == "GET",
                )

            outcome = await send_with_retries(send, policy=self._policy, safe=safe, method=method, path=path)
            status = outcome.response.status_code
            if status == 401 and auth_attempt == 1:
                # Harbor refused the bearer, so nothing happened: renew once and try once more.
                self.auth.invalidate(token)
                continue
            if retried_gone_ok and outcome.attempts > 1 and status in (400, 404, 409):
                log.info("harbor %s %s: already done by an earlier attempt (%d)", method, path, status)
                return None
            return self._decode(outcome, method, path, safe)
        raise AssertionError("unreachable")  # pragma: no cover

    def _decode(self, outcome: Outcome, method: str, path: str, safe: bool) -> Any:
        response = outcome.response
        status = response.status_code
        if 200 <= status < 300:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise HarborUnavailable(
                    f"Harbor answered {method} {path} with something that is not JSON", status_code=status
                ) from None
        detail = _detail(response)
        where = f"{method} {path}"
        if status == 401:
            raise HarborAuthError(detail or f"Harbor rejected a freshly issued token for {where}", status_code=status)
        if status == 403:
            raise HarborAuthError(detail or f"Harbor refused {where} (403)", status_code=status)
        if status == 404:
            raise HarborNotFound(detail or f"{where} not found", status_code=status)
        if status in (400, 409):
            raise HarborNotAvailable(detail or f"Harbor refused {where} ({status})", status_code=status)
        if status == 422:
            raise HarborValidationError(detail or f"Harbor rejected the body of {where}", status_code=status)
        if status == 429:
            raise HarborRateLimited(
                detail or f"Harbor kept answering 429 to {where} ({outcome.attempts} attempts)",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if not safe and status in (500, 502, 504):
            # A gateway error or a crash after a state-changing POST: Harbor may have done it.
            raise HarborOutcomeUnknown(
                detail or f"Harbor answered {status} to {where}: it may or may not have happened",
                status_code=status,
            )
        if status >= 500:
            raise HarborUnavailable(
                detail or f"Harbor answered {status} to {where} ({outcome.attempts} attempts)", status_code=status
            )
        raise HarborError(detail or f"Harbor answered {status} to {where}", status_code=status)


def _detail(response: httpx.Response) -> str:
    """Harbor's FastAPI-style `detail`: a string, or the list form joined (§8)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail[:500]
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                msg = str(item.get("msg") or "")
                loc = item.get("loc")
                where = ".".join(str(p) for p in loc) if isinstance(loc, list) else ""
                parts.append(f"{where}: {msg}" if where and msg else msg or where)
            else:
                parts.append(str(item))
        return "; ".join(p for p in parts if p)[:500]
    if detail is not None:
        return str(detail)[:500]
    return ""


def _parse_one(data: Any, parse: Callable[[Any], T], what: str) -> T:
    try:
        return parse(data)
    except (ValidationError, TypeError, ValueError) as exc:
        log.warning("harbor %s could not be read: %s", what, _problems(exc))
        raise HarborError(f"Harbor's answer could not be read as a {what}") from None


def _parse_list(data: Any, parse: Callable[[Any], T], what: str) -> list[T]:
    """Parse a list, skipping (and logging, without the payload) items that do not parse."""
    if isinstance(data, dict):
        for key in ("items", "results", "data"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        log.warning("harbor expected a list of %ss, got %s", what, type(data).__name__)
        raise HarborError(f"Harbor's answer could not be read as a list of {what}s")
    items: list[T] = []
    for index, item in enumerate(data):
        try:
            items.append(parse(item))
        except (ValidationError, TypeError, ValueError, AttributeError) as exc:
            log.warning("harbor skipped %s #%d that could not be read: %s", what, index, _problems(exc))
    return items


def _problems(exc: BaseException) -> str:
    """Where and why parsing failed, never the input values."""
    if isinstance(exc, ValidationError):
        return ", ".join(f"{'.'.join(str(p) for p in err['loc']) or '<root>'} {err['type']}" for err in exc.errors())
    return type(exc).__name__
