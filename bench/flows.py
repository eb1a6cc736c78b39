"""Bot API calls of what follows a drop-off, for one sender and one recipient, with nothing else going on.

* handover: one watch round finds the item in -> the sender taps "pickup link" -> the recipient opens
  the link -> both are told;
* pickup: the recipient taps "pickup key" -> uses it at the tower -> one watch round finds the locker
  free -> both are told.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from bench.driver import ANSWER_SECONDS, real_calls, session, settle
from bench.world import TOKEN, Target, World, read_key

LINK = re.compile(r"https://t\.me/\S+\?start=[A-Za-z0-9_-]+")


async def handover_and_pickup(world: World, target: Target, first_user: int) -> dict[str, Any]:
    emulator, proc = target.emulator, target.proc
    assert proc is not None
    sender = emulator.user(first_user, "Sender", language_code="en", bot_token=TOKEN)
    recipient = emulator.user(first_user + 1, "Recipient", language_code="en", bot_token=TOKEN)
    out: dict[str, Any] = {}
    done = await session(sender, world.points[0], 0.0, 0.0)
    if done.photo is None:
        return {"error": done.error}
    try:
        key = read_key(done.photo)
        world.simulator.use_token(key.payload, key.payload_auth, key.sdk_token)
        await settle(emulator)
        start = len(emulator.calls)
        sender.mark()
        await proc.watch()
        inside = await sender.wait_for("in locker", timeout=ANSWER_SECONDS)
        await sender.press("pickup link", inside, timeout=ANSWER_SECONDS)
        made = await sender.wait_for(LINK, timeout=ANSWER_SECONDS)
        found = LINK.search(made.content or "")
        assert found is not None
        await recipient.open_link(found.group(0))
        waiting = await recipient.wait_for(lambda m: any("key" in b.lower() for b in m.buttons), timeout=ANSWER_SECONDS)
        await settle(emulator)
        out["handover"] = Counter(c.method for c in real_calls(emulator.calls[start:]))
        start = len(emulator.calls)
        await recipient.press("pickup key", waiting, timeout=ANSWER_SECONDS)
        photo = await recipient.wait_for(lambda m: m.photo is not None, timeout=ANSWER_SECONDS)
        assert photo.photo is not None
        key = read_key(photo.photo)
        world.simulator.use_token(key.payload, key.payload_auth, key.sdk_token)
        sender.mark()
        await proc.watch()
        await sender.wait_for(lambda m: "collected" in (m.content or "").lower(), timeout=ANSWER_SECONDS)
        await settle(emulator)
        out["pickup"] = Counter(c.method for c in real_calls(emulator.calls[start:]))
    except Exception as exc:  # an older tree may word or order things differently: report, don't die
        out["error"] = f"{type(exc).__name__}: {exc}"[:300]
    return out
