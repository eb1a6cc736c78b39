"""The outside world of a load benchmark: the Harbor simulator with extra towers, one Telegram emulator
per measured bot, all served over loopback HTTP by this (the parent) process."""

from __future__ import annotations

import copy
import io
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import BotProcess
from sandbox.harbor import DEFAULT_CLIENTS, TOKEN_PATH, HarborSimulator, create_app
from sandbox.harbor_base import load_default_seed
from sandbox.serving import serve_app as serve
from sandbox.telegram import TelegramEmulator

TOKEN = "123456:BENCH-TOKEN"
CLIENT_ID, CLIENT_SECRET = next(iter(DEFAULT_CLIENTS.items()))
TOWERS = 20


def seed_with_towers(towers: int = TOWERS) -> tuple[dict[str, Any], list[tuple[float, float]]]:
    """The bundled seed plus ``towers`` one-tower locations ~20 km apart (small and medium lockers)."""
    seed = load_default_seed()
    template = seed["locations"][0]
    points = []
    for i in range(towers):
        lat, lon = 38.2 + (i // 5) * 0.2, -121.2 - (i % 5) * 0.25
        location = copy.deepcopy(template)
        location.update(id=9001 + i, name=f"Bench {i + 1}", lat=lat, lon=lon, address1=f"{i + 1} Bench St")
        location["towers"] = [
            {
                "id": f"0b{i + 1:014x}",
                "firstLockerId": 20001 + 100 * i,
                "lockers": [{"doors": "1-16", "type": "small"}, {"doors": "17-24", "type": "medium"}],
            }
        ]
        seed["locations"].append(location)
        points.append((lat, lon))
    return seed, points


@dataclass
class Target:
    """A measured bot: its process and the emulator only it talks to."""

    name: str
    emulator: TelegramEmulator
    root: str
    proc: BotProcess | None = None


@dataclass
class World:
    simulator: HarborSimulator
    harbor_root: str
    points: list[tuple[float, float]]
    stack: AsyncExitStack
    tmp: Path
    targets: dict[str, Target] = field(default_factory=dict)
    logs: Path = Path()  # where the measured processes' stderr goes

    async def emulator(self, name: str) -> Target:
        emulator = TelegramEmulator()
        emulator.add_bot(TOKEN, username=f"bench_{name.replace('-', '_')}_bot")
        root = await self.stack.enter_async_context(serve(emulator.app))
        self.targets[name] = Target(name, emulator, root)
        return self.targets[name]

    def config(self, target: Target, database_url: str) -> dict[str, Any]:
        return {
            "telegram_bot_token": TOKEN,
            "telegram_api_url": target.root,
            "harbor_env": "sandbox",
            "harbor_api_url": self.harbor_root,
            "harbor_token_url": self.harbor_root + TOKEN_PATH,
            "harbor_client_id": CLIENT_ID,
            "harbor_client_secret": CLIENT_SECRET,
            "database_url": database_url,
            "locker_poll_seconds": 3600,  # the watch is run on command (botproc's `watch`)
            "log_level": "WARNING",
        }


async def make_world(stack: AsyncExitStack, tmp: Path) -> World:
    seed, points = seed_with_towers()
    simulator = HarborSimulator(seed, rng_seed=7)
    harbor_root = await stack.enter_async_context(serve(create_app(simulator)))
    return World(simulator, harbor_root, points, stack, tmp)


def read_key(photo: bytes) -> Any:
    import zxingcpp
    from PIL import Image

    from bot.keys import LockerKey

    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(photo)), formats=zxingcpp.BarcodeFormat.QRCode)
    if len(found) != 1:
        raise LookupError(f"{len(found)} QR codes in the key photo")
    return LockerKey.from_json(found[0].text)
