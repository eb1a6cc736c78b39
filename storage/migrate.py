"""Schema migrations (Alembic), applied in code: no alembic.ini needed at run time.

`upgrade(engine_or_url)` is idempotent and safe on every start. To author a new revision after
changing storage/models.py:

    python -m storage.migrate revision --url sqlite:///dev.sqlite3 -m "what changed"

(it upgrades that database to head first, then autogenerates against the models; check the result by
hand, then `tests/storage/test_migrations.py` proves the schema matches the models on both backends).
"""

from __future__ import annotations

import argparse
import ast
import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Connection, Engine, make_url

from storage.engine import is_sqlite_memory, make_engine, normalize_url, redacted

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic itself is imported only where a migration runs or is written (`_alembic_upgrade`,
# `_revision`): it is about 11 MB of every process's memory (issue 18), and a start on a database
# already at head, the usual start, and the health and doctor checks need only the revision ids, read
# from the migration files themselves (tests/storage/test_migrations.py checks they agree with Alembic).

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any constant: serialises concurrent upgrades of one PostgreSQL database (two bot processes starting).
_PG_LOCK_KEY = 0x4841524230  # "HARB0"
_URL_ENV = "HARBOR_BOT_MIGRATE_URL"


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@functools.cache
def _revisions() -> dict[str, str | None]:
    """Every migration's revision id and the one it revises, from the `revision` and `down_revision`
    assignments of the files in migrations/versions."""
    found: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        assigned: dict[str, object] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.AnnAssign | ast.Assign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                        assigned[target.id] = ast.literal_eval(node.value)
        revision, down = assigned.get("revision"), assigned.get("down_revision")
        if isinstance(revision, str) and (down is None or isinstance(down, str)):
            found[revision] = down
    return found


@functools.cache
def head_revision() -> str:
    """The one revision no other revises (migrations form a single line)."""
    revisions = _revisions()
    [head] = set(revisions) - set(revisions.values())
    return head


def _known_revisions() -> frozenset[str]:
    return frozenset(_revisions())


def schema_position(revision: str | None) -> Literal["current", "behind", "ahead"]:
    """Where a database at `revision` stands against this code: one this code does not know was made by a
    newer deploy (migrations only add, so this code still runs on it)."""
    if revision == head_revision():
        return "current"
    if revision is None or revision in _known_revisions():
        return "behind"
    return "ahead"


def upgrade(engine_or_url: Engine | str | URL, revision: str = "head") -> None:
    """Bring the database to `revision` (default: the latest). A no-op when it is already there."""
    engine, owned = _engine(engine_or_url)
    try:
        if revision == "head":
            with engine.connect() as connection:
                if _current(connection) == head_revision():
                    return  # the usual start: nothing to do, and Alembic stays unloaded
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            _refuse_unversioned(connection)
            _alembic_upgrade(connection, revision)
    finally:
        if owned:
            engine.dispose()


def upgrade_apart(url: str | URL) -> None:
    """`upgrade(url)` run by a short-lived child process, only when the database is behind: what the
    bot does on start, so Alembic never takes a place in its memory, not even on the first start or
    after a deploy (issue 18). The URL reaches the child through its environment, never its command
    line (where `ps` would show a password). An in-memory SQLite database exists only in this process:
    migrated here."""
    if current_revision(url) == head_revision():
        return
    if is_sqlite_memory(make_url(normalize_url(url))):
        upgrade(url)
        return
    env = {**os.environ, _URL_ENV: make_url(url).render_as_string(hide_password=False)}
    command = [sys.executable, "-m", "storage.migrate", "upgrade", "--url-env", _URL_ENV]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"migrating {redacted(url)} failed:\n{done.stderr.strip()[-2000:]}")


def current_revision(engine_or_url: Engine | str | URL) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    engine, owned = _engine(engine_or_url)
    try:
        with engine.connect() as connection:
            return _current(connection)
    finally:
        if owned:
            engine.dispose()


def _current(connection: Connection) -> str | None:
    """What alembic_version says (None: no such table, or empty), read without Alembic."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _alembic_upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), revision)


def _engine(engine_or_url: Engine | str | URL) -> tuple[Engine, bool]:
    if isinstance(engine_or_url, Engine):
        return engine_or_url, False
    return make_engine(engine_or_url), True


def _refuse_unversioned(connection: Connection) -> None:
    """Tables but no alembic_version: made by create_all or by hand; we cannot tell its revision."""
    if _current(connection) is not None:
        return
    tables = set(inspect(connection).get_table_names())
    if "deliveries" in tables or "ptb_persistence" in tables:
        raise RuntimeError(
            "the database has harbor-bot tables but no alembic_version; if its schema is exactly revision "
            f"{head_revision()}, stamp it (alembic stamp) before starting, otherwise start from an empty database"
        )


def _revision(url: str, message: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
        from alembic import command

        with engine.begin() as connection:
            command.revision(alembic_config(connection), message=message, autogenerate=True)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m storage.migrate", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["upgrade", "current", "revision"])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="database URL")
    where.add_argument("--url-env", help="the environment variable that holds the database URL")
    parser.add_argument("-m", "--message", default="change", help="revision message (revision only)")
    args = parser.parse_args(argv)
    if args.url_env:
        args.url = os.environ[args.url_env]
    if args.action == "upgrade":
        upgrade(args.url)
        print(f"{redacted(args.url)}: at {current_revision(args.url)}")
    elif args.action == "current":
        print(f"{redacted(args.url)}: at {current_revision(args.url)} (head {head_revision()})")
    else:
        _revision(args.url, args.message)


if __name__ == "__main__":
    main()
