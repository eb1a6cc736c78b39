"""Every Telegram update takes effect once (issue 19), in polling and webhook mode alike.

Telegram delivers an update *at least once*: a webhook update again whenever no 2xx was read in time,
a polled one again after a crash before the next getUpdates confirmed it. So every update goes
through the inbox (storage InboxUpdate) before anything acts on it:

1. **Recorded** by `update_id` (INSERT ... ON CONFLICT DO NOTHING): `POST /telegram` records a pushed
   update before it answers 200; a polled one is recorded from `InboxQueue.put`, where PTB's Updater
   hands each update of a batch over: the batch in one transaction (its order kept), and the next
   getUpdates (which confirms the batch to Telegram) waits until it is recorded (`GatedRequest`). A repeat, on
   any process, at any time within INBOX_RETENTION_HOURS, finds its row and is dropped.
2. **Claimed** under a lease (INBOX_LEASE_SECONDS, from the database's clock, renewed while it runs)
   only when it is the oldest open update of its chat, so a chat's updates take effect in order even
   when they reach different processes; then handed to PTB's own update queue and processed there.
3. **Done** when its handlers have run (`InboxProcessor`, PTB's extension point around each update):
   the row is marked and the chat's next open update, if any, claimed, in the next transaction this
   process makes on the inbox (the next batch's record) or DONE_DELAY later, whichever comes first.

The claim reads, in its transaction, the language each sender chose (/language), which the handlers
answer in (`chosen_language`): no update costs a query of its own for it.

A process that dies after the claim leaves the row leased; when the lease runs out, the next
`take_over` of any process (whose wake loop wakes at the lease's end, bot/wake.py) claims and runs it.
The handlers are not all idempotent by themselves, so a taken-over update may repeat a message its first run had sent;
what counts (a reservation, a key, a state change, an announcement) is keyed in the database and
happens once. When the database cannot record an update at all, its sender is told at once to try
again (bot/handlers/outage.py) and the update is dropped: nothing was changed.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from telegram import Bot, Update
from telegram.ext import BaseUpdateProcessor, SimpleUpdateProcessor
from telegram.request import BaseRequest, HTTPXRequest

from bot.config import Settings
from bot.request_wrap import DelegatingRequest, Send
from storage.engine import is_outage
from storage.repo_inbox import Claimed, InboxStore
from storage.types import utcnow

log = logging.getLogger(__name__)

TAKE_OVER_LIMIT = 50  # updates one take-over claims at most (the rest come at the next round)
# How long a handled update may wait to be marked done, so that the marks of several updates (or of one
# and the next batch's record) share a transaction; a chat's next update on another process waits this
# long at most for its turn. A crash meanwhile only means the update runs again (see above).
DONE_DELAY = 0.1
PURGE_EVERY = 600.0  # seconds between deletions of rows older than the retention
Refuse = Callable[[Update, BaseException], Awaitable[None]]
Admit = Callable[[Update], Awaitable[bool]]


def chat_key(update: Update) -> int | None:
    """What a chat's order is kept by: its chat, else its sender (None: no order to keep)."""
    if update.effective_chat is not None:
        return update.effective_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    return None


class Inbox:
    def __init__(
        self,
        store: InboxStore,
        owner: str,
        settings: Settings,
        refuse: Refuse,
        *,
        admit: Admit | None = None,
        alone: bool = False,
    ) -> None:
        self.store = store
        self.alone = alone  # the only process on its database (SQLite): every update passes through it
        self.owner = owner
        self.lease = timedelta(seconds=settings.inbox_lease_seconds)
        self.retention = timedelta(hours=settings.inbox_retention_hours)
        self.queue = InboxQueue(self)
        self.bot: Bot | None = None  # set by the composition root once the Application exists
        self._refuse = refuse
        self._admit = admit  # the sender's budget: an update over it is neither recorded nor processed
        self._in_hand: dict[int, int | None] = {}  # update_id -> chat key, claimed by this process
        self._languages: dict[int, str | None] = {}  # update_id -> its sender's chosen language, read with the claim
        # Handled, not yet marked done in the database (update_id -> chat key): marked by the next
        # transaction this process makes on the inbox anyway, or after DONE_DELAY (issue 18).
        self._done: dict[int, int | None] = {}
        # Chats with updates this process recorded that wait for an earlier one of theirs: when that one
        # is done, it is marked at once, so the next is taken without DONE_DELAY.
        self._waiting: Counter[int] = Counter()
        self._done_flusher: asyncio.Task[None] | None = None
        self._owed = False  # marking failed (the database was away): the wake loop's next round retries
        self._none_in_hand = asyncio.Event()
        self._renewer: asyncio.Task[None] | None = None
        self._purged_at = 0.0
        self._pending: list[Update] = []  # polled updates not yet recorded
        self._flusher: asyncio.Task[None] | None = None
        # Set when PTB stops taking updates from its queue: from then on nothing more is handed over (it
        # would never be taken out, and PTB's stop waits for the queue); what is recorded is left to
        # the other processes, or to this one's next start, once the lease (if any) runs out.
        self.stopping = False

    @property
    def in_hand(self) -> int:
        return len(self._in_hand)

    @property
    def quiet(self) -> bool:
        """Nothing in hand, nothing handled left to mark done, nothing recorded here waiting for its turn."""
        return not self._in_hand and not self._done and not +self._waiting

    def chosen_language(self, update: Update) -> tuple[bool, str | None]:
        """(known, language): the language the person of a private chat chose, as read with the claim."""
        if update.update_id in self._languages:
            return True, self._languages[update.update_id]
        return False, None

    @property
    def owes_marks(self) -> bool:
        """Handled updates the database has not yet heard are done (it was away when they were marked):
        the next `take_over` marks them, and until then their chats' next updates wait."""
        return self._owed

    def receive_soon(self, update: Update) -> None:
        """A polled update: recorded with the rest of its batch, in order, by one task; `recorded()`
        waits for it."""
        self._pending.append(update)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="inbox-intake")

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            await self.receive_all(batch)

    async def recorded(self) -> None:
        """Until every polled update handed over so far is recorded (or its sender told to retry)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.wait([self._flusher])

    async def receive(self, update: Update) -> None:
        """A pushed update: recorded, and run here at once when it is its chat's next."""
        await self.receive_all([update])

    async def receive_all(self, updates: list[Update]) -> None:
        """Record the updates within their senders' budgets, in one transaction (which also marks done
        what this process handled meanwhile); take those that are their chat's next."""
        admitted = [u for u in updates if self._admit is None or await self._admit(u)]
        if not admitted:
            return
        rows = [(u.update_id, chat_key(u), json.dumps(u.to_dict())) for u in admitted]
        known = {u.update_id: u for u in admitted}
        done = self._take_done()
        try:
            new, claimed = await self.store.receive_updates(
                rows,
                owner=self.owner,
                lease=self.lease,
                claim=not self.stopping,
                done=list(done),
                done_chats=self._next_of(done),
            )
        except Exception as exc:
            self._done.update(done)  # marked by the next attempt
            if not is_outage(exc):
                raise
            self._owed = self._owed or bool(done)
            for update in admitted:  # nothing recorded, nothing done: the senders try again
                await self._refuse(update, exc)
            return
        taken = {row.update_id for row in claimed.updates}
        for update in admitted:
            if update.update_id not in new:
                log.info("update %s arrived again: already taken in, ignored", update.update_id)
            elif update.update_id not in taken and (chat := chat_key(update)) is not None:
                self._waiting[chat] += 1
        await self._take(claimed, known)

    async def finished(self, update: object) -> None:
        """The update's handlers have run: it is marked done (with the next transaction on the inbox, or
        after DONE_DELAY), and then the chat's next update, if any, is taken."""
        if not isinstance(update, Update) or update.update_id not in self._in_hand:
            return
        chat = self._in_hand.pop(update.update_id)
        self._languages.pop(update.update_id, None)
        if not self._in_hand:
            self._none_in_hand.set()
        self._done[update.update_id] = chat
        if self.stopping or (chat is not None and self._waiting[chat] > 0):
            # Now: the process is going (nothing of the chat is taken next), or the chat's next waits.
            await self.flush_done()
        elif self._done_flusher is None or self._done_flusher.done():
            # A context of its own: the marks belong to no update (nothing of this one's shows through).
            self._done_flusher = asyncio.create_task(
                self._flush_done_soon(), name="inbox-done", context=contextvars.Context()
            )

    async def _flush_done_soon(self) -> None:
        await asyncio.sleep(DONE_DELAY)
        await self.flush_done()

    async def flush_done(self) -> None:
        """Mark done what was handled, and take the next update of those chats, in one transaction."""
        done = self._take_done()
        if not done:
            return
        asked = [] if self.stopping else self._next_of(done)
        try:
            claimed = await self.store.finish_updates(list(done), asked, owner=self.owner, lease=self.lease)
        except Exception as exc:
            self._done.update(done)  # the lease keeps other processes off them until the next attempt
            if not is_outage(exc):
                raise
            self._owed = True
            log.warning("%s update(s) handled, not yet marked done (%s)", len(done), type(exc).__name__)
            return
        self._owed = False
        taken = {row.chat_id for row in claimed.updates}
        for chat in asked:
            if chat not in taken:  # what waited was taken by another process, or never was
                self._waiting.pop(chat, None)
        await self._take(claimed)
        # Alone, a chat's next is claimed with the marks only when it was seen waiting. One recorded
        # while these marks were on their way (its INSERT still saw its predecessor open) started waiting
        # after they were asked for: its turn came with them, so it is claimed now, not by the wake loop.
        late = [c for c in self._chats(done) if c not in asked and c not in taken and self._waiting[c] > 0]
        if late and not self.stopping:
            await self._take(await self.store.finish_updates([], late, owner=self.owner, lease=self.lease))

    def _take_done(self) -> dict[int, int | None]:
        done, self._done = self._done, {}
        return done

    @staticmethod
    def _chats(done: dict[int, int | None]) -> list[int]:
        return sorted({chat for chat in done.values() if chat is not None})

    def _next_of(self, done: dict[int, int | None]) -> list[int]:
        """The chats whose next update to claim along with these marks: every one when other processes
        may hold a chat's next (they leave it to the process whose update was first); alone (SQLite),
        only those this process saw waiting."""
        chats = self._chats(done)
        return chats if not self.alone else [chat for chat in chats if self._waiting[chat] > 0]

    async def take_over(self) -> None:
        """When its wake loop finds one due: updates whose process died (lease over) or that wait for
        nobody; marks pending."""
        if self.stopping:
            return
        try:
            await self.flush_done()
            claimed = await self.store.claim_updates(self.owner, lease=self.lease, limit=TAKE_OVER_LIMIT)
            for row in claimed.updates:
                if row.attempts > 1:
                    log.info("update %s taken over (attempt %s)", row.update_id, row.attempts)
            await self._take(claimed)
            if time.monotonic() - self._purged_at > PURGE_EVERY:
                self._purged_at = time.monotonic()
                await self.store.forget_updates(done_before=utcnow() - self.retention)
        except Exception as exc:
            if not is_outage(exc):
                raise
            log.warning("inbox take-over skipped, the database is away: %s", type(exc).__name__)

    async def _take(self, claimed: Claimed, known: dict[int, Update] | None = None) -> None:
        """Hand the claimed updates to PTB; once it is stopping, give them back instead, so the next
        process to look (or this one's next start) takes them at once, not after the lease."""
        if not self.stopping:
            self._hand_over(claimed, known or {})
        elif claimed.updates:
            await self.store.release_updates(self.owner, [row.update_id for row in claimed.updates])

    def _hand_over(self, claimed: Claimed, known: dict[int, Update]) -> None:
        self._languages.update(claimed.languages)
        for row in claimed.updates:
            if row.update_id not in known and row.chat_id is not None and self._waiting[row.chat_id] > 0:
                self._waiting[row.chat_id] -= 1  # one that waited for its turn got it
            update = known.get(row.update_id) or Update.de_json(json.loads(row.body), self.bot)
            self._in_hand[row.update_id] = row.chat_id
            self._none_in_hand.clear()
            self.queue.put_nowait(update)  # PTB's fetcher takes it from here
        if self._in_hand and (self._renewer is None or self._renewer.done()):
            self._renewer = asyncio.create_task(self._renew_while_in_hand(), name="inbox-leases")

    async def _renew_while_in_hand(self) -> None:
        """One UPDATE for every update this process holds, a few times per lease, while it holds any."""
        while self._in_hand:
            try:
                await asyncio.wait_for(self._none_in_hand.wait(), self.lease.total_seconds() / 3)
                continue  # none left (the loop ends unless one was claimed meanwhile)
            except TimeoutError:
                pass
            try:
                await self.store.renew_updates(self.owner, list(self._in_hand), lease=self.lease)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                log.warning("could not renew the inbox leases: %s", type(exc).__name__)


class InboxQueue(asyncio.Queue[object]):
    """PTB's update queue with the inbox in front: an update the Updater puts is recorded (side by side
    with the rest of its batch) and comes out only once claimed; anything else (PTB's own stop signal)
    goes straight in."""

    def __init__(self, inbox: Inbox) -> None:
        super().__init__()
        self._inbox = inbox

    async def put(self, item: object) -> None:
        if isinstance(item, Update):
            self._inbox.receive_soon(item)
        else:
            self._inbox.stopping = True  # PTB's stop signal: the last item its fetcher takes out
            # What was handled is marked now, not by a timer that may not fire before the process ends
            # (a restart would otherwise find the chat's last update open, and wait for its lease).
            await self._inbox.flush_done()
            await super().put(item)


class GatedRequest(DelegatingRequest):
    """The getUpdates transport: each call first waits until the updates of the previous batch are
    recorded, since the call confirms them to Telegram (its `offset`), which then never sends them
    again."""

    def __init__(self, inbox: Inbox, inner: BaseRequest | None = None) -> None:
        super().__init__(inner or HTTPXRequest(connection_pool_size=1))
        self._inbox = inbox

    async def around(self, url: str, send: Send) -> tuple[int, bytes]:
        await self._inbox.recorded()
        return await send()


class InboxProcessor(BaseUpdateProcessor):
    """Around each update PTB processes: when its handlers have run, the inbox hears it is done.
    `inner` (the console's tracker) still sees every update."""

    def __init__(self, inbox: Inbox, inner: BaseUpdateProcessor | None = None) -> None:
        self._inner = inner or SimpleUpdateProcessor(256)
        super().__init__(self._inner.max_concurrent_updates)
        self._inbox = inbox

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        try:
            await self._inner.do_process_update(update, coroutine)
        finally:
            await self._inbox.finished(update)

    async def initialize(self) -> None:
        await self._inner.initialize()

    async def shutdown(self) -> None:
        await self._inner.shutdown()
