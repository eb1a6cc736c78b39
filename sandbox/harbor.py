"""Harbor Lockers API simulator (Starlette) serving docs/harbor-api.md §15, with test hooks under /_sim/.

Run it:  python -m sandbox.harbor --port 8700 [--host 127.0.0.1] [--seed FILE]
                                  [--client-id ID --client-secret SECRET]
In tests: `create_app(HarborSimulator(clock=Clock(start=...)))` behind `httpx.ASGITransport`.
This module is the entry point and holds the HTTP layer; the rules (and the decisions taken where §15 is
silent) live in sandbox/harbor_state.py, the clock, records and errors in sandbox/harbor_base.py.

Routes (bearer with scope service_provider on every /api/v1 route; 401 {"detail": "Could not validate
credentials"} for a missing/unknown/expired bearer, 403 for a token without that scope):

  POST {TOKEN_PATH}                                       Keycloak client_credentials (form or Basic auth)
  GET  /api/v1/locations/?skip=&limit=                    §3.1 objects, by id
  GET  /api/v1/locations/{id}/
  GET  /api/v1/locations/in-area?start=LAT,LON&end=LAT,LON  §3.1 + top-level lockerAvailability, byType
  GET  /api/v1/locations/{id}/availability                §4.2
  GET  /api/v1/locations/{id}/lockers                     §3.2 lockers of every tower there
  GET  /api/v1/towers/{tower_id}/lockers                  tower id case-insensitive
  POST|DELETE /api/v1/towers/{t}/lockers/{l}/reservations  {"duration"} / cancel (-> locker object)
  POST /api/v1/towers/{t}/lockers/{l}/dropoff-locker-tokens  {"duration", "client_info"}
  POST /api/v1/towers/{t}/lockers/{l}/pickup-locker-tokens
  POST /api/v1/towers/{t}/lockers/{l}/release-locker      {} -> locker object
  GET  /api/v1/users/me/assigned-lockers
  POST /api/v1/login/test-token                            {"id", "client_id", "email", "is_active", "scopes"}

Hooks (no auth, never faulted, never logged): POST /_sim/use-token {"payload", "payload_auth"?,
"sdk_token"?}; GET /_sim/lockers/{id}; POST /_sim/lockers/{id}/status {"status", "holder"?};
GET|POST /_sim/clock {"advance": s}; POST|DELETE /_sim/faults; GET|DELETE /_sim/requests; GET /_sim/tokens;
GET|POST|DELETE /_sim/webhook {"url", "secret"?, "duplicate_events"?} (§7 events, see sandbox/harbor_webhooks.py);
POST /_sim/open-link {"url", "outcome"?} (Locker Open links, §6: see sandbox/harbor_links.py).

Seed format (sandbox/seed.json; `--seed FILE` or `HarborSimulator(seed=dict)` take the same shape):

  {"lockerTypes": [{"id": 1, "name": "small", "description": null}, ...],
   "locations": [
     {<the 14 §3.1 keys; omitted ones are null>,
      "towers": [
        {"id": "010000000000001a",          16 hex digits, stored lower-case
         "firstLockerId": 1001,             locker id = firstLockerId + door - 1; door names "1".."n"
         "lockers": [                       groups of doors
           {"doors": "1-4", "type": "small", "low": true},
           {"doors": "5", "type": "medium", "status": "out_of_service"},
           {"doors": "6-8", "type": "large", "status": "occupied", "holder": "other-provider"}]}]}]}

  "low" defaults to false, "status" to available, "accessMode" to "public"; "holder" is a client id.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.harbor_base import MAX_DURATION, Fault, OAuthError, iso
from sandbox.harbor_link_routes import dropoff_request, get_request, hook_open_link, pickup_request
from sandbox.harbor_state import DEFAULT_CLIENTS, TOKEN_PATH, Clock, HarborSimulator, RequestRecord, SimError
from sandbox.harbor_webhooks import webhook_hook

__all__ = [
    "DEFAULT_CLIENTS",
    "TOKEN_PATH",
    "Clock",
    "HarborSimulator",
    "RequestRecord",
    "SimError",
    "create_app",
    "main",
]

log = logging.getLogger("sandbox.harbor")
_RECORD_KEY = "harbor_sim.record"
_FORM = "application/x-www-form-urlencoded"


# --------------------------------------------------------------------------- validation (FastAPI style)
def _err(kind: str, loc: list[Any], msg: str, value: Any, ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    error = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx:
        error["ctx"] = ctx
    return error


def _int(
    value: Any,
    loc: list[Any],
    errors: list[dict[str, Any]],
    *,
    lo: int | None = None,
    hi: int | None = None,
    from_text: bool = False,
) -> int | None:
    """An int like pydantic would accept it: JSON ints only for bodies, digits for path/query text."""
    if from_text:
        try:
            number = int(value)
        except (TypeError, ValueError):
            errors.append(
                _err("int_parsing", loc, "Input should be a valid integer, unable to parse string as an integer", value)
            )
            return None
    elif isinstance(value, bool) or not isinstance(value, int):
        errors.append(_err("int_type", loc, "Input should be a valid integer", value))
        return None
    else:
        number = value
    if lo is not None and number < lo:
        errors.append(
            _err("greater_than_equal", loc, f"Input should be greater than or equal to {lo}", value, {"ge": lo})
        )
        return None
    if hi is not None and number > hi:
        errors.append(_err("less_than_equal", loc, f"Input should be less than or equal to {hi}", value, {"le": hi}))
        return None
    return number


async def _json_body(request: Request, *, required: bool = True) -> tuple[dict[str, Any] | None, list]:
    raw = await request.body()
    if not raw.strip():
        if required:
            return None, [_err("missing", ["body"], "Field required", None)]
        return {}, []
    try:
        body = json.loads(raw)
    except ValueError as exc:
        return None, [
            _err("json_invalid", ["body", getattr(exc, "pos", 0)], "JSON decode error", {}, {"error": str(exc)})
        ]
    if not isinstance(body, dict):
        return None, [
            _err(
                "model_attributes_type",
                ["body"],
                "Input should be a valid dictionary or object to extract fields from",
                body,
            )
        ]
    return body, []


def _duration(body: dict[str, Any] | None, errors: list[dict[str, Any]]) -> int | None:
    if body is None:
        return None
    if "duration" not in body:
        errors.append(_err("missing", ["body", "duration"], "Field required", body))
        return None
    return _int(body["duration"], ["body", "duration"], errors, lo=1, hi=MAX_DURATION)


async def _locker_request(request: Request, *, token_body: bool = False) -> tuple[str, int, int, str]:
    """Path ids plus (for reservations and tokens) duration and client_info; all 422s at once."""
    errors: list[dict[str, Any]] = []
    locker_id = _int(request.path_params["locker_id"], ["path", "locker_id"], errors, from_text=True)
    body, body_errors = await _json_body(request)
    errors += body_errors
    duration = _duration(body, errors)
    client_info: Any = ""
    if token_body and body is not None:
        client_info = body.get("client_info", "")
        if not isinstance(client_info, str):
            errors.append(_err("string_type", ["body", "client_info"], "Input should be a valid string", client_info))
    if errors:
        raise SimError(422, errors)
    assert locker_id is not None
    assert duration is not None
    return request.path_params["tower_id"], locker_id, duration, client_info


def _coords(value: str | None, name: str, errors: list[dict[str, Any]]) -> tuple[float, float] | None:
    loc = ["query", name]
    if value is None:
        errors.append(_err("missing", loc, "Field required", None))
        return None
    parts = value.split(",")
    try:
        lat, lon = (float(p) for p in parts) if len(parts) == 2 else (float("nan"), float("nan"))
    except ValueError:
        lat = lon = float("nan")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        errors.append(_err("value_error", loc, "Value error, expected 'lat,lon' in degrees", value))
        return None
    return lat, lon


# --------------------------------------------------------------------------- responses and wrappers
def _error(exc: SimError) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, exc.status, headers=exc.headers or None)


def _sim(request: Request) -> HarborSimulator:
    return request.app.state.simulator


Handler = Callable[..., Awaitable[Any]]


def _api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Bearer check (service_provider), then the handler; SimError becomes a FastAPI-style answer."""

    async def endpoint(request: Request) -> Response:
        sim = _sim(request)
        try:
            access = sim.authenticate(request.headers.get("authorization"))
            result = await handler(request, sim, access)
        except SimError as exc:
            return _error(exc)
        return result if isinstance(result, Response) else JSONResponse(result)

    return endpoint


def _path_ids(request: Request) -> tuple[str, int]:
    errors: list[dict[str, Any]] = []
    locker_id = _int(request.path_params["locker_id"], ["path", "locker_id"], errors, from_text=True)
    if errors:
        raise SimError(422, errors)
    assert locker_id is not None
    return request.path_params["tower_id"], locker_id


def _location_id(request: Request) -> int:
    errors: list[dict[str, Any]] = []
    location_id = _int(request.path_params["location_id"], ["path", "location_id"], errors, from_text=True)
    if errors:
        raise SimError(422, errors)
    assert location_id is not None
    return location_id


# --------------------------------------------------------------------------- OAuth
async def token_endpoint(request: Request) -> Response:
    sim = _sim(request)
    # Parsed by hand: Keycloak takes application/x-www-form-urlencoded only (and python-multipart,
    # which Starlette's request.form() needs, is not a dependency).
    fields: dict[str, str] = {}
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == _FORM:
        raw = (await request.body()).decode("utf-8", "replace")
        fields = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
    basic = None
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            basic = (unquote_plus(user), unquote_plus(password))  # RFC 6749 §2.3.1: form-encoded first
        except (binascii.Error, UnicodeDecodeError):
            basic = ("", "")
    record: RequestRecord | None = request.scope.get(_RECORD_KEY)
    if record is not None:
        record.client_id = (basic[0] if basic else fields.get("client_id")) or None
    issuer = str(request.base_url).rstrip("/") + "/realms/harbor"
    host = request.client.host if request.client else "127.0.0.1"
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    try:
        body = sim.issue_access_token(fields, basic=basic, issuer=issuer, client_host=host)
    except OAuthError as exc:
        return JSONResponse({"error": exc.error, "error_description": exc.description}, exc.status, headers=headers)
    return JSONResponse(body, headers=headers)


# --------------------------------------------------------------------------- /api/v1
@_api
async def list_locations(request: Request, sim: HarborSimulator, access: Any) -> Any:
    errors: list[dict[str, Any]] = []
    skip = _int(request.query_params.get("skip", "0"), ["query", "skip"], errors, lo=0, from_text=True)
    limit = _int(request.query_params.get("limit", "100"), ["query", "limit"], errors, lo=0, from_text=True)
    if errors:
        raise SimError(422, errors)
    return sim.list_locations(skip or 0, limit or 0)


@_api
async def get_location(request: Request, sim: HarborSimulator, access: Any) -> Any:
    return sim.get_location(_location_id(request))


@_api
async def in_area(request: Request, sim: HarborSimulator, access: Any) -> Any:
    errors: list[dict[str, Any]] = []
    start = _coords(request.query_params.get("start"), "start", errors)
    end = _coords(request.query_params.get("end"), "end", errors)
    if errors or start is None or end is None:
        raise SimError(422, errors)
    return sim.in_area(*start, *end)


@_api
async def location_availability(request: Request, sim: HarborSimulator, access: Any) -> Any:
    return sim.availability(_location_id(request))


@_api
async def location_lockers(request: Request, sim: HarborSimulator, access: Any) -> Any:
    return sim.location_lockers(_location_id(request))


@_api
async def tower_lockers(request: Request, sim: HarborSimulator, access: Any) -> Any:
    return sim.tower_lockers(request.path_params["tower_id"])


@_api
async def reservations(request: Request, sim: HarborSimulator, access: Any) -> Any:
    if request.method == "DELETE":
        return sim.cancel_reservation(access.client_id, *_path_ids(request))
    tower_id, locker_id, duration, _ = await _locker_request(request)
    return sim.reserve(access.client_id, tower_id, locker_id, duration)


def _token_route(kind: str) -> Callable[[Request], Awaitable[Response]]:
    @_api
    async def issue(request: Request, sim: HarborSimulator, access: Any) -> Any:
        tower_id, locker_id, duration, client_info = await _locker_request(request, token_body=True)
        return sim.issue_locker_token(access.client_id, kind, tower_id, locker_id, duration, client_info)

    return issue


@_api
async def release_locker(request: Request, sim: HarborSimulator, access: Any) -> Any:
    _, errors = await _json_body(request, required=False)
    if errors:
        raise SimError(422, errors)
    return sim.release(access.client_id, *_path_ids(request))


@_api
async def assigned_lockers(request: Request, sim: HarborSimulator, access: Any) -> Any:
    return sim.assigned_lockers(access.client_id)


@_api
async def test_token(request: Request, sim: HarborSimulator, access: Any) -> Any:
    return sim.user(access)


# --------------------------------------------------------------------------- /_sim/ hooks
def _hook(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        sim = _sim(request)
        try:
            body: dict[str, Any] = {}
            if request.method in ("POST", "PUT"):
                parsed, errors = await _json_body(request, required=False)
                if errors:
                    raise SimError(422, errors)
                body = parsed or {}
            result = await handler(request, sim, body)
        except SimError as exc:
            return _error(exc)
        except (TypeError, ValueError, KeyError) as exc:
            return JSONResponse({"detail": f"bad hook arguments: {exc}"}, 422)
        return result if isinstance(result, Response) else JSONResponse(result)

    return endpoint


@_hook
async def hook_use_token(request: Request, sim: HarborSimulator, body: dict[str, Any]) -> Any:
    if not isinstance(body.get("payload"), str):
        raise SimError(422, "payload (string) is required")
    return sim.use_token(body["payload"], body.get("payload_auth"), body.get("sdk_token"))


@_hook
async def hook_locker(request: Request, sim: HarborSimulator, body: dict[str, Any]) -> Any:
    return sim.locker(request.path_params["locker_id"])


@_hook
async def hook_locker_status(request: Request, sim: HarborSimulator, body: dict[str, Any]) -> Any:
    if not isinstance(body.get("status"), str):
        raise SimError(422, "status (string) is required")
    return sim.set_locker_status(request.path_params["locker_id"], body["status"], body.get("holder"))


@_hook
async def hook_clock(request: Request, sim: HarborSimulator, body: dict[str, Any]) -> Any:
    if request.method == "POST":
        advance = body.get("advance", 0)
        if isinstance(advance, bool) or not isinstance(advance, int | float):
            raise SimError(422, "advance must be a number of seconds")
        sim.clock.advance(float(advance))
    return {"now": iso(sim.clock.now())}


_FAULT_KEYS = {"method", "path", "status", "retry_after", "stall", "stall_after", "times", "probability"}


@_hook
async def hook_faults(request: Request, sim: HarborSimulator, body: dict[str, Any]) -> Any:
    if request.method == "DELETE":
        sim.clear_faults()
        return {"faults": 0}
    unknown = set(body) - _FAULT_KEYS
    if unknown:
        raise SimError(422, f"unknown fault fields: {', '.join(sorted(unknown))}")
    sim.add_fault(**body)
    return {"faults": len(sim.pending_faults())}


@_hook
async def hook_requests(request: Request, sim: HarborSimulator, body: dict[str, Any]) -> Any:
    if request.method == "DELETE":
        sim.requests.clear()
        return []
    return [record.as_dict() for record in sim.requests]


@_hook
async def hook_tokens(request: Request, sim: HarborSimulator, body: dict[str, Any]) -> Any:
    return sim.issued_tokens()


# --------------------------------------------------------------------------- faults + request log
class _SimMiddleware:
    """Logs every non-/_sim/ request and applies queued faults to it."""

    def __init__(self, app: ASGIApp, simulator: HarborSimulator) -> None:
        self.app = app
        self.sim = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        record = self.sim.record_request(
            scope["method"],
            scope["path"],
            scope["query_string"].decode("latin-1"),
            self.sim.client_of(headers.get("authorization")),
        )
        scope[_RECORD_KEY] = record
        fault = self.sim.take_fault(scope["method"], scope["path"])

        async def send_through(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            await send(message)

        try:
            if fault is None:
                await self.app(scope, receive, send_through)
            elif not fault.stall_after:
                if fault.stall:
                    await asyncio.sleep(fault.stall)
                if fault.status is not None:
                    await self._answer(fault, record, scope, receive, send)
                else:
                    await self.app(scope, receive, send_through)
            else:
                held: list[Message] = []

                async def hold(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        record.status = message["status"]
                    held.append(message)

                await self.app(scope, receive, hold)
                if fault.stall:
                    await asyncio.sleep(fault.stall)
                if fault.status is not None:
                    await self._answer(fault, record, scope, receive, send)
                else:
                    for message in held:
                        await send(message)
        except asyncio.CancelledError:
            record.status = record.status or 499
            raise
        except Exception:
            record.status = record.status or 500
            raise

    @staticmethod
    async def _answer(fault: Fault, record: RequestRecord, scope: Scope, receive: Receive, send: Send) -> None:
        status, body, headers = fault.response()
        record.status = status
        await JSONResponse(body, status, headers=headers)(scope, receive, send)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)


def create_app(simulator: HarborSimulator | None = None) -> Starlette:
    """The simulator as an ASGI app; `app.state.simulator` is the HarborSimulator behind it."""
    sim = simulator or HarborSimulator()
    locker = "/api/v1/towers/{tower_id}/lockers/{locker_id}"
    routes = [
        Route(TOKEN_PATH, token_endpoint, methods=["POST"]),
        Route("/api/v1/locations/", list_locations, methods=["GET"]),
        Route("/api/v1/locations/in-area", in_area, methods=["GET"]),
        Route("/api/v1/locations/{location_id}/", get_location, methods=["GET"]),
        Route("/api/v1/locations/{location_id}/availability", location_availability, methods=["GET"]),
        Route("/api/v1/locations/{location_id}/lockers", location_lockers, methods=["GET"]),
        Route("/api/v1/towers/{tower_id}/lockers", tower_lockers, methods=["GET"]),
        Route(f"{locker}/reservations", reservations, methods=["POST", "DELETE"]),
        Route(f"{locker}/dropoff-locker-tokens", _token_route("dropoff"), methods=["POST"]),
        Route(f"{locker}/pickup-locker-tokens", _token_route("pickup"), methods=["POST"]),
        Route(f"{locker}/release-locker", release_locker, methods=["POST"]),
        Route("/api/v1/users/me/assigned-lockers", assigned_lockers, methods=["GET"]),
        Route("/api/v1/login/test-token", test_token, methods=["POST"]),
        # Locker Open links (§6): sandbox/harbor_links.py
        Route("/api/v1/locker-open-requests/dropoff-locker-request", _api(dropoff_request), methods=["POST"]),
        Route("/api/v1/locker-open-requests/pickup-locker-request", _api(pickup_request), methods=["POST"]),
        Route("/api/v1/locker-open-requests/{request_id}", _api(get_request), methods=["GET"]),
        Route("/_sim/open-link", _hook(hook_open_link), methods=["POST"]),
        Route("/_sim/use-token", hook_use_token, methods=["POST"]),
        Route("/_sim/lockers/{locker_id}", hook_locker, methods=["GET"]),
        Route("/_sim/lockers/{locker_id}/status", hook_locker_status, methods=["POST"]),
        Route("/_sim/clock", hook_clock, methods=["GET", "POST"]),
        Route("/_sim/faults", hook_faults, methods=["POST", "DELETE"]),
        Route("/_sim/requests", hook_requests, methods=["GET", "DELETE"]),
        Route("/_sim/tokens", hook_tokens, methods=["GET"]),
        Route("/_sim/webhook", webhook_hook, methods=["GET", "POST", "DELETE"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await sim.webhooks.aclose()  # no delivery outlives the server

    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_exception}, lifespan=lifespan)
    app.add_middleware(_SimMiddleware, simulator=sim)
    app.state.simulator = sim
    return app


# --------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m sandbox.harbor", description="Harbor API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--seed", type=Path, help="seed JSON file (default: the bundled sandbox/seed.json)")
    parser.add_argument("--client-id", help="the one OAuth client to accept (default: the built-in one)")
    parser.add_argument("--client-secret")
    parser.add_argument("--rng-seed", type=int, help="seed for probabilistic faults")
    args = parser.parse_args(argv)
    if (args.client_id is None) != (args.client_secret is None):
        parser.error("--client-id and --client-secret go together")
    clients = {args.client_id: args.client_secret} if args.client_id else None
    seed = json.loads(args.seed.read_text(encoding="utf-8")) if args.seed else None
    app = create_app(HarborSimulator(seed, clients=clients, rng_seed=args.rng_seed))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    base = f"http://{args.host}:{args.port}"
    log.info("Harbor simulator at %s (token URL %s%s)", base, base, TOKEN_PATH)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
