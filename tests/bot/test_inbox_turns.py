"""The inbox keeps each chat's order without the wake loop: a chat's next update is taken the moment its
predecessor is marked done, even when it was recorded while that mark was on its way (bot/inbox.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from telegram import Update

from bot.config import Settings
from bot.inbox import Inbox
from storage.repository import Repository

CHAT = 5


def _message(update_id: int, text: str) -> Update:
    ana = {"id": CHAT, "first_name": "Ana"}
    message = {"message_id": update_id, "date": 1_700_000_000, "text": text}
    message |= {"chat": {**ana, "type": "private"}, "from": {**ana, "is_bot": False}}
    return Update.de_json({"update_id": update_id, "message": message}, None)


async def _refuse(update: Update, exc: BaseException) -> None:
    raise AssertionError(f"nothing is refused here: {exc!r}")


async def test_the_next_update_recorded_while_the_previous_is_being_marked_done_is_taken_at_once(
    repo: Repository,
) -> None:
    settings = Settings.model_construct(inbox_lease_seconds=30, inbox_retention_hours=24)
    inbox = Inbox(repo, "me", settings, _refuse, alone=True)
    first, second = _message(1, "/my"), _message(2, "cancel")

    await inbox.receive_all([first])
    assert (await asyncio.wait_for(inbox.queue.get(), 1)) is first

    # The mark of the first is on its way (its transaction waits for the connection) while the second
    # is recorded: the second's INSERT still sees the first open, so it is not taken with it.
    gate, marking = asyncio.Event(), asyncio.Event()
    finish = inbox.store.finish_updates

    async def held_up(*args: Any, **kwargs: Any) -> Any:
        marking.set()
        await gate.wait()
        return await finish(*args, **kwargs)

    inbox.store.finish_updates = held_up  # type: ignore[method-assign]
    await inbox.finished(first)  # its mark goes out shortly after (nothing of the chat waits yet)
    await asyncio.wait_for(marking.wait(), 1)
    await inbox.receive_all([second])
    assert inbox.queue.empty()
    gate.set()

    taken = await asyncio.wait_for(inbox.queue.get(), 1)  # at once, not at the wake loop's next round
    assert isinstance(taken, Update) and taken.update_id == second.update_id
    assert inbox.in_hand == 1
