"""The language each person chose with /language (users.chosen_language).

Separate from storage/repository.py to keep each file about one thing; same session factory, same
rules: one short transaction per call, no Telegram.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col, select

from storage.models import User
from storage.repository import SessionFactory


class LanguageStore:
    def __init__(self, session_factory: SessionFactory) -> None:
        self._session = session_factory

    async def chosen(self, user_id: int) -> str | None:
        """What the user picked (None: no row, or never chose). One column by primary key: it is read for
        every update, so nothing more."""
        async with self._session() as session:
            return (await session.exec(select(User.chosen_language).where(col(User.id) == user_id))).first()

    async def choose(self, user_id: int, language: str | None) -> bool:
        """Store the user's choice (None: follow the Telegram client again); False when there is no such
        user yet (remember them first)."""
        async with self._session() as session:
            result = await session.execute(update(User).where(col(User.id) == user_id).values(chosen_language=language))
            await session.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]
