"""The manual is in the repository: every `docs/design.md §N` and `docs/harbor-api.md §N` cited in
the code, tests and README names a section that exists, and nothing cites a document outside."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CITATION = re.compile(r"docs/(design|harbor-api)\.md (§\d+(?:\.\d+)?(?:(?:,| and) §\d+(?:\.\d+)?)*)")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in listed.split() if name.endswith((".py", ".md", ".toml", ".yaml", ".json"))]


def sections(document: str) -> set[str]:
    text = (ROOT / "docs" / f"{document}.md").read_text(encoding="utf-8")
    return {match.group(1) for match in re.finditer(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, re.MULTILINE)}


def test_every_cited_section_exists() -> None:
    known = {"design": sections("design"), "harbor-api": sections("harbor-api")}
    assert known["design"] == {str(n) for n in range(1, 9)}
    assert {str(n) for n in range(16)} <= known["harbor-api"]
    cited = 0
    for path in tracked_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in CITATION.finditer(text):
            for number in re.findall(r"§(\d+(?:\.\d+)?)", match.group(2)):
                cited += 1
                assert number in known[match.group(1)], f"{path.relative_to(ROOT)} cites {match.group(0)}"
    assert cited > 40


def test_nothing_cites_the_documents_outside_the_repository() -> None:
    outside = re.compile(r"(?<![/\w])(DESIGN(?:\.md)? §|harbor-api\.md §)")
    for path in tracked_text_files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            assert not outside.search(line), f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
