"""The console in a real terminal: lines from stdin, Ctrl-C, and `main`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

from telegram.warnings import PTBUserWarning

from bot import logs
from bot.config import ConfigError
from bot.console.attached import AttachedConsole
from bot.console.session import Console
from bot.console.setup import Out, Point, default_name

log = logging.getLogger(__name__)


async def _lines(source: AsyncIterable[str] | Iterable[str]) -> AsyncIterator[str]:
    if isinstance(source, AsyncIterable):
        async for line in source:
            yield line
    else:
        for line in source:
            yield line


async def run_console(
    lines: AsyncIterable[str] | Iterable[str],
    out: Out,
    *,
    near: Point | None = None,
    user_name: str | None = None,
    echo: bool = False,
    stop: asyncio.Event | None = None,
    on_start: Callable[[Console], None] | None = None,
    **settings: Any,
) -> int:
    """The console's core: read ``lines`` until they end, say /quit or ``stop`` is set (Ctrl-C), and
    print everything through ``out``; then shut the bot down cleanly.

    Each line is read only after the bot has answered the previous one, so a line source may look at
    what was printed so far to decide what to type next. ``settings`` override Settings fields.
    """
    stop = stop or asyncio.Event()
    async with Console(out, near=near, user_name=user_name, echo=echo, **settings) as console:
        if on_start is not None:
            on_start(console)
        async for line in _lines(lines):
            if stop.is_set() or not await _unless_stopped(stop, console.handle(line)):
                break
        console.note("bye")
    return 0


async def _unless_stopped(stop: asyncio.Event, work: Awaitable[bool]) -> bool:
    """The result of ``work``, or False as soon as ``stop`` is set (the work is then cancelled)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False


# -- the terminal ----------------------------------------------------------------------------------


class Terminal:
    """Lines from stdin (read on demand, in a daemon thread, so the loop never blocks and Ctrl-C never
    waits for a read) and output to stdout that keeps the prompt tidy when the bot speaks in between."""

    PROMPT = "> "

    def __init__(self) -> None:
        self.interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self.stop = asyncio.Event()  # Ctrl-C
        self._want = threading.Semaphore(0)
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._prompting = False

    def _read(self) -> None:
        assert self._loop is not None
        while True:
            self._want.acquire()
            line: str | None
            try:
                if self.interactive:
                    self._prompting = True
                    try:
                        line = input(self.PROMPT)  # line editing and history where readline exists
                    finally:
                        self._prompting = False
                else:
                    line = sys.stdin.readline() or None
            except (EOFError, OSError, ValueError):
                line = None
            self._loop.call_soon_threadsafe(self._queue.put_nowait, line)
            if line is None:
                return

    def __aiter__(self) -> AsyncIterator[str]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str]:
        self._loop = asyncio.get_running_loop()
        if self._thread is None:
            self._thread = threading.Thread(target=self._read, name="console-stdin", daemon=True)
            self._thread.start()
        while not self.stop.is_set():
            self._want.release()
            line = await self._next_line()
            if line is None:
                if self.interactive:
                    print()
                return
            yield line

    async def _next_line(self) -> str | None:
        """The next line, or None at the end of input or on Ctrl-C (the reading thread is left behind)."""
        reading = asyncio.ensure_future(self._queue.get())
        stopped = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({reading, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if reading.done():
            return reading.result()
        reading.cancel()
        return None

    def interrupt(self) -> None:
        """Ctrl-C: leave cleanly. A second Ctrl-C, should leaving hang, interrupts Python itself."""
        self.stop.set()
        assert self._loop is not None
        self._loop.remove_signal_handler(signal.SIGINT)

    def out(self, text: str) -> None:
        if self._prompting and self.stop.is_set():  # leaving: the prompt goes, nobody will answer it
            sys.stdout.write("\r\x1b[K" + text + "\n")
        elif self._prompting:
            # The bot spoke while the prompt waits: print above it, then show the prompt again.
            sys.stdout.write("\r\x1b[K" + text + "\n" + self.PROMPT + _typed_so_far())
        else:
            sys.stdout.write(text + "\n")
        sys.stdout.flush()


def _typed_so_far() -> str:
    try:
        import readline
    except ImportError:
        return ""
    return readline.get_line_buffer()


async def run_attached(
    lines: AsyncIterable[str] | Iterable[str],
    out: Out,
    telegram: str,
    harbor: str,
    *,
    stop: asyncio.Event | None = None,
    **options: Any,
) -> int:
    """The console attached to a running sandbox (bot/console/attached.py), read like ``run_console``."""
    stop = stop or asyncio.Event()
    async with AttachedConsole(out, telegram, harbor, **options) as console:
        async for line in _lines(lines):
            if stop.is_set() or not await _unless_stopped(stop, console.handle(line)):
                break
        console.note("bye")
    return 0


async def _session(terminal: Terminal, near: Point | None, options: dict[str, Any]) -> int:
    loop = asyncio.get_running_loop()
    terminal._loop = loop
    with contextlib.suppress(NotImplementedError):  # no add_signal_handler on Windows: Ctrl-C then raises
        loop.add_signal_handler(signal.SIGINT, terminal.interrupt)
    attach, harbor = options.pop("attach", None), options.pop("harbor", None)
    if attach:
        echo = not terminal.interactive
        return await run_attached(
            terminal, terminal.out, attach, harbor, near=near, echo=echo, stop=terminal.stop, qr=options["qr"],
            user_name=default_name(),
        )  # fmt: skip
    return await run_console(
        terminal, terminal.out, near=near, echo=not terminal.interactive, stop=terminal.stop, **options
    )


def main(
    near: Point | None = None,
    *,
    qr: str = "small",
    admin: bool = False,
    attach: str | None = None,
    harbor: str = "http://127.0.0.1:8700",
) -> int:

    logs.setup(logging.WARNING)
    # The drop-off conversation tracks per user and chat on purpose (see pyproject's pytest filters);
    # PTB's advice about it is for the bot's authors, not for the person at the console.
    warnings.filterwarnings("ignore", message="If 'per_message=False'", category=PTBUserWarning)
    terminal = Terminal()
    with _terminal_modes_kept(terminal.interactive):
        try:
            options = {"qr": qr, "admin": admin, "attach": attach, "harbor": harbor}
            return asyncio.run(_session(terminal, near, options))
        except (ConfigError, ConnectionError) as exc:
            print(f"harbor-bot console cannot start: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # a second Ctrl-C while leaving
            print("\n-- bye")
            return 0


@contextlib.contextmanager
def _terminal_modes_kept(interactive: bool) -> Iterator[None]:
    """Restore the terminal's modes on the way out: line editing may be mid-line when Ctrl-C leaves."""
    saved = None
    if interactive:
        with contextlib.suppress(ImportError, OSError):
            import termios

            saved = termios.tcgetattr(sys.stdin.fileno())
    try:
        yield
    finally:
        if saved is not None:
            import termios

            with contextlib.suppress(OSError):
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
