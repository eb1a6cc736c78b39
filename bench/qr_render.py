"""QR key rendering: our CPU time against plain qrcode's, read-back, and event-loop stalls.

    python -m bench.qr_render [--runs N]      # the figures below, medians of N runs
    python -m bench.qr_render --masks         # the study behind bot.ui.qr.MASK_PATTERN

For the largest realistic key (a 1.5 KB Keycloak-like ``tower_access`` token inside) and a small
key (no SDK token), in this process: the CPU time (time.process_time) of ``render_qr`` and of
``qrcode.make(data).save(PNG)`` on the same data, their ratio (target: at most 0.3), the QR version
and pixel size, whether the code reads back with zxing-cpp after Telegram's treatment (JPEG
quality 80, long side at most 1280 px), and the longest the event loop waits while
``render_qr_async`` runs (a 1 ms ticker measures it), against ``asyncio.to_thread(render_qr)``.
The sample keys are also what tests/bot/test_qr.py checks.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from unittest import mock

import qrcode
from PIL import Image, ImageDraw, ImageFilter

import bot.ui.qr as qr
from bot.keys import LockerKey
from bot.ui.qr import MAX_SIDE, render_qr, render_qr_measured_async, shutdown_renderer

JWT_LENGTH = 1536  # "a 1.5 KB Keycloak token" (docs/design.md §4)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def keycloak_like_jwt(rng: random.Random, length: int = JWT_LENGTH) -> str:
    """A token shaped like a Keycloak RS256 access token, ``length`` characters long
    (or one more: base64 cannot make every length).

    header.payload.signature, base64url without padding; realistic claims, random ids and a
    random 256-byte (RSA-2048) signature. The payload is padded with a random claim.
    """

    def uuid() -> str:
        h = rng.randbytes(16).hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    header = {"alg": "RS256", "typ": "JWT", "kid": _b64url(rng.randbytes(32))}
    claims = {
        "exp": 1795687500, "iat": 1795687200, "jti": uuid(),
        "iss": "https://accounts.harborlockers.com/realms/harbor",
        "aud": ["harbor-sdk", "account"], "sub": uuid(), "typ": "Bearer",
        "azp": "harbor-bot-production", "sid": uuid(), "acr": "1",
        "allowed-origins": ["/*"],
        "realm_access": {"roles": ["offline_access", "uma_authorization", "default-roles-harbor"]},
        "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
        "scope": "tower_access profile email", "email_verified": False,
        "clientHost": "203.0.113.17", "clientId": "harbor-bot-production",
        "preferred_username": "service-account-harbor-bot-production",
        "clientAddress": "203.0.113.17",
    }  # fmt: skip
    head = _b64url(json.dumps(header, separators=(",", ":")).encode())
    signature = _b64url(rng.randbytes(256))
    base = json.dumps(claims, separators=(",", ":"))[:-1] + ',"x":"'
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    # Each 3 bytes of claims become 4 characters: start just short and pad up to the length.
    start = (length - len(head) - len(signature) - 2) * 3 // 4 - len(base) - 4
    pad = "".join(rng.choice(alphabet) for _ in range(max(0, start)))
    while True:
        body = _b64url((base + pad + '"}').encode())
        token = f"{head}.{body}.{signature}"
        if len(token) >= length:
            return token
        pad += rng.choice(alphabet)


def small_key() -> LockerKey:
    """A key without an SDK token (switched off in Settings): the smallest real key."""
    rng = random.Random(1)
    return LockerKey(
        kind="pickup",
        env="sandbox",
        tower_id="0100000000000014",
        locker_id=363,
        locker_name="57",
        payload=rng.randbytes(32).hex(),
        payload_auth=rng.randbytes(32).hex(),
        expires=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
    )


def medium_key(seed: int, token_length: int) -> LockerKey:
    """A key with a shorter SDK token (Keycloak tokens vary with the claims): for the mask study."""
    rng = random.Random(seed)
    return LockerKey(
        kind="dropoff",
        env="production",
        tower_id="10000000000000A7",
        locker_id=rng.randrange(1, 10**6),
        locker_name="A-12",
        payload=rng.randbytes(64).hex(),
        payload_auth=rng.randbytes(64).hex(),
        expires=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        sdk_token=keycloak_like_jwt(rng, token_length),
    )


def largest_key() -> LockerKey:
    """The largest realistic key: 1.5 KB token, 200- and 128-hex-digit payloads, long names."""
    rng = random.Random(2)
    return LockerKey(
        kind="dropoff",
        env="production",
        tower_id="10000000000000A7",
        locker_id=1234567,
        locker_name="B-1057",
        payload=rng.randbytes(100).hex(),
        payload_auth=rng.randbytes(64).hex(),
        expires=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        sdk_token=keycloak_like_jwt(rng),
    )


def telegram_photo(png: bytes | Image.Image, *, quality: int = 80, max_side: int = MAX_SIDE) -> bytes:
    """What Telegram makes of a photo: long side at most ``max_side`` px, JPEG at ``quality``."""
    image = (png if isinstance(png, Image.Image) else Image.open(io.BytesIO(png))).convert("RGB")
    scale = max_side / max(image.size)
    if scale < 1:
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def decode(jpeg: bytes) -> list[str]:
    """Texts of every QR code zxing-cpp finds in an image."""
    import zxingcpp

    image = Image.open(io.BytesIO(jpeg))
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def glare(png: bytes, data: str, *, fraction: float, centre: tuple[float, float]) -> Image.Image:
    """The code with a glare spot: a white disc over ``fraction`` of the code's area (the quiet
    zone aside), its edge blurred over a quarter of its radius, centred at ``centre`` (0..1 of the
    code's width and height)."""
    image = Image.open(io.BytesIO(png)).convert("L")
    modules = qr._make(data, 0).modules_count
    box = image.width // (modules + 2 * qr.BORDER)
    size, left = modules * box, qr.BORDER * box
    radius = (fraction * size * size / 3.14159) ** 0.5
    x, y = left + centre[0] * size, left + centre[1] * size
    # Drawn and blurred at an eighth of the size, then scaled up: the same soft spot, 50x faster.
    small = Image.new("L", (image.width // 8 + 1, image.height // 8 + 1), 0)
    r8, x8, y8 = radius / 8, x / 8, y / 8
    ImageDraw.Draw(small).ellipse((x8 - r8, y8 - r8, x8 + r8, y8 + r8), fill=255)
    spot = small.filter(ImageFilter.GaussianBlur(r8 / 4)).resize(image.size, Image.Resampling.BILINEAR)
    return Image.composite(Image.new("L", image.size, 255), image, spot)


# --- speed ---------------------------------------------------------------------------------------

TICK = 0.001  # the stall ticker's period, seconds


def _median_cpu_ms(func: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.process_time()
        func()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1000


def qrcode_default(data: str) -> bytes:
    """The reference: qrcode's one-liner, PNG to memory."""
    buffer = io.BytesIO()
    qrcode.make(data).save(buffer, format="PNG")
    return buffer.getvalue()


async def max_stall_ms(work: Callable[[], Awaitable[object]], runs: int) -> float:
    """Longest delay, beyond its period, of a 1 ms ticker on the loop while ``work`` runs ``runs`` times."""
    lateness: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            start = time.perf_counter()
            await asyncio.sleep(TICK)
            lateness.append(time.perf_counter() - start - TICK)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    lateness.clear()
    for _ in range(runs):
        await work()
        await asyncio.sleep(0)  # a coroutine that never suspends would otherwise run the next one at once
    done = True
    await task
    return max(lateness) * 1000


async def _async_figures(data: str, runs: int) -> dict[str, float]:
    """Event-loop figures for one key: stalls for each way of rendering, and the async CPU."""
    shutdown_renderer()  # the first call starts the render thread: measure that once, apart
    start = time.perf_counter()
    first_stall = await max_stall_ms(lambda: render_qr_measured_async(data), 1)
    first_wall = (time.perf_counter() - start) * 1000
    cpu = []
    for _ in range(runs):
        start = time.process_time()
        await render_qr_measured_async(data)
        cpu.append(time.process_time() - start)  # the render thread's CPU is this process's

    async def on_loop() -> None:
        render_qr(data)

    return {
        "idle": await max_stall_ms(lambda: asyncio.sleep(0.02), runs),
        "async": await max_stall_ms(lambda: render_qr_measured_async(data), runs),
        "thread": await max_stall_ms(lambda: asyncio.to_thread(render_qr, data), runs),
        "on loop": await max_stall_ms(on_loop, runs),
        "first stall": first_stall,
        "first wall": first_wall,
        "async cpu": statistics.median(cpu) * 1000,
    }


def speed(runs: int) -> None:
    rows = []
    for name, key in (("small", small_key()), ("largest", largest_key())):
        data = key.to_json()
        png = render_qr(data)  # also warms up imports and caches
        qrcode_default(data)
        ok_1280 = decode(telegram_photo(png)) == [data]
        ok_800 = decode(telegram_photo(png, max_side=800)) == [data]
        ours = _median_cpu_ms(lambda data=data: render_qr(data), runs)
        reference = _median_cpu_ms(lambda data=data: qrcode_default(data), runs)
        with Image.open(io.BytesIO(png)) as image:
            side = image.width
        version = qr._make(data, qr.BORDER).version
        loop = asyncio.run(_async_figures(data, runs))
        rows.append((name, len(data), version, side, len(png), ours, reference, ok_1280, ok_800, loop))
    shutdown_renderer()

    print(f"QR render, CPU (time.process_time), median of {runs} runs; mask pattern {qr.MASK_PATTERN}")
    print(
        f"{'key':<8} {'JSON B':>6} {'ver':>3} {'px':>5} {'PNG B':>6} {'ours ms':>8} {'qrcode ms':>9} "
        f"{'ratio':>6} {'async ms':>8}  reads back (JPEG q80)"
    )
    for name, size, version, side, png_size, ours, reference, ok_1280, ok_800, loop in rows:
        reads = f"1280 px {'yes' if ok_1280 else 'NO'}, 800 px {'yes' if ok_800 else 'NO'}"
        print(
            f"{name:<8} {size:>6} {version:>3} {side:>5} {png_size:>6} {ours:>8.1f} {reference:>9.1f} "
            f"{ours / reference:>6.2f} {loop['async cpu']:>8.1f}  {reads}"
        )
    print("(ratio = ours / qrcode.make(data).save(PNG), target <= 0.3; async = render_qr_async's CPU,")
    print(" the render thread included)")
    print(f"\nEvent loop: longest delay of a {TICK * 1000:.0f} ms ticker while rendering, ms ({runs} renders)")
    print(f"{'key':<8} {'idle':>6} {'async':>6} {'thread':>7} {'on loop':>8}   first async call: stall, wall")
    for name, *_, loop in rows:
        print(
            f"{name:<8} {loop['idle']:>6.1f} {loop['async']:>6.1f} {loop['thread']:>7.1f} {loop['on loop']:>8.1f}"
            f"   {loop['first stall']:>5.1f} ms, {loop['first wall']:.0f} ms (starts the thread)"
        )
    print("(async = render_qr_async, its render thread; thread = asyncio.to_thread(render_qr);")
    print(" on loop = render_qr called in a coroutine; idle = the ticker alone, the noise floor)")
    if not all(ok_1280 and ok_800 for *_, ok_1280, ok_800, _loop in rows):
        raise SystemExit("a QR code does not read back after JPEG q80")


# --- mask study ----------------------------------------------------------------------------------


def mask_study(placements: int, glare_fraction: float) -> None:
    """Read-back counts for each of the 8 mask patterns over several keys and degradations."""
    keys = {
        "small": small_key().to_json(),
        "token 800": medium_key(10, 800).to_json(),
        "token 1200": medium_key(11, 1200).to_json(),
        "largest": largest_key().to_json(),
    }
    rng = random.Random(5)
    spots = [(rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9)) for _ in range(placements)]
    conditions: dict[str, Callable[[bytes, str], list[bytes]]] = {
        "q80": lambda png, data: [telegram_photo(png)],
        "q60": lambda png, data: [telegram_photo(png, quality=60)],
        "800px": lambda png, data: [telegram_photo(png, max_side=800)],
        "glare": lambda png, data: [telegram_photo(glare(png, data, fraction=glare_fraction, centre=c)) for c in spots],
        "glare 800px": lambda png, data: [
            telegram_photo(glare(png, data, fraction=glare_fraction, centre=c), max_side=800) for c in spots
        ],
    }
    print(f"Read-backs per mask over {len(keys)} keys ({', '.join(keys)}); JPEG q80 unless q60;")
    print(f"glare: a spot over {glare_fraction:.0%} of the code at {placements} places per key")
    print(f"{'mask':>4} " + " ".join(f"{name:>11}" for name in conditions) + f" {'total':>6}")
    for mask in range(8):
        counts = dict.fromkeys(conditions, 0)
        totals = dict.fromkeys(conditions, 0)
        with mock.patch.object(qr, "MASK_PATTERN", mask):
            for data in keys.values():
                png = render_qr(data)
                for name, degrade in conditions.items():
                    photos = degrade(png, data)
                    counts[name] += sum(decode(photo) == [data] for photo in photos)
                    totals[name] += len(photos)
        cells = " ".join(f"{f'{counts[n]}/{totals[n]}':>11}" for n in conditions)
        print(f"{mask:>4} {cells} {sum(counts.values()):>6}")
    choices = []
    for data in keys.values():
        code = qrcode.QRCode(error_correction=qr.LEVELS[0], border=qr.BORDER)
        code.add_data(data, optimize=0)
        code.best_fit()
        choices.append(code.best_mask_pattern())
    print(f"qrcode's penalty-score choice per key: {', '.join(f'{k} {m}' for k, m in zip(keys, choices, strict=True))}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.qr_render", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per measurement (default 20)")
    parser.add_argument("--masks", action="store_true", help="compare the 8 mask patterns' read-backs")
    parser.add_argument("--placements", type=int, default=10, help="glare spots per key in --masks (default 10)")
    # Below about 20 % every mask reads back from every placement but those over a finder pattern.
    parser.add_argument("--glare", type=float, default=0.26, help="glare spot, part of the code (default 0.26)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.placements < 1:
        parser.error("--runs and --placements must be at least 1")
    if args.masks:
        mask_study(args.placements, args.glare)
    else:
        speed(args.runs)


if __name__ == "__main__":
    main()
