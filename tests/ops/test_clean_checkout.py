"""A fresh clone stays clean after `pytest`: what a test run writes (coverage data, caches, the
hypothesis database, SQLite files) is never a tracked file and always ignored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_pytest_leaves_a_fresh_clone_clean(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git("clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone), cwd=tmp_path)
    assert ".coverage" not in git("ls-files", cwd=clone).split()

    # README's test command as CI runs it (coverage, caches), on two small files: one with hypothesis.
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "PYTEST_ADDOPTS")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "--cov-fail-under=0", "-q",
         "tests/bot/test_geo.py", "tests/storage/test_state_machine.py"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    written = [p for p in (".coverage", ".pytest_cache", ".hypothesis") if (clone / p).exists()]
    assert ".coverage" in written  # it did write its data...
    assert git("status", "--porcelain", "--untracked-files=all", cwd=clone) == ""  # ...and git sees nothing
    for path in written:
        assert git("check-ignore", path, cwd=clone).strip() == path
