"""Serving ASGI apps with uvicorn the way the bot needs.

`SignalServer` (for `web`): SIGINT and SIGTERM start uvicorn's graceful stop (the updates in hand are
finished, then the bot's stop hooks run) and the process then exits normally. Plain uvicorn raises
the signal again once stopped, which Python turns into a KeyboardInterrupt traceback on Ctrl-C. A
second Ctrl-C still forces the exit, as in uvicorn.

`EmbeddedServer` (for `run`'s metrics listener): inside the bot's own event loop, where
python-telegram-bot's run_polling owns the signals, so it installs none.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

import uvicorn

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
