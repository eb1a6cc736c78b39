"""HTTP handlers of the simulator's Locker Open link endpoints (docs/harbor-api.md §6), wrapped by
sandbox/harbor.py; the state lives in sandbox/harbor_links.py."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from sandbox.harbor_base import SimError
from sandbox.harbor_state import HarborSimulator


async def dropoff_request(request: Request, sim: HarborSimulator, access: Any) -> Any:
    return sim.links.create_dropoff(access.client_id, await _body(request))


async def pickup_request(request: Request, sim: HarborSimulator, access: Any) -> Any:
    return sim.links.create_pickup(access.client_id, await _body(request))


async def get_request(request: Request, sim: HarborSimulator, access: Any) -> Any:
    try:
        request_id = int(request.path_params["request_id"])
    except ValueError:
        raise SimError(404, "Locker open request not found") from None
    return sim.links.get(access.client_id, request_id)


async def hook_open_link(request: Request, sim: HarborSimulator, body: dict[str, Any]) -> Any:
    if not isinstance(body.get("url"), str):
        raise SimError(422, "url (string) is required")
    return sim.links.open(body["url"], body.get("outcome", "success"))


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise SimError(422, [{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error"}]) from None
    if not isinstance(body, dict):
        raise SimError(422, [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": body}])
    return body
