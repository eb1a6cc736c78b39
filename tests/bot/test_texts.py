"""bot/ui/texts.py: the catalogue every user-facing string comes from.

Checks that every message can be rendered, escapes what it is given, stays within Telegram's limits
with realistic values, is well-formed Telegram HTML, and that every key the code asks for exists.
"""

from __future__ import annotations

import ast
import functools
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.menus import ADMIN_COMMANDS, USER_COMMANDS
from bot.ui.texts import CATALOGUES, EN, Safe, placeholders, raw, t
from storage.models import DeliveryState, KeyKind

BOT = Path(__file__).resolve().parents[2] / "bot"
MESSAGE_LIMIT = 4096  # sendMessage text, after entity parsing
CAPTION_LIMIT = 1024  # sendPhoto caption
CALLBACK_ANSWER_LIMIT = 200  # answerCallbackQuery text
COMMAND_DESCRIPTION_LIMIT = 256  # BotCommand.description

# Realistic (and on the long side) values per placeholder name; anything else gets FALLBACK.
REALISTIC: dict[str, object] = {
    "name": "Civic Center - McAllister St & Larkin St <Main entrance> (north side of the plaza)",
    "address": "355 McAllister Street, Ground floor, lobby B, San Francisco, CA 94102",
    "locker": "57",
    "size": "x-large",
    "until": "02 Mar 23:45 PST",
    "radius": "12.5",
    "distance": "1.3 km",
    "sizes": "small 12 · medium 11 · large 7 · x-large 5",
    "index": 5,
    "free": 12,
    "id": 123456,
    "count": 100,
    "state": "awaiting_dropoff",
    "states": ", ".join(s.value for s in DeliveryState),
    "kind": "drop-off",
    "who": "Alexandra Konstantinopoulou-Smith (@alexandra_konstantinopoulou)",
    "sender": "Alexandra Konstantinopoulou-Smith (@alexandra_konstantinopoulou)",
    "collector": "Bartholomew Featherstonehaugh (@bart_f) (courier)",
    "url": "https://t.me/harbor_lockers_demo_bot?start=" + "A" * 32,
    "tower": "010000000000001a",
    "status": "out_of_service",
    "hold": "5 minutes",
    "stay": "24 hours",
    "created": "2026-03-02 09:00 PST",
    "updated": "2026-03-02 09:05 PST",
    "at": "2026-03-02 09:00 PST",
    "actor": "Alexandra Konstantinopoulou-Smith (@alexandra_konstantinopoulou)",
    "detail": "locker 57 (id 1057) in tower 010000000000001a; Harbor token 7001 & more",
    "tz": "America/Los_Angeles",
    "ref": "@somebody_unknown_to_the_bot",
    "given": "awaiting-the-courier",
    "median": "3 hours",
    "today": 12,
    "week": 345,
    "held": 17,
    "orphans": 3,
    "shown": 10,
    "ids": ", ".join(f"#{i}" for i in range(100, 120)),
    "today_label": "today",
}
FALLBACK = "A realistic value of medium length & with <angle brackets>"

TELEGRAM_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji", "code",
    "pre", "blockquote",
}  # fmt: skip


def realistic(key: str) -> dict[str, object]:
    return {name: REALISTIC.get(name, FALLBACK) for name in placeholders(key)}


# --- what the code asks for ---------------------------------------------------------------------


def _python_files() -> list[Path]:
    return [p for p in BOT.rglob("*.py") if p.name != "texts.py" or p.parent.name != "ui"]


def _key_of(node: ast.expr) -> list[str | re.Pattern[str]]:
    """The key(s) an argument names: literals, either branch of a conditional, or f-string patterns."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _key_of(node.body) + _key_of(node.orelse)
    if isinstance(node, ast.JoinedStr):
        pattern = "".join(
            re.escape(part.value) if isinstance(part, ast.Constant) else r"[a-z_-]+" for part in node.values
        )
        return [re.compile(pattern)]
    return []


def _assignments(scope: ast.AST) -> dict[str, list[ast.expr]]:
    assigned: dict[str, list[ast.expr]] = {}
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(node.value)
    return assigned


@functools.cache
def _catalogue_calls() -> list[tuple[str, str, ast.expr]]:
    """(where, function name, key expression) for every t(...) / raw(...) call under bot/.

    A variable as the key is followed to the values assigned to that name in the innermost function.
    """
    calls = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        scopes: dict[int, ast.AST] = {}  # call -> innermost enclosing function (or the module)
        for scope in [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))]:
            for node in ast.walk(scope):
                if isinstance(node, ast.Call):
                    scopes[id(node)] = scope  # functions come after their parents, so the innermost wins
        assignments = {id(scope): _assignments(scope) for scope in set(scopes.values())} if scopes else {}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name not in ("t", "raw"):
                continue
            where = f"{path.relative_to(BOT.parent)}:{node.lineno}"
            arg = node.args[0]
            assigned = assignments[id(scopes[id(node)])]
            for expr in assigned.get(arg.id, [arg]) if isinstance(arg, ast.Name) else [arg]:
                calls.append((where, name, expr))
    return calls


def _referenced() -> list[tuple[str, str, str | re.Pattern[str]]]:
    return [(where, fn, key) for where, fn, expr in _catalogue_calls() for key in _key_of(expr)]


def test_every_catalogue_call_names_its_key_where_it_can_be_checked() -> None:
    unresolved = [f"{where}: {ast.unparse(expr)}" for where, _, expr in _catalogue_calls() if not _key_of(expr)]
    assert unresolved == []


def test_the_scan_finds_the_calls_it_should() -> None:
    # Guards the guard: if the scan silently found nothing, the next test would pass vacuously.
    keys = {k for _, _, k in _referenced() if isinstance(k, str)}
    assert {"dropoff.reserved", "watch.in_locker", "pickup.key_button", "dropoff.key_button"} <= keys
    assert len(keys) > 100


def test_every_key_the_code_uses_exists_in_english() -> None:
    missing = []
    for where, _, key in _referenced():
        if isinstance(key, str):
            if key not in EN:
                missing.append(f"{where}: {key}")
        elif not any(key.fullmatch(k) for k in EN):
            missing.append(f"{where}: {key.pattern}")
    assert missing == []


def test_every_key_built_at_run_time_exists() -> None:
    for state in DeliveryState:
        assert f"state.{state.value}" in EN
    for kind in KeyKind:
        assert f"key.kind.{kind.value}" in EN
    for command in (*USER_COMMANDS, *ADMIN_COMMANDS):
        description = raw(f"cmd.{command}")
        assert 1 <= len(description) <= COMMAND_DESCRIPTION_LIMIT


def test_every_catalogue_key_is_used() -> None:
    """A text nobody shows is dead weight translators keep paying for: a key comes with its use and
    goes with it (each language's file is checked against English by test_locales)."""
    # The code, not the catalogue: in the catalogue every key names itself.
    sources = "\n".join(p.read_text(encoding="utf-8") for p in _python_files() if p.parent.name != "locales")
    patterns = [k for _, _, k in _referenced() if isinstance(k, re.Pattern)]
    unused = sorted(key for key in EN if f'"{key}"' not in sources and not any(p.fullmatch(key) for p in patterns))
    assert not unused, f"catalogue keys not used under bot/: {', '.join(unused)}"


# --- rendering ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(EN))
def test_every_placeholder_is_a_plain_name_that_can_be_filled(key: str) -> None:
    names = placeholders(key)
    assert all(name.isidentifier() for name in names), names  # no {0}, {a.b}, {a[0]}
    assert "{" not in t(key, **realistic(key)).replace("{{", "")
    for catalogue in CATALOGUES.values():
        if key in catalogue:
            catalogue[key].format(**realistic(key))


def test_t_escapes_values_and_leaves_safe_values_alone() -> None:
    text = t("dropoff.cancelled", locker="5", name="A & B <C>")
    assert "<b>A &amp; B &lt;C&gt;</b>" in text
    assert "A & B <C>" not in text

    item = t("my.item", id=1, name="x", locker="5", size="small", state=Safe("<i>reserved</i>"))
    assert "<i>reserved</i>" in item


def test_raw_does_not_escape_for_plain_text_places() -> None:
    assert raw("dropoff.location_button", name="A & B <C>", distance="300 m") == "📍 A & B <C> (300 m)"


def test_an_unknown_language_falls_back_to_english() -> None:
    assert t("start.menu", "de") == t("start.menu", "en-GB") == t("start.menu") == EN["start.menu"]


class _TelegramHTML(HTMLParser):
    """Collects what Telegram's HTML parser would refuse: unknown tags, bad nesting, unclosed tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.problems.append(f"unsupported tag <{tag}>")
        if tag == "a" and not dict(attrs).get("href"):
            self.problems.append("<a> without href")
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self.problems.append(f"unsupported entity &{name};")

    def check(self, text: str) -> list[str]:
        # A bare & (not starting an entity) is refused by Telegram.
        self.problems += [f"bare & at {m.start()}" for m in re.finditer(r"&(?!(?:[a-z]+|#\d+|#x[0-9a-f]+);)", text)]
        self.feed(text)
        self.close()
        return self.problems + [f"<{tag}> never closed" for tag in self.stack]


def _html_keys() -> list[str]:
    """Keys sent as HTML: everything except what the code only ever renders with raw()."""
    fns: dict[str, set[str]] = {}
    for _, fn, key in _referenced():
        if isinstance(key, str):
            fns.setdefault(key, set()).add(fn)
        else:
            for k in EN:
                if key.fullmatch(k):
                    fns.setdefault(k, set()).add(fn)
    return sorted(k for k in EN if fns.get(k, {"t"}) != {"raw"})


@pytest.mark.parametrize("key", _html_keys())
def test_every_message_is_well_formed_telegram_html_within_the_limit(key: str) -> None:
    text = t(key, **realistic(key))
    limit = CAPTION_LIMIT if key.endswith("_caption") else MESSAGE_LIMIT
    assert len(text) <= limit
    assert _TelegramHTML().check(text) == []


def test_the_html_check_catches_what_telegram_refuses() -> None:
    assert _TelegramHTML().check("<b>ok</b> &amp; <code>fine</code>") == []
    assert _TelegramHTML().check("/delivery <id>") != []
    assert _TelegramHTML().check("<b>open") != []
    assert _TelegramHTML().check("<b><i>x</b></i>") != []
    assert _TelegramHTML().check("A & B") != []


def test_callback_answers_fit_telegram_s_limit() -> None:
    """Texts passed to answer(update, ...) become answerCallbackQuery texts: at most 200 characters."""
    answered = set()
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            is_answer = isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Name) and node.func.id == "answer")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "answer")
            )
            if not is_answer:
                continue
            for arg in node.args:
                if isinstance(arg, ast.Call) and getattr(arg.func, "id", None) in ("t", "raw") and arg.args:
                    answered.update(k for k in _key_of(arg.args[0]) if isinstance(k, str))
    assert answered  # the scan works
    too_long = {key: len(raw(key, **realistic(key))) for key in answered if len(raw(key, **realistic(key))) > 200}
    assert too_long == {}
