"""A TCP proxy a test puts in front of PostgreSQL, to cut the database off and bring it back without
touching the server (other tests share it). Both tests/flows and tests/ops use it.

It runs on an event loop in a thread of its own: the bot connects synchronously too (its migrations at
start), which would block a proxy on the test's own loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from sqlalchemy.engine import make_url


class DatabaseProxy:
    """Listens on a port of its own and pipes each connection to the real server. `cut()` drops every
    connection and refuses new ones (the server seems gone); `restore()` listens again, same port."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    def url(self, database_url: str) -> str:
        return make_url(database_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        for writer in list(self._writers):
            writer.transport.abort()  # a reset, as when the server's host goes away
        for task in list(self._pipes):
            task.cancel()

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        if self._server is not None:
            await self.cut()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, server_writer))
        pipes = [
            asyncio.create_task(self._pipe(client_reader, server_writer)),
            asyncio.create_task(self._pipe(server_reader, client_writer)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._pipes.difference_update(pipes)
            for writer in (client_writer, server_writer):
                self._writers.discard(writer)
                writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


class ProxyThread:
    """The proxy on its own loop; `cut()` and `restore()` are awaited from the test's loop."""

    def __init__(self, proxy: DatabaseProxy) -> None:
        self.proxy = proxy
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="db-proxy", daemon=True)
        self._thread.start()

    def url(self, database_url: str) -> str:
        return self.proxy.url(database_url)

    async def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))

    async def start(self) -> None:
        await self._run(self.proxy.start())

    async def cut(self) -> None:
        await self._run(self.proxy.cut())

    async def restore(self) -> None:
        await self._run(self.proxy.restore())

    async def close(self) -> None:
        await self._run(self.proxy.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


@contextlib.asynccontextmanager
async def database_proxy(database_url: str) -> AsyncIterator[ProxyThread]:
    url = make_url(database_url)
    proxy = ProxyThread(DatabaseProxy(url.host or "127.0.0.1", url.port or 5432))
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
