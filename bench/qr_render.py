"""How long a key's QR code takes to render and to read back, small key against the largest.

    python -m bench.qr_render [--runs N]

Renders the QR code of a small key (no SDK token) and of the largest realistic key (a 1.5 KB
Keycloak-like ``tower_access`` token inside) N times each in this process and reports the median
times, the ratio largest/small (the small key is the baseline), the median time zxing-cpp takes
to read each code back after Telegram's treatment (JPEG quality 80, long side at most 1280 px),
and the PNG and JPEG sizes. The two sample keys are also what tests/bot/test_qr.py checks.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from PIL import Image

from bot.keys import LockerKey
from bot.ui.qr import MAX_SIDE, render_qr

JWT_LENGTH = 1536  # "a 1.5 KB Keycloak token" (DESIGN.md §4)


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


def telegram_photo(png: bytes, *, quality: int = 80, max_side: int = MAX_SIDE) -> bytes:
    """What Telegram makes of a photo: long side at most ``max_side`` px, JPEG at ``quality``."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
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


def _median_ms(func: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.qr_render", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per measurement (default 20)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    rows = []
    for name, key in (("small", small_key()), ("largest", largest_key())):
        data = key.to_json()
        png = render_qr(data)  # also warms up imports and caches
        jpeg = telegram_photo(png)
        if decode(jpeg) != [data]:
            raise SystemExit(f"{name} key: the QR code does not read back after JPEG q80")
        with Image.open(io.BytesIO(png)) as image:
            side = image.width
        render = _median_ms(lambda data=data: render_qr(data), args.runs)
        read = _median_ms(lambda jpeg=jpeg: decode(jpeg), args.runs)
        rows.append((name, len(data), side, render, read, len(png), len(jpeg)))

    print(f"QR render / read-back, median of {args.runs} runs")
    print(f"{'key':<8} {'JSON B':>7} {'px':>5} {'render ms':>10} {'read ms':>8} {'PNG B':>7} {'JPEG80 B':>9}")
    for name, size, side, render, read, png_size, jpeg_size in rows:
        print(f"{name:<8} {size:>7} {side:>5} {render:>10.1f} {read:>8.1f} {png_size:>7} {jpeg_size:>9}")
    small, largest = rows
    print(f"ratio largest/small: render {largest[3] / small[3]:.2f}x, read {largest[4] / small[4]:.2f}x")


if __name__ == "__main__":
    main()
