"""A scripted webhook receiver for tests: a Starlette app that records every POST and answers with the
statuses it was given (then 200), optionally holding requests until released. Serve it with
``serve_app(receiver.app)``; ``await receiver.wait_for(n)`` returns once n requests arrived."""

from __future__ import annotations

import asyncio
import json
import socket
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

WAIT_SECONDS = 5.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, statuses: Iterable[int] = (), *, hold: bool = False) -> None:
        self.script = deque(statuses)
        self.received: list[Received] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.release = asyncio.Event()  # with hold=True, requests wait for this before answering
        if not hold:
            self.release.set()
        self._arrived = asyncio.Condition()
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.received.append(Received(request.url.path, {k.lower(): v for k, v in request.headers.items()}, body))
        async with self._arrived:
            self._arrived.notify_all()
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        status = self.script.popleft() if self.script else 200
        return Response(b'{"ok": true}', status_code=status, media_type="application/json")

    async def wait_for(self, count: int) -> list[Received]:
        """Wait (at most WAIT_SECONDS) until ``count`` requests arrived; returns all received so far."""
        async with asyncio.timeout(WAIT_SECONDS), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return list(self.received)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
