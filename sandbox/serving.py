"""Serve an ASGI app (the Telegram emulator, the Harbor simulator, a balancer, the bot's web app) over real
HTTP on loopback, as a task of the running event loop: for tests, benchmarks and the console's kin.

``async with serve_app(app) as root:`` runs uvicorn on a free port of 127.0.0.1 and yields
``"http://127.0.0.1:PORT"``; it shuts the server down cleanly on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    """uvicorn that tells when it is listening and leaves the test runner's signal handlers alone."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_app(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, graceful_timeout: float = 2.0, keep_alive: float = 600
) -> AsyncIterator[str]:
    """Serve an ASGI app over real HTTP on ``port`` (a free one by default), inside the running event loop."""
    # proto must say TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto is IPPROTO_TCP,
    # and without it every request waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    # A long keep-alive: uvicorn closing an idle pooled connection just as the client reuses it is a
    # ReadError at the client, which a test or a benchmark would take for the server's fault.
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=int(graceful_timeout),
        timeout_keep_alive=int(keep_alive),
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    ready = asyncio.create_task(server.ready.wait())
    try:
        await asyncio.wait({serving, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not server.ready.is_set():
            await serving  # raises what made the start-up fail
            raise RuntimeError("uvicorn exited before it started")
        yield f"http://{host}:{port}"
    finally:
        ready.cancel()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        sock.close()
