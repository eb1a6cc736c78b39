"""Request bodies for `python -m bot web`: bounded in size and in time, before any handler reads them.

An ASGI middleware, so every route is covered the same way: a `Content-Length` over the cap is refused
(413) before a byte of the body is read; a body that keeps coming past the cap (chunked, or longer than
it said) is cut off at the cap (413); a body that has not arrived whole within the timeout is given up
(408). Either way the process holds at most MAX_BODY bytes of one request, and a connection that sends
a byte a second is closed after the timeout instead of being held for as long as the sender likes.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 1024 * 1024  # an update or an event is a few KB; anything this large is not Telegram or Harbor


class _BodyRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class BodyLimits:
    def __init__(self, app: ASGIApp, *, timeout: float, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.timeout = timeout
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _answer(send, 413 if length.isdigit() else 400)
            return
        deadline = time.monotonic() + self.timeout
        received = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal received
            left = deadline - time.monotonic()
            try:
                async with asyncio.timeout(max(left, 0.001)):
                    message = await receive()
            except TimeoutError:
                raise _BodyRefused(408) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyRefused(413)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except _BodyRefused as refused:
            if not started:
                await _answer(send, refused.status)


async def _answer(send: Send, status: int) -> None:
    # `Connection: close`: the rest of the body is never read, so the connection cannot carry another request.
    headers = [(b"content-length", b"0"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
