from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PersistenceInput,
    filters,
)
from telegram.request import BaseRequest, RequestData

from storage.engine import make_engine, make_session_factory
from storage.models import PersistenceRecord
from storage.persistence import SQLPersistence

Factory = Callable[[], Session]

USER = 7_000_000_001  # beyond 32 bits, like real Telegram ids
CHAT = USER
USER_JSON = {"id": USER, "is_bot": False, "first_name": "Ada"}
BOT_JSON = {"id": 123, "is_bot": True, "first_name": "Harbor", "username": "harbor_test_bot"}


def _rows(factory: Factory) -> int:
    with factory() as session:
        return session.exec(select(func.count()).select_from(PersistenceRecord)).one()


# --- the persistence API, called as PTB calls it ----------------------------------------------------


async def test_user_chat_bot_data_round_trip(session_factory: Factory) -> None:
    first = SQLPersistence(session_factory)
    assert await first.get_user_data() == {}
    assert await first.get_chat_data() == {}
    assert await first.get_bot_data() == {}
    assert await first.get_callback_data() is None
    await first.update_user_data(USER, {"lang": "en", "draft": {"location_id": 5, "sizes": [1, 2]}})
    await first.update_user_data(42, {"n": 1})
    await first.update_chat_data(-100123, {"pinned": None})
    await first.update_bot_data({"starts": 3})
    await first.update_user_data(42, {"n": 2})  # an update, not a second row
    await first.drop_chat_data(-100123)
    await first.flush()

    second = SQLPersistence(session_factory)  # a restart
    assert await second.get_user_data() == {
        USER: {"lang": "en", "draft": {"location_id": 5, "sizes": [1, 2]}},
        42: {"n": 2},
    }
    assert await second.get_chat_data() == {}
    assert await second.get_bot_data() == {"starts": 3}
    await second.drop_user_data(42)
    assert list(await SQLPersistence(session_factory).get_user_data()) == [USER]
    assert _rows(session_factory) == 2


async def test_conversations_round_trip(session_factory: Factory) -> None:
    first = SQLPersistence(session_factory)
    assert await first.get_conversations("dropoff") == {}
    await first.update_conversation("dropoff", (CHAT, USER), "choose_size")
    await first.update_conversation("dropoff", (CHAT, USER, "inline-msg-1"), 3)
    await first.update_conversation("other", (1, 1), 0)
    await first.update_conversation("dropoff", (CHAT, USER), "confirm")
    second = SQLPersistence(session_factory)
    conversations = await second.get_conversations("dropoff")
    assert conversations == {(CHAT, USER): "confirm", (CHAT, USER, "inline-msg-1"): 3}
    assert all(type(key) is tuple for key in conversations)
    await second.update_conversation("dropoff", (CHAT, USER), None)  # None ends it: the row goes
    assert await SQLPersistence(session_factory).get_conversations("dropoff") == {(CHAT, USER, "inline-msg-1"): 3}
    assert await SQLPersistence(session_factory).get_conversations("other") == {(1, 1): 0}


async def test_callback_data_comes_back_in_ptb_shapes(session_factory: Factory) -> None:
    data = (
        [
            ("kb-1", 1_700_000_000.5, {"btn-a": {"delivery": 7, "size": "M"}, "btn-b": ["x", 1]}),
            ("kb-2", 1_700_000_001.0, {"btn-c": "plain"}),
        ],
        {"query-1": "kb-1"},
    )
    await SQLPersistence(session_factory).update_callback_data(data)
    restored = await SQLPersistence(session_factory).get_callback_data()
    assert restored == data
    assert restored is not None
    assert type(restored) is tuple
    assert type(restored[0]) is list
    assert all(type(entry) is tuple and type(entry[1]) is float for entry in restored[0])


async def test_not_json_raises_and_lossy_warns(session_factory: Factory, caplog: pytest.LogCaptureFixture) -> None:
    persistence = SQLPersistence(session_factory)
    with pytest.raises(TypeError, match=r"user_data\['1'\] cannot be stored as JSON"):
        await persistence.update_user_data(1, {"when": object()})
    with caplog.at_level(logging.WARNING, logger="storage.persistence"):
        await persistence.update_user_data(2, {"pair": (1, 2), 5: "five"})
    assert "changes shape as JSON" in caplog.text
    assert await SQLPersistence(session_factory).get_user_data() == {2: {"pair": [1, 2], "5": "five"}}


async def test_unchanged_data_is_not_rewritten(session_factory: Factory) -> None:
    persistence = SQLPersistence(session_factory)
    writes: list[tuple[str, str]] = []
    real = persistence._upsert

    def counting(kind: str, key: str, text: str) -> None:
        writes.append((kind, key))
        real(kind, key, text)

    persistence._upsert = counting  # type: ignore[method-assign]
    for _ in range(3):
        await persistence.update_bot_data({"a": 1})
    await persistence.update_bot_data({"a": 2})
    assert writes == [("bot_data", ""), ("bot_data", "")]

    restarted = SQLPersistence(session_factory)
    restarted._upsert = counting  # type: ignore[method-assign]
    assert await restarted.get_bot_data() == {"a": 2}
    await restarted.update_bot_data({"a": 2})  # what was loaded is known to be stored
    assert len(writes) == 2


# --- a real PTB Application, its Bot API answered in process ------------------------------------------


class FakeBotAPI(BaseRequest):
    """Answers the few Bot API methods these tests need; records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **_timeouts: Any
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        self.calls.append((name, params))
        result: Any
        if name == "getMe":
            result = BOT_JSON
        elif name == "sendMessage":
            result = {
                "message_id": len(self.calls),
                "date": 0,
                "chat": {"id": params["chat_id"], "type": "private"},
                "from": BOT_JSON,
                "text": params["text"],
            }
            if "reply_markup" in params:
                result["reply_markup"] = params["reply_markup"]
        elif name == "answerCallbackQuery":
            result = True
        else:
            return 400, json.dumps({"ok": False, "error_code": 400, "description": f"no {name}"}).encode()
        return 200, json.dumps({"ok": True, "result": result}).encode()


ASKED = "asked_name"


def _build(factory: Factory, api: FakeBotAPI, seen: list[tuple[str, Any]]) -> Application:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
        assert update.message is not None
        context.user_data["starts"] = context.user_data.get("starts", 0) + 1  # type: ignore[index,union-attr]
        context.chat_data["lang"] = "en"  # type: ignore[index]
        context.bot_data["total_starts"] = context.bot_data.get("total_starts", 0) + 1
        button = InlineKeyboardButton("M", callback_data={"delivery": 7, "size": "M"})
        await update.message.reply_text("Your name?", reply_markup=InlineKeyboardMarkup([[button]]))
        return ASKED

    async def got_name(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None
        seen.append(("name", update.message.text))
        return ConversationHandler.END

    async def picked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        seen.append(("picked", update.callback_query.data))
        await update.callback_query.answer()

    app = (
        Application.builder()
        .token("123:abc")
        .request(api)
        .persistence(SQLPersistence(factory, update_interval=3600))
        .arbitrary_callback_data(True)
        .updater(None)
        .build()
    )
    app.add_handler(
        ConversationHandler(
            entry_points=[CommandHandler("start", start)],
            states={ASKED: [MessageHandler(filters.TEXT & ~filters.COMMAND, got_name)]},
            fallbacks=[],
            persistent=True,
            name="x",
        )
    )
    app.add_handler(CallbackQueryHandler(picked))
    return app


def _message(update_id: int, text: str) -> dict[str, Any]:
    entities = [{"type": "bot_command", "offset": 0, "length": len(text)}] if text.startswith("/") else []
    return {
        "update_id": update_id,
        "message": {
            "message_id": 100 + update_id,
            "date": 0,
            "chat": {"id": CHAT, "type": "private"},
            "from": USER_JSON,
            "text": text,
            "entities": entities,
        },
    }


async def _feed(app: Application, data: dict[str, Any]) -> None:
    update = Update.de_json(data, app.bot)
    app.bot.insert_callback_data(update)  # type: ignore[attr-defined]  # what ExtBot.get_updates does
    await app.process_update(update)


async def test_application_restart_keeps_conversation_data_and_buttons(database_url: str, engine: Engine) -> None:
    pytest.importorskip("cachetools", reason="arbitrary callback data needs python-telegram-bot[callback-data]")
    api, seen = FakeBotAPI(), []

    first = _build(make_session_factory(engine), api, seen)
    await first.initialize()
    await _feed(first, _message(1, "/start"))
    sent = [params for name, params in api.calls if name == "sendMessage"]
    assert len(sent) == 1
    callback_data = sent[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert isinstance(callback_data, str)  # PTB replaced our dict by an id; the dict stays in its cache
    await first.shutdown()  # PTB writes everything through the persistence

    # A new process: its own engine, its own persistence, the same database.
    engine2 = make_engine(database_url)
    second = _build(make_session_factory(engine2), api, seen)
    await second.initialize()
    assert second.user_data[USER] == {"starts": 1}
    assert second.chat_data[CHAT] == {"lang": "en"}
    assert second.bot_data == {"total_starts": 1}
    await _feed(second, _message(2, "Ada Lovelace"))  # answered in the restored state
    await _feed(
        second,
        {
            "update_id": 3,
            "callback_query": {
                "id": "cq-1",
                "from": USER_JSON,
                "chat_instance": "ci",
                "data": callback_data,
                "message": {**_message(3, "Your name?")["message"], "from": BOT_JSON},
            },
        },
    )
    assert seen == [("name", "Ada Lovelace"), ("picked", {"delivery": 7, "size": "M"})]
    await second.shutdown()

    third = SQLPersistence(make_session_factory(engine2))
    assert await third.get_conversations("x") == {}  # the conversation ended: its row is gone
    assert (await third.get_user_data())[USER] == {"starts": 1}
    engine2.dispose()


async def test_application_with_bot_data_not_stored(session_factory: Factory) -> None:
    """How app.py keeps live services in bot_data: PersistenceInput(bot_data=False)."""
    persistence = SQLPersistence(session_factory, store_data=PersistenceInput(bot_data=False, callback_data=False))
    app = Application.builder().token("123:abc").request(FakeBotAPI()).persistence(persistence).updater(None).build()
    app.bot_data["service"] = object()  # not JSON-able, never handed to the persistence
    await app.initialize()
    assert "service" in app.bot_data
    await _feed(app, _message(1, "hello"))
    await app.shutdown()
    assert _rows(session_factory) == 0
