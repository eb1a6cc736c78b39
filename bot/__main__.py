"""Command line: `python -m bot [run | web | set-webhook | console | doctor]` (no sub-command means run);
`--help` on each says what it does and which environment variables it reads (bot/cli_help.py)."""

from __future__ import annotations

import argparse
import sys

from bot.cli_help import parser_options as options


def parse_point(text: str) -> tuple[float, float]:
    try:
        lat_text, lon_text = text.replace(" ", "").split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected LAT,LON, for example 37.7793,-122.4193") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise argparse.ArgumentTypeError("latitude must be within ±90 and longitude within ±180")
    return lat, lon


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="harbor-bot: Harbor Lockers in Telegram")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser(
        "run", help="run the bot (long polling) with the settings from the environment", **options("run")
    )
    run.add_argument(
        "--drop-webhook", action="store_true", help="delete a registered webhook and poll (`run` refuses otherwise)"
    )
    sub.add_parser(
        "web", help="serve Telegram's webhook (and Harbor's) on HOST:PORT; run many behind a proxy", **options("web")
    )
    hook = sub.add_parser(
        "set-webhook", help="register {WEBHOOK_URL}/telegram with Telegram (a deploy step)", **options("set-webhook")
    )
    hook.add_argument("--max-connections", type=int, default=40, help="Telegram's concurrent requests (1-100)")
    hook.add_argument("--drop-pending", action="store_true", help="drop updates Telegram still holds")
    console = sub.add_parser(
        "console", help="chat with the bot in this terminal (no Telegram, no Harbor account)", **options("console")
    )
    console.add_argument("--near", type=parse_point, help="share this location first (LAT,LON)")
    console.add_argument(
        "--qr", choices=("small", "full", "off"), default="small",
        help="how keys' QR codes are drawn: within 80 columns (default), one module per column, or not at all",
    )  # fmt: skip
    console.add_argument("--admin", action="store_true", help="be an admin (your id, 1, joins ADMIN_IDS)")
    console.add_argument(
        "--attach", metavar="URL",
        help="play a person at a running sandbox instead (`python -m sandbox.cluster` prints the command): "
        "the Telegram emulator's root, e.g. http://127.0.0.1:8081; no bot runs in the console then",
    )  # fmt: skip
    console.add_argument(
        "--harbor", metavar="URL", default="http://127.0.0.1:8700",
        help="with --attach: the Harbor simulator, where /use and /open act (default http://127.0.0.1:8700)",
    )  # fmt: skip
    doctor = sub.add_parser(
        "doctor",
        help="check the settings, database, Harbor and Telegram; exit non-zero on failure",
        **options("doctor"),
    )
    doctor.add_argument("--near", type=parse_point, help="where to look for lockers (LAT,LON)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    if command == "doctor":
        from bot.doctor import main as doctor_main

        return doctor_main(near=args.near)
    if command == "console":
        from bot.console import main as console_main

        return console_main(near=args.near, qr=args.qr, admin=args.admin, attach=args.attach, harbor=args.harbor)
    from bot import runner

    if command == "web":
        return runner.web()
    if command == "set-webhook":
        return runner.set_webhook(max_connections=args.max_connections, drop_pending=args.drop_pending)
    return runner.main(drop_webhook=getattr(args, "drop_webhook", False))


if __name__ == "__main__":
    sys.exit(main())
