"""A round-robin HTTP proxy, to spread webhook updates over several bot processes like a load balancer.

Point the Telegram emulator's webhook at the balancer (served with ``serve_app``) and give it the bots'
base URLs::

    balancer = RoundRobinBalancer(["http://127.0.0.1:8001", "http://127.0.0.1:8002"])
    async with serve_app(balancer.app) as front:
        await bot.set_webhook(f"{front}/telegram")     # POSTs go to .../8001/telegram, .../8002/telegram, ...

Each POST goes to the next upstream in turn, with the same path, query, headers (the secret-token header
included) and body; the client gets the upstream's status, body and content type. When the chosen upstream
cannot be reached the answer is 502 and the turn still moves on, like a plain balancer without health
checks: Telegram's retry then lands on the next process.

``duplicate_after=0.05`` makes it the worst network Telegram's at-least-once delivery allows: every
POST also goes, that many seconds later, to the next upstream as well (a redelivery racing the
original on another process); the client gets the first upstream's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# Hop-by-hop headers, plus the ones httpx must compute for the upstream request itself.
_NOT_FORWARDED = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade"})


@dataclass
class Forwarded:
    """One request the balancer passed on: the upstream chosen and its answer (502 when unreachable)."""

    upstream: str
    path: str
    status: int


class RoundRobinBalancer:
    """A Starlette app (``.app``) forwarding each POST to the next of ``upstreams`` (base URLs)."""

    def __init__(
        self, upstreams: Sequence[str], *, timeout: float = 10.0, duplicate_after: float | None = None
    ) -> None:
        if not upstreams:
            raise ValueError("the balancer needs at least one upstream")
        self.upstreams = [u.rstrip("/") for u in upstreams]
        self.duplicate_after = duplicate_after
        self.forwarded: list[Forwarded] = []
        self._turn = itertools.cycle(self.upstreams)
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self.app = Starlette(routes=[Route("/{path:path}", self._forward, methods=["POST"])], lifespan=self._lifespan)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        await self.aclose()

    async def _forward(self, request: Request) -> Response:
        upstream = next(self._turn)  # taken before any await, so concurrent requests still alternate
        again = next(self._turn) if self.duplicate_after is not None else None
        body = await request.body()
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        query = f"?{request.url.query}" if request.url.query else ""
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED]

        async def send(to: str, delay: float = 0.0) -> Response:
            await asyncio.sleep(delay)
            assert self._client is not None
            try:
                answer = await self._client.post(to + request.url.path + query, content=body, headers=headers)
            except httpx.HTTPError:
                self.forwarded.append(Forwarded(to, request.url.path, 502))
                return Response(b"Bad Gateway", status_code=502, media_type="text/plain")
            self.forwarded.append(Forwarded(to, request.url.path, answer.status_code))
            media_type = answer.headers.get("content-type")
            return Response(answer.content, status_code=answer.status_code, media_type=media_type)

        if again is None or self.duplicate_after is None:
            return await send(upstream)
        first, _ = await asyncio.gather(send(upstream), send(again, self.duplicate_after))
        return first


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m sandbox.balancer --port 8090 --upstream http://127.0.0.1:8001 --upstream ...`: the
    balancer alone, in front of `web` processes started by hand or by compose.yaml (a trial, not a
    production load balancer: no health checks, no TLS)."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m sandbox.balancer", description="round-robin HTTP proxy in front of several `web` processes"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--upstream", action="append", required=True, help="a `web` process's base URL (repeat)")
    args = parser.parse_args(argv)
    uvicorn.run(RoundRobinBalancer(args.upstream).app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
