"""PTB persistence in the bot's own database (table `ptb_persistence`, model PersistenceRecord).

The only module of `storage` that imports `telegram`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from telegram.ext import BasePersistence, PersistenceInput
from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey

from storage.models import PersistenceRecord
from storage.types import utcnow

log = logging.getLogger(__name__)

USER_DATA = "user_data"
CHAT_DATA = "chat_data"
BOT_DATA = "bot_data"
CALLBACK_DATA = "callback_data"
CONVERSATION = "conversation:"  # + the ConversationHandler's name
SINGLETON_KEY = ""

_T = TypeVar("_T")
Data = dict[Any, Any]


class SQLPersistence(BasePersistence[Data, Data, Data]):
    """user_data, chat_data, bot_data, callback_data and conversation states as JSON rows.

    Everything stored must be JSON-able: dicts with str keys, lists, str, int, float, bool, None.
    That includes the conversation states and the VALUES of arbitrary callback data (what the bot puts
    in InlineKeyboardButton.callback_data): keep them dicts/lists/str/int. Tuples come back as lists
    and int dict keys as str keys (a warning is logged when a write would change the data like that);
    anything else (datetime, objects) raises TypeError, which PTB hands to the error handlers.
    The conversation keys and PTB's callback-data bookkeeping get their exact shapes (tuples) back.

    Whatever PTB hands to update_* is written at once, one short transaction per row, so a crash
    loses nothing PTB had passed on; PTB itself calls update_* every `update_interval` seconds and at
    shutdown, so set a short interval if that window matters. flush() has nothing left to do.
    Rows whose JSON did not change since the last write or load are not rewritten.

    The refresh_* hooks do nothing: this process is the only writer, so memory is never older than the
    database. Put no live objects (clients, services) into a stored mapping: with the default
    store_data, bot_data is stored too, so an app that keeps its services in bot_data must pass
    `store_data=PersistenceInput(bot_data=False)`.
    """

    def __init__(
        self,
        session_factory: Callable[[], Session],
        *,
        store_data: PersistenceInput | None = None,
        update_interval: float = 60,
    ) -> None:
        super().__init__(store_data=store_data, update_interval=update_interval)
        self._session_factory = session_factory
        # Queries run in a worker thread (asyncio.to_thread) so a slow disk or a PostgreSQL round trip
        # never stalls the event loop, one at a time (the lock): PTB fires all its update_* calls at
        # once, and serialising them keeps SQLite free of writer contention, leaves the connection pool
        # and the default executor to the rest of the bot, and keeps writes in call order.
        self._lock = asyncio.Lock()
        self._digests: dict[tuple[str, str], bytes] = {}

    # --- reading ---------------------------------------------------------------------------------

    async def get_user_data(self) -> dict[int, Data]:
        return {int(key): value for key, value in (await self._load_kind(USER_DATA)).items()}

    async def get_chat_data(self) -> dict[int, Data]:
        return {int(key): value for key, value in (await self._load_kind(CHAT_DATA)).items()}

    async def get_bot_data(self) -> Data:
        return (await self._load_kind(BOT_DATA)).get(SINGLETON_KEY, {})

    async def get_callback_data(self) -> CDCData | None:
        raw = (await self._load_kind(CALLBACK_DATA)).get(SINGLETON_KEY)
        if raw is None:
            return None
        keyboards, queries = raw
        return (
            [(str(uuid), float(stamp), dict(buttons)) for uuid, stamp, buttons in keyboards],
            {str(query_id): str(uuid) for query_id, uuid in queries.items()},
        )

    async def get_conversations(self, name: str) -> ConversationDict:
        stored = await self._load_kind(CONVERSATION + name)
        return {tuple(json.loads(key)): state for key, state in stored.items()}

    # --- writing ---------------------------------------------------------------------------------

    async def update_user_data(self, user_id: int, data: Data) -> None:
        await self._write(USER_DATA, str(user_id), data)

    async def update_chat_data(self, chat_id: int, data: Data) -> None:
        await self._write(CHAT_DATA, str(chat_id), data)

    async def update_bot_data(self, data: Data) -> None:
        await self._write(BOT_DATA, SINGLETON_KEY, data)

    async def update_callback_data(self, data: CDCData) -> None:
        keyboards, queries = data
        for uuid, _stamp, buttons in keyboards:
            _warn_if_lossy(buttons, CALLBACK_DATA, uuid)
        await self._write(CALLBACK_DATA, SINGLETON_KEY, [[list(k) for k in keyboards], queries], check=False)

    async def update_conversation(self, name: str, key: ConversationKey, new_state: object | None) -> None:
        row_key = _dumps(list(key))
        if new_state is None:
            await self._delete(CONVERSATION + name, row_key)
        else:
            await self._write(CONVERSATION + name, row_key, new_state)

    async def drop_user_data(self, user_id: int) -> None:
        await self._delete(USER_DATA, str(user_id))

    async def drop_chat_data(self, chat_id: int) -> None:
        await self._delete(CHAT_DATA, str(chat_id))

    async def refresh_user_data(self, user_id: int, user_data: Data) -> None:
        """Nothing to do: memory is authoritative (see the class docstring)."""

    async def refresh_chat_data(self, chat_id: int, chat_data: Data) -> None:
        """Nothing to do: memory is authoritative (see the class docstring)."""

    async def refresh_bot_data(self, bot_data: Data) -> None:
        """Nothing to do: memory is authoritative (see the class docstring)."""

    async def flush(self) -> None:
        """Nothing to do: every update_* call has already been committed."""

    # --- the database ----------------------------------------------------------------------------

    async def _run(self, function: Callable[..., _T], *args: Any) -> _T:
        async with self._lock:
            return await asyncio.to_thread(function, *args)

    async def _load_kind(self, kind: str) -> dict[str, Any]:
        rows = await self._run(self._select_kind, kind)
        out: dict[str, Any] = {}
        for key, text in rows:
            self._digests[kind, key] = _digest(text)
            out[key] = json.loads(text)
        return out

    async def _write(self, kind: str, key: str, value: Any, *, check: bool = True) -> None:
        try:
            text = _dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{kind}[{key!r}] cannot be stored as JSON: {exc}") from exc
        if check:
            _warn_if_lossy(value, kind, key, text)
        digest = _digest(text)
        if self._digests.get((kind, key)) == digest:
            return
        await self._run(self._upsert, kind, key, text)
        self._digests[kind, key] = digest

    async def _delete(self, kind: str, key: str) -> None:
        await self._run(self._delete_row, kind, key)
        self._digests.pop((kind, key), None)

    def _select_kind(self, kind: str) -> list[tuple[str, str]]:
        with self._session_factory() as session:
            stmt = select(PersistenceRecord.key, PersistenceRecord.data).where(PersistenceRecord.kind == kind)
            return [(key, data) for key, data in session.exec(stmt)]

    def _upsert(self, kind: str, key: str, text: str) -> None:
        # UPDATE, then INSERT when there was no row: portable, and unlike INSERT .. ON CONFLICT it
        # does not burn a sequence value on every update of an existing row.
        change = update(PersistenceRecord).where(*_row(kind, key)).values(data=text, updated_at=utcnow())
        with self._session_factory() as session:
            if not session.exec(change).rowcount:
                try:
                    session.exec(insert(PersistenceRecord).values(kind=kind, key=key, data=text, updated_at=utcnow()))
                except IntegrityError:  # another process inserted it meanwhile
                    session.rollback()
                    session.exec(change)
            session.commit()

    def _delete_row(self, kind: str, key: str) -> None:
        with self._session_factory() as session:
            session.exec(delete(PersistenceRecord).where(*_row(kind, key)))
            session.commit()


def _row(kind: str, key: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return col(PersistenceRecord.kind) == kind, col(PersistenceRecord.key) == key


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _warn_if_lossy(value: Any, kind: str, key: str, text: str | None = None) -> None:
    try:
        loaded = json.loads(text if text is not None else _dumps(value))
    except (TypeError, ValueError):
        return  # _write reports it
    if loaded != value:
        log.warning("%s[%r] changes shape as JSON (tuples become lists, non-str keys str)", kind, key)
