"""`python -m bot console` as a developer uses it: chat with the real bot, tap numbers, read the key's QR
drawing, use it at the tower, hand the pickup over as another person, and leave without a traceback.

The console reads a line only after the bot has answered the previous one, so each line source below
looks at what was printed so far to decide what to type next, as the person at the keyboard would.
"""

from __future__ import annotations

import asyncio
import io
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import zxingcpp
from PIL import Image

from bot.console import Console, run_console
from bot.keys import LockerKey

SF = (37.7793, -122.4193)
SF_TEXT = "37.7793,-122.4193"
# The console's 2 s watch and the 1 s scheduler tick (which also sends the outbox), shortened so the tests
# stay quick.
FAST_WATCH = {"locker_poll_seconds": 0.2}


class Screen:
    """Everything the console printed, and what a person reads off it."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self._printed: asyncio.Event | None = None

    def __call__(self, text: str) -> None:
        self.blocks.append(text)
        if self._printed is not None:
            self._printed.set()

    @property
    def text(self) -> str:
        return "\n".join(self.blocks)

    def since(self, mark: int) -> str:
        return "\n".join(self.blocks[mark:])

    async def wait_for(self, text: str, mark: int = 0, timeout: float = 10.0) -> str:  # noqa: ASYNC109
        """What was printed since `mark`, once it contains `text`. Announcements the watch causes go out
        through the outbox a scheduler tick later, after /use has already returned."""
        self._printed = asyncio.Event()
        async with asyncio.timeout(timeout):
            while text not in self.since(mark):
                self._printed.clear()
                await self._printed.wait()
        return self.since(mark)

    def number(self, label: str) -> str:
        """The newest number printed for a button whose label contains ``label``."""
        for number, text in reversed(re.findall(r"\[(\d+)\] ([^\[\n]*)", self.text)):
            if label.casefold() in text.casefold():
                return number
        raise AssertionError(f"no numbered button with {label!r} on the screen:\n{self.text}")

    def qr_drawings(self) -> list[str]:
        return [b for b in self.blocks if b and set(b) <= DRAWN and b.count("\n") > 10]


# Which modules of a character are light, upper left, upper right, lower left, lower right: a quadrant
# drawing (2×2 modules a character) uses them all; a half-block drawing (1×2) only " ▀▄█".
QUADRANTS = {
    " ": (0, 0, 0, 0), "▗": (0, 0, 0, 1), "▖": (0, 0, 1, 0), "▄": (0, 0, 1, 1), "▝": (0, 1, 0, 0), "▐": (0, 1, 0, 1),
    "▞": (0, 1, 1, 0), "▟": (0, 1, 1, 1), "▘": (1, 0, 0, 0), "▚": (1, 0, 0, 1), "▌": (1, 0, 1, 0), "▙": (1, 0, 1, 1),
    "▀": (1, 1, 0, 0), "▜": (1, 1, 0, 1), "▛": (1, 1, 1, 0), "█": (1, 1, 1, 1),
}  # fmt: skip
DRAWN = set(QUADRANTS) | {"\n"}


def read_drawing(drawing: str, columns: int = 80) -> str:
    """Scan a QR code drawn for a dark terminal (blocks are the light modules), as a phone pointed at
    the screen would; a character cell is twice as tall as wide."""
    lines = drawing.split("\n")
    assert max(len(line) for line in lines) <= columns, f"wider than a {columns}-column terminal"
    quadrant = bool(set(drawing) - set(" ▀▄█\n"))
    wide = 2 if quadrant else 1  # modules across one character
    rows: list[list[bool]] = []
    for line in lines:
        cells = [QUADRANTS[ch] for ch in line]
        if quadrant:
            rows += [[bool(c[i]) for c in cells for i in (0, 1)], [bool(c[i]) for c in cells for i in (2, 3)]]
        else:
            rows += [[bool(c[0]) for c in cells], [bool(c[2]) for c in cells]]
    sx, sy = 8 // wide, 4  # pixels per module: a cell is 8 px wide and 8 px tall
    image = Image.new("L", (len(rows[0]) * sx + 32, len(rows) * sy + 32), 0)
    pixels = image.load()
    for y, row in enumerate(rows):
        for x, light in enumerate(row):
            if light:
                for dy in range(sy):
                    for dx in range(sx):
                        pixels[16 + x * sx + dx, 16 + y * sy + dy] = 255
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    # zxing now and then reports one symbol twice (seen once in CI on a quadrant drawing): one text is one code.
    texts = {result.text for result in zxingcpp.read_barcodes(Image.open(buffer))}
    assert len(texts) == 1, "the drawing does not scan as one QR code"
    return texts.pop()


async def walk_to_the_key(screen: Screen) -> AsyncIterator[str]:
    """/start -> /dropoff -> location -> Civic Center -> small -> the drop-off key."""
    yield "/start"
    assert "What would you like to do?" in screen.text
    assert re.search(r"\[\d+\] 📦 Drop off an item", screen.text)
    yield "/dropoff"
    assert re.search(r"keyboard: \[\d+\] 📍 Share my location", screen.text)
    yield f"/loc {SF_TEXT}"
    assert "Free lockers within" in screen.text
    yield screen.number("Civic Center")
    assert "Which locker size do you need?" in screen.text
    yield screen.number("small")
    assert "is held for you" in screen.text
    yield screen.number("drop-off key")


async def test_a_whole_dropoff_from_start_to_item_in_the_locker(database_url: str) -> None:
    screen = Screen()
    consoles: list[Console] = []

    async def person() -> AsyncIterator[str]:
        yield "/start"
        assert "Hi Alice!" in screen.text
        assert re.search(r"\[\d+\] 📦 Drop off an item", screen.text)
        assert re.search(r"\[\d+\] 🗂 My deliveries +\[\d+\] ❓ Help", screen.text)  # one row, two buttons

        yield "/dropoff"
        assert "Where are you?" in screen.text
        yield screen.number("Share my location")  # no location known yet: the console says how to give one
        assert "/loc LAT,LON" in screen.text

        yield f"/loc {SF_TEXT}"
        assert "you shared the location 37.77930,-122.41930" in screen.text
        assert "Free lockers within 5 km" in screen.text
        assert "Hayes Valley" not in screen.text  # full, so left out

        yield screen.number("Civic Center")
        assert "bot (edited): Civic Center - McAllister St" in screen.text
        assert "Which locker size do you need?" in screen.text

        yield screen.number("small")
        # One message with the way there: the address, and a Directions button (no separate venue pin).
        assert "held for you at Civic Center - McAllister St, 355 McAllister St" in screen.text
        assert "🧭 Directions (https://www.google.com/maps/dir/?api=1&destination=37.780500,-122.417700)" in screen.text
        assert "is held for you" in screen.text

        mark = len(screen.blocks)
        yield screen.number("drop-off key")
        after_key = screen.since(mark)
        assert "Drop-off key" in after_key
        drawings = screen.qr_drawings()
        assert len(drawings) == 1
        key = LockerKey.from_json(read_drawing(drawings[0]))  # the drawing is the key the bot sent
        issued = consoles[0].simulator.issued_tokens()
        assert len(issued) == 1
        assert (key.payload, key.payload_auth) == (issued[0]["payload"], issued[0]["payload_auth"])
        assert f"key: dropoff · tower {key.tower_id} · locker {key.locker_name} (id {key.locker_id})" in after_key
        assert f"payload: <hex, {len(key.payload)} chars>" in after_key
        # The key's secrets are drawn, never written out.
        assert key.payload not in screen.text and key.payload_auth not in screen.text
        assert key.sdk_token and key.sdk_token not in screen.text

        mark = len(screen.blocks)
        yield "/use"  # the console waits for the bot's locker watch to notice
        after_use = await screen.wait_for(f"Your item is in locker {key.locker_name}", mark)
        assert f"locker {key.locker_name} opened" in after_use
        assert f"Your item is in locker {key.locker_name}" in after_use
        assert "bot deleted: the dropoff key" in after_use  # the used QR is taken away
        yield "/use"
        assert "Token already used" in screen.since(mark)

    code = await run_console(
        person(), screen, user_name="Alice", database_url=database_url, on_start=consoles.append, **FAST_WATCH
    )
    assert code == 0
    assert "that did not work" not in screen.text
    assert screen.blocks[-1] == "-- bye"


async def test_near_answers_the_bots_question_for_a_location(database_url: str) -> None:
    screen = Screen()

    async def person() -> AsyncIterator[str]:
        yield "/start"
        assert "you shared" not in screen.text  # /start shows the menu: nothing asked, nothing shared
        mark = len(screen.blocks)
        yield "/dropoff"
        answer = screen.since(mark)
        assert answer.index("Where are you?") < answer.index("you shared your location 37.77930,-122.41930")
        assert "Free lockers within 5 km" in answer
        yield screen.number("Share my location")  # that keyboard went away with the answer
        assert "belonged to a keyboard that is gone" in screen.text

    assert await run_console(person(), screen, near=SF, database_url=database_url) == 0
    assert "Your location is 37.77930,-122.41930" in screen.blocks[1]


async def test_handing_the_pickup_over_to_someone_else_with_as_and_the_link(database_url: str) -> None:
    screen = Screen()

    async def people() -> AsyncIterator[str]:
        async for line in walk_to_the_key(screen):
            yield line
        mark = len(screen.blocks)
        yield "/use"
        await screen.wait_for("pickup link", mark)  # the in-locker notice, from the outbox
        yield screen.number("pickup link")
        link = re.findall(r"https://t\.me/\S+", screen.text)[-1]

        yield "/as 2 Bob"
        assert "-- you are now Bob (id 2)" in screen.text
        mark = len(screen.blocks)
        yield link.removeprefix("https://")  # as pasted from a chat: t.me/...?start=<code>
        assert "An item is waiting for you in locker" in screen.since(mark)
        await screen.wait_for("Alice (id 1) has 1 new message", mark)
        assert "Alice (id 1) has 1 new message: /as 1" in screen.since(mark)  # Alice was told Bob has it

        yield screen.number("pickup key")
        assert "key: pickup" in screen.text
        mark = len(screen.blocks)
        yield "/use"
        assert "you took the item" in screen.since(mark)
        await screen.wait_for("Collected from locker", mark)

        mark = len(screen.blocks)
        yield "/as 1"
        back = await screen.wait_for("is complete", mark)  # what Alice missed while the console was Bob
        assert "Bob opened your pickup link" in back
        assert "is complete" in back

    # Keys without the SDK token: smaller QR codes, quicker to draw and read.
    code = await run_console(
        people(), screen, user_name="Alice", database_url=database_url, key_include_sdk_token=False, **FAST_WATCH
    )
    assert code == 0
    assert "that did not work" not in screen.text


async def test_mistakes_get_a_hint_and_the_session_goes_on(tmp_path: Path) -> None:
    screen = Screen()
    consoles: list[Console] = []
    typed = [
        "42",  # no such button
        "/loc nowhere",
        "/as x",
        "/use",  # no key yet
        "/say",
        "x" * 5000,  # longer than Telegram takes
        "https://t.me/some_other_bot?start=abc",
        "/help",
        "/say 7",  # a number as text, not a tap
        "//help",  # the bot's own help
    ]
    code = await run_console(typed, screen, on_start=consoles.append)  # the lines end: like Ctrl-D
    assert code == 0
    text = screen.text
    assert "there is no button [42]" in text
    assert text.count("usage: /loc LAT,LON") == 1
    assert "usage: /as ID [NAME]" in text
    assert "no key yet" in text
    assert "usage: /say TEXT" in text
    assert "that did not work: Telegram apps split messages longer than 4096 characters" in text
    assert "is not a link to @harbor_console_bot" in text
    assert "The console's commands (this list is the console's /help; the bot's own /help is //help)" in text
    assert "bot: I didn't get that." in text  # "7" went to the bot as a message
    assert "bot: How it works" in text  # //help reached the bot's own /help
    # The session's database lived in a temporary directory, gone with the session.
    database = Path(consoles[0].settings.database_url.removeprefix("sqlite:///"))
    assert database.name == "console.sqlite3"
    assert not database.parent.exists()


def _console_process(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARBOR_", "TELEGRAM_", "DATABASE_URL"))}
    env["USER"] = "carol"
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "console", *args],
        env=env,
        cwd=tmp_path,  # no .env file there
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_command_reads_stdin_and_quits_cleanly(tmp_path: Path) -> None:
    process = _console_process(tmp_path, "--near", SF_TEXT)
    out, err = process.communicate("/start\n/dropoff\n99\n/as\n/quit\n/start\n", timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in out + err
    assert "Hi Carol!" in out  # the person is named after the login
    assert "Free lockers within 5 km" in out  # --near answered the bot's question
    assert "there is no button [99]" in out
    assert out.rstrip().endswith("-- bye")
    assert out.count("Hi Carol!") == 1  # nothing after /quit was read


def test_ctrl_c_leaves_cleanly(tmp_path: Path) -> None:
    process = _console_process(tmp_path)
    assert process.stdin is not None and process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True)  # type: ignore[union-attr]
    reader.start()
    process.stdin.write("/start\n")
    process.stdin.flush()
    seen = []
    while not any("What would you like to do?" in line for line in seen):
        seen.append(lines.get(timeout=30))
    process.send_signal(signal.SIGINT)  # while the bot may still be printing or the console reading
    assert process.wait(timeout=30) == 0
    reader.join(timeout=10)  # the pipe closed with the process: every line is in the queue
    err = process.stderr.read() if process.stderr else ""
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert "Traceback" not in "".join(seen + rest) + err
    assert "-- bye" in "".join(rest)


async def test_a_link_mode_delivery_with_the_locker_open_app_clip(database_url: str) -> None:
    """KEY_MODE=link: the key is a Locker Open link, drawn within 80 columns; its Open locker button (or
    /open, or /use) opens the locker as Harbor's app clip would, and the delivery completes."""
    screen = Screen()

    async def person() -> AsyncIterator[str]:
        assert "Keys are link keys (KEY_MODE)" in screen.text
        yield "/dropoff"
        yield f"/loc {SF_TEXT}"
        yield screen.number("Civic Center")
        mark = len(screen.blocks)
        yield screen.number("small")  # a drop-off request: Harbor picks the locker, the key comes at once
        after_size = screen.since(mark)
        assert "the QR code holds no key" not in after_size
        [drawing] = screen.qr_drawings()
        link = read_drawing(drawing)  # the QR holds the link the Open locker button opens
        assert link.startswith("https://") and "token=" in link
        assert f"key: a dropoff Locker Open link · {link}" in after_size

        mark = len(screen.blocks)
        yield screen.number("Open locker")  # the phone hands the link to the app clip
        after_open = await screen.wait_for("Your item is in locker", mark)
        assert "Locker Open: you opened the link at the tower" in after_open
        assert "you put the item in and closed the door" in after_open
        mark = len(screen.blocks)
        yield "/open"  # the same link again: a link opens once
        assert "Link already used (409)" in screen.since(mark)

        yield screen.number("pick it up myself")
        yield screen.number("pickup key")
        assert "key: a pickup Locker Open link" in screen.text
        mark = len(screen.blocks)
        yield "/use"  # /use opens the newest key, a link here
        after_use = await screen.wait_for("is complete", mark)
        assert "you took the item and closed the door" in after_use

    code = await run_console(person(), screen, user_name="Alice", database_url=database_url, key_mode="link",
                             **FAST_WATCH)  # fmt: skip
    assert code == 0
    assert "that did not work" not in screen.text and "no key yet" not in screen.text


async def test_an_admin_in_the_console(tmp_path: Path) -> None:
    screen = Screen()
    typed = ["/deliveries", "/as 2 Bob", "/deliveries"]
    assert await run_console(typed, screen, admin=True) == 0
    text = screen.text
    assert "Admins (ADMIN_IDS): 1 (you); /as ID becomes one of them." in text
    assert "There are no deliveries yet." in text  # id 1 is an admin
    assert "This command is for the service's admins" in text[text.index("you are now Bob") :]


async def test_qr_full_draws_one_module_per_column_and_off_draws_nothing(tmp_path: Path) -> None:
    for mode in ("full", "off"):
        screen = Screen()

        async def person(screen: Screen = screen) -> AsyncIterator[str]:
            async for line in walk_to_the_key(screen):
                yield line
            assert "key: dropoff" in screen.text

        assert await run_console(person(), screen, qr=mode) == 0
        drawings = screen.qr_drawings()
        if mode == "off":
            assert drawings == []
        else:
            [drawing] = drawings
            assert len(drawing.split("\n")[0]) > 80  # an SDK key with its token: ~150 modules
            assert set(drawing) <= set(" ▀▄█\n") and '"kind":"dropoff"' in read_drawing(drawing, columns=200)
