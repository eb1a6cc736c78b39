"""What the person does at the tower, for the console: relay an SDK key (the phone app over Bluetooth) or
open a Locker Open link (Harbor's app clip). In process it calls the simulator; attached to a running
sandbox (`--attach`) it calls the simulator's `/_sim/` hooks over HTTP. Either way the answer is a
:class:`AtTower`: what happened, in the console's words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx

from bot.keys import LockerKey
from sandbox.harbor import HarborSimulator, SimError


@dataclass(frozen=True)
class AtTower:
    """One attempt at the tower: whether the door opened, and the locker or the refusal."""

    opened: bool
    locker: str  # the locker's name, or what the console knows of it
    refusal: str = ""  # Harbor's words and status when it did not open


def is_locker_open_link(url: str) -> bool:
    """A Locker Open link (docs/harbor-api.md §6) carries its token in the query; a t.me link never does."""
    parts = urlsplit(url)
    return (
        parts.scheme == "https" and parts.hostname not in ("t.me", "telegram.me") and "token" in parse_qs(parts.query)
    )


def link_kind(url: str) -> str:
    """ "dropoff" or "pickup" when the link's path says so (the simulator's links do), else ""."""
    path = urlsplit(url).path.strip("/").lower()
    return path if path in ("dropoff", "pickup") else ""


class Tower(Protocol):
    async def use_key(self, key: LockerKey) -> AtTower: ...

    async def open_link(self, url: str) -> AtTower: ...

    async def aclose(self) -> None: ...


def _locker_name(answer: dict[str, Any], fallback: str) -> str:
    locker = answer.get("locker") or {}
    return str(locker.get("name") or fallback)


class SimulatorTower:
    """The simulator in this process."""

    def __init__(self, simulator: HarborSimulator) -> None:
        self.simulator = simulator

    async def use_key(self, key: LockerKey) -> AtTower:
        try:
            answer = self.simulator.use_token(key.payload, key.payload_auth, key.sdk_token)
        except SimError as exc:
            return AtTower(False, key.locker_name, f"{exc.detail} ({exc.status})")
        return AtTower(True, _locker_name(answer, key.locker_name))

    async def open_link(self, url: str) -> AtTower:
        try:
            answer = self.simulator.links.open(url)
        except SimError as exc:
            return AtTower(False, "?", f"{exc.detail} ({exc.status})")
        return AtTower(answer.get("status") == "success", _locker_name(answer, "?"), str(answer.get("status")))

    async def aclose(self) -> None:
        return None


class HttpTower:
    """The simulator of a running sandbox, through its `/_sim/` hooks (`python -m sandbox.cluster` prints them)."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self.client = httpx.AsyncClient(base_url=self.root, timeout=10)

    async def use_key(self, key: LockerKey) -> AtTower:
        body = {"payload": key.payload, "payload_auth": key.payload_auth, "sdk_token": key.sdk_token}
        return await self._post("/_sim/use-token", body, key.locker_name)

    async def open_link(self, url: str) -> AtTower:
        return await self._post("/_sim/open-link", {"url": url}, "?")

    async def _post(self, path: str, body: dict[str, Any], locker: str) -> AtTower:
        try:
            answer = await self.client.post(path, json=body)
        except httpx.HTTPError as exc:
            return AtTower(False, locker, f"the Harbor simulator at {self.client.base_url} did not answer: {exc}")
        data = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
        if answer.status_code != 200:
            return AtTower(False, locker, f"{data.get('detail', answer.text)} ({answer.status_code})")
        status = data.get("status")
        opened = status in (None, "success")  # use-token answers no status: a 200 is an open door
        return AtTower(opened, _locker_name(data, locker), "" if opened else str(status))

    async def aclose(self) -> None:
        await self.client.aclose()
