"""The `database` line of `python -m bot doctor`: DATABASE_URL answers, its schema is at this code's
head, and (PostgreSQL) advisory locks work, which the many-process mode relies on (docs/design.md §8).

Doctor only looks: it never creates a database file nor migrates one.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from bot.config import Settings
from storage.engine import async_url, is_sqlite_memory, make_async_engine, make_async_session_factory, redacted
from storage.gauges import schema_revision
from storage.migrate import head_revision, schema_position

# Any key no other code takes: doctor only proves it can take and give back a lock.
DOCTOR_LOCK_KEY = 0x4841524244  # "HARBD"


class DatabaseProblem(Exception):
    """One sentence for the operator (it names the database)."""


async def check_database(settings: Settings) -> str:
    name = redacted(settings.database_url)
    url = async_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not is_sqlite_memory(url):
        path = Path(make_url(url).database or "")
        if not os.path.exists(path):  # noqa: ASYNC240  (one stat, in a command-line check)
            raise DatabaseProblem(
                f"{name}: the file {path} does not exist (the bot creates it at its first start; "
                "check DATABASE_URL if it should be there)"
            )
    engine = make_async_engine(url)
    try:
        try:
            revision = await schema_revision(make_async_session_factory(engine))
        except DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
            raise DatabaseProblem(f"cannot connect to {name}: {reason}") from None
        except (SQLAlchemyError, OSError) as exc:
            raise DatabaseProblem(f"cannot connect to {name}: {type(exc).__name__}") from None
        position = schema_position(revision)
        if position == "behind":
            at = f"is at revision {revision}" if revision else "has no harbor-bot schema"
            raise DatabaseProblem(
                f"{name} {at}, this code needs {head_revision()}: start the bot once (it migrates) or run "
                "`python -m storage.migrate upgrade --url $DATABASE_URL`"
            )
        schema = f"schema at {revision}" + (
            " (newer than this code's head: it only adds)" if position == "ahead" else ""
        )
        locks = ""
        if engine.dialect.name == "postgresql":
            async with engine.connect() as connection:
                taken = (
                    await connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": DOCTOR_LOCK_KEY})
                ).scalar()
                given = (
                    await connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": DOCTOR_LOCK_KEY})
                ).scalar()
            if not (taken and given):
                raise DatabaseProblem(f"{name} answers but refused an advisory lock: many `web` processes need them")
            locks = ", advisory locks work"
        return f"{name} answers, {schema}{locks}"
    finally:
        await engine.dispose()
