"""The measured processes: spawn bench/botproc.py, read its CPU and memory from /proc, send commands.

CPU is read from /proc for the process and all its descendants (the bot renders QR codes in a spawned
worker process, which is the bot's cost too), so nothing the parent does (the emulator, the simulator,
the driver playing users) is counted: that is why the bot runs in a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the state on (field 3)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def cpu_seconds(pid: int, *, tree: bool = True) -> float:
    """User + system CPU of the process and its live descendants (and the children it has reaped);
    with ``tree=False``, of the process alone."""
    total = 0
    for p in descendants(pid) if tree else [pid]:
        fields = _stat(p)
        if fields is not None:  # utime, stime, cutime, cstime are fields 14..17
            total += sum(int(v) for v in fields[11:15])
    return total / TICK


def rss_mb(pid: int, *, tree: bool = False) -> float:
    total = 0
    for p in descendants(pid) if tree else [pid]:
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1])
    return total * PAGE / 2**20


class BotProcess:
    """One bench/botproc.py child."""

    def __init__(self, proc: asyncio.subprocess.Process, started: float, log: Path) -> None:
        self.proc = proc
        self.log = log
        self.started = started
        self.ready_after = 0.0

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    async def spawn(
        cls,
        root: Path,
        mode: str,
        config: dict[str, Any],
        *,
        log: Path,
        script: Path | None = None,
        limiter: bool = True,
    ) -> BotProcess:
        args = [str(HERE / "botproc.py"), "--root", str(root), "--mode", mode, "--config", json.dumps(config)]
        if script is not None:
            args += ["--script", str(script)]
        if not limiter:
            args.append("--no-limiter")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log.open("ab"),
            env=env,
            cwd=root,
        )
        return cls(proc, started, log)

    async def ready(self, seconds: float = 60.0) -> None:
        await self._expect("READY", seconds)
        self.ready_after = time.monotonic() - self.started

    async def _expect(self, word: str, seconds: float) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), seconds)
            if not line:
                code = await self.proc.wait()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"bot process {self.pid} exited (code {code}) before {word}:\n{tail}")
            if line.decode().strip() == word:
                return

    async def watch(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"watch\n")
        await self.proc.stdin.drain()
        await self._expect("WATCHED", 60.0)

    def cpu(self, *, tree: bool = True) -> float:
        return cpu_seconds(self.pid, tree=tree)

    def rss(self, *, tree: bool = False) -> float:
        return rss_mb(self.pid, tree=tree)

    async def stop(self) -> None:
        if self.proc.returncode is None and self.proc.stdin is not None:
            self.proc.stdin.write(b"stop\n")
            await self.proc.stdin.drain()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
