"""`python -m sandbox.cluster` as a person runs it: a real subprocess that starts 2 `web` processes on
PostgreSQL behind the balancer; a whole delivery driven only through the printed HTTP control API (the
emulator's /_sandbox/ and the simulator's /_sim/), then Ctrl-C stops all of it cleanly."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.flows.harness import SF

READY = re.compile(r"^ready telegram=(\S+) harbor=(\S+) balancer=(\S+)$")
BOTS = re.compile(r"^  balancer\s+\S+ -> (.+)$")
LINK = re.compile(r"https://t\.me/\S+\?start=[A-Za-z0-9_-]+")
STOP_AFTER = 240  # the cluster stops by itself even if this test dies before its Ctrl-C


class Person:
    """One user, played through the emulator's control API over HTTP (what the printed curl lines do)."""

    def __init__(self, client: httpx.AsyncClient, user_id: int, first_name: str) -> None:
        self.client, self.user_id, self.first_name = client, user_id, first_name

    async def post(self, action: str, **body: Any) -> Any:
        answer = await self.client.post(f"/_sandbox/{action}", json={"user_id": self.user_id, **body})
        assert answer.status_code == 200, (action, body, answer.text)
        return answer.json()

    async def say(self, text: str) -> None:
        await self.post("send", text=text, first_name=self.first_name)

    async def wait(self, contains: str = "", *, photo: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = await self.post("wait", contains=contains, photo=photo, timeout=30)
        return result

    async def chat(self) -> list[dict[str, Any]]:
        answer = await self.client.get("/_sandbox/chat", params={"user_id": self.user_id})
        result: list[dict[str, Any]] = answer.json()
        return result


@asynccontextmanager
async def cluster_command(pg_url: str, logs: Path) -> AsyncIterator[tuple[re.Match[str], list[str], list[str]]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sandbox.cluster", "--processes", "2", "--database-url", pg_url,
        "--telegram-port", "0", "--harbor-port", "0", "--balancer-port", "0", "--stop-after", str(STOP_AFTER),
        "--log-dir", str(logs),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    printed: list[str] = []
    try:
        async with asyncio.timeout(120):
            while (ready := READY.match(printed[-1] if printed else "")) is None:
                line = (await process.stdout.readline()).decode()
                assert line, "the cluster exited before it was ready:\n" + "".join(printed)
                printed.append(line.rstrip("\n"))
        bots = next(m.group(1).split(", ") for line in printed if (m := BOTS.match(line)))
        yield ready, bots, printed
        process.send_signal(signal.SIGINT)  # Ctrl-C
        async with asyncio.timeout(60):
            rest = (await process.stdout.read()).decode()
            assert await process.wait() == 0, rest
        assert rest.rstrip().endswith("stopped") and "Traceback" not in rest, rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_the_cluster_command_runs_a_whole_delivery_over_two_processes(pg_url: str, tmp_path: Path) -> None:
    async with cluster_command(pg_url, tmp_path) as (ready, bots, printed):
        telegram, harbor, _balancer = ready.groups()
        assert any("/_sandbox/press" in line for line in printed) and any("/_sim/use-token" in line for line in printed)
        assert len(bots) == 2
        async with httpx.AsyncClient(timeout=5) as plain:
            for bot in bots:  # two real `python -m bot web` processes
                assert (await plain.get(f"{bot}/healthz")).status_code == 200
        async with (
            httpx.AsyncClient(base_url=telegram, timeout=40) as tg,
            httpx.AsyncClient(base_url=harbor, timeout=10) as sim,
        ):
            alice, bob = Person(tg, 101, "Alice"), Person(tg, 202, "Bob")

            async def use_key(person: Person) -> None:
                photo = (await person.wait("key", photo=True))["photo"]
                key = json.loads(photo["qr"])  # the QR in the chat holds the key, as the phone app reads it
                assert (await tg.get(photo["url"])).headers["content-type"] == "image/jpeg"
                body = {"payload": key["payload"], "payload_auth": key["payload_auth"], "sdk_token": key["sdk_token"]}
                used = await sim.post("/_sim/use-token", json=body)
                assert used.status_code == 200, used.text

            await alice.say("/dropoff")
            await alice.wait("where are you")
            await alice.post("location", latitude=SF[0], longitude=SF[1])
            await alice.wait("free lockers within")
            await alice.post("press", button="Civic Center")
            await alice.wait("which locker size")
            await alice.post("press", button="small")
            held = await alice.wait("is held for you")
            key_button = next(b for row in held["inline_keyboard"] for b in row if "key" in b["text"].lower())
            await alice.post("press", data=key_button["callback_data"], message_id=held["message_id"])
            await use_key(alice)
            inside = await alice.wait("is in locker")  # the watch of one process noticed

            await alice.post("press", button="pickup link", message_id=inside["message_id"])
            link = LINK.search((await alice.wait("t.me/"))["text"])
            assert link is not None
            await bob.post("start", link=link.group(0), first_name="Bob")
            await bob.wait("waiting for you")
            await bob.post("press", button="pickup key")
            await use_key(bob)
            await bob.wait("collected from locker")
            await alice.wait("is complete")
            assert sum("is complete" in (m["text"] or "") for m in await alice.chat()) == 1
    logs = read_logs(tmp_path)
    assert sorted(logs) == ["web-1.log", "web-2.log"]
    assert not [name for name, text in logs.items() if "Traceback" in text]  # Ctrl-C stopped them cleanly


def read_logs(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in folder.iterdir()}
