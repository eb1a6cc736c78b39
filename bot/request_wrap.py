"""`DelegatingRequest`: a Bot API transport around another one (python-telegram-bot glue). It forwards
everything to `inner`; a subclass overrides `around` to act before or after each call, and need not
repeat PTB's transport interface."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

Send = Callable[[], Awaitable[tuple[int, bytes]]]


class DelegatingRequest(BaseRequest):
    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        def send() -> Awaitable[tuple[int, bytes]]:
            return self.inner.do_request(
                url,
                method,
                request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )

        return await self.around(url, send)

    async def around(self, url: str, send: Send) -> tuple[int, bytes]:
        """The call to `url` (the Bot API method is its last segment): `send()` makes it on `inner`."""
        return await send()
