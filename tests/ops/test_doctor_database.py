"""`doctor`'s database line: it names the database (password hidden), and a database that is not
there fails in one sentence, with no traceback, and doctor creates nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.config import Settings
from bot.doctor import main
from storage.migrate import head_revision

ROOT = Path(__file__).resolve().parents[2]


def doctor(database_url: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = main(settings=Settings(harbor_env="simulator", database_url=database_url), out=lines.append)
    return code, lines


def database_line(lines: list[str]) -> str:
    [line] = [line for line in lines if line.split(":")[0].endswith(" database")]
    return line


def test_a_migrated_database_passes_and_is_named(database_url: str) -> None:
    code, lines = doctor(database_url)
    line = database_line(lines)
    assert code == 0, lines
    shown = make_url(database_url).render_as_string(hide_password=True)
    assert line.startswith(f"PASS database: {shown} answers, schema at {head_revision()}")
    if make_url(database_url).get_backend_name() == "postgresql":
        assert line.endswith("advisory locks work")


def test_a_missing_sqlite_file_fails_in_one_sentence_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite3"
    code, lines = doctor(f"sqlite:///{missing}")
    assert code == 1
    line = database_line(lines)
    assert line == (
        f"FAIL database: sqlite:///{missing}: the file {missing} does not exist (the bot creates it at its "
        "first start; check DATABASE_URL if it should be there)"
    )
    assert not missing.exists()


def test_an_empty_database_is_behind(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    code, lines = doctor(f"sqlite:///{empty}")
    assert code == 1
    assert database_line(lines).startswith(f"FAIL database: sqlite:///{empty} has no harbor-bot schema, this code")


def test_a_postgresql_database_that_does_not_exist_fails_in_one_sentence() -> None:
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("needs a PostgreSQL server (set TEST_DATABASE_URL)")
    name = f"harbor_missing_{uuid.uuid4().hex[:8]}"
    url = make_url(os.environ["TEST_DATABASE_URL"]).set(database=name, password="s3cret-pw")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARBOR_", "TELEGRAM_", "DATABASE_"))}
    env.update(PYTHONPATH=str(ROOT), HARBOR_ENV="simulator", DATABASE_URL=url.render_as_string(hide_password=False))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "doctor"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result.stdout + result.stderr
    line = database_line(result.stdout.splitlines())
    shown = url.render_as_string(hide_password=True)
    assert line.startswith(f"FAIL database: cannot connect to {shown}: ")
    assert f'database "{name}" does not exist' in line
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    # the rest of the report still ran
    assert any(line.startswith("PASS harbor token") for line in result.stdout.splitlines())
