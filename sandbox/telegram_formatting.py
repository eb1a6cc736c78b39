"""Telegram's text formatting: HTML, MarkdownV2 and legacy Markdown parsed into (plain text, entities) the
way Telegram stores a message, with Telegram's error texts. Offsets and lengths are in UTF-16 code units."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

from sandbox.telegram_errors import bad_request

ENTITY_TYPES = frozenset(
    {
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
        "date_time",
    }
)


class EntityParseError(Exception):
    pass


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "tg-time": "date_time",
}
_HTML_ENTITY = re.compile(r"&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|lt|gt|amp|quot);")
_TAG_NAME = re.compile(r"[^\s>/]*")
_ATTR_NAME = re.compile(r"[A-Za-z0-9_-]+")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _html_unescape(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        char = _decode_html_entity(match.group(1))
        return match.group(0) if char is None else char

    return _HTML_ENTITY.sub(repl, text)


def _decode_html_entity(name: str) -> str | None:
    if name in _NAMED_ENTITIES:
        return _NAMED_ENTITIES[name]
    code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML style: supported tags only, balanced, with &lt; &gt; &amp; &quot; and numeric
    entities. Errors name the UTF-8 byte offset like Telegram."""

    def offset(index: int) -> int:
        return len(text[:index].encode("utf-8"))

    out: list[str] = []
    pos = 0  # UTF-16 length of out
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, dict[str, str]]] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "&":
            match = _HTML_ENTITY.match(text, i)
            decoded = _decode_html_entity(match.group(1)) if match else None
            if match and decoded is not None:
                out.append(decoded)
                pos += utf16_len(decoded)
                i = match.end()
                continue
        if char != "<":
            out.append(char)
            pos += utf16_len(char)
            i += 1
            continue
        start = i
        if i + 1 < n and text[i + 1] == "/":
            end = text.find(">", i)
            if end == -1:
                raise EntityParseError(f"Unclosed end tag at byte offset {offset(start)}")
            name = text[i + 2 : end].strip().lower()
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {offset(start)}")
            open_name, open_pos, open_attrs = stack.pop()
            if name != open_name:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {offset(start)}, expected "</{open_name}>", found "</{name}>"'
                )
            entity = _html_entity(open_name, open_pos, pos - open_pos, open_attrs, stack)
            if entity is not None and entity["length"] > 0:
                entities.append(entity)
            i = end + 1
            continue
        name_match = _TAG_NAME.match(text, i + 1)
        assert name_match is not None
        name = name_match.group(0).lower()
        if name not in _HTML_TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {offset(start)}')
        k = name_match.end()
        attrs: dict[str, str] = {}
        while True:
            while k < n and text[k].isspace():
                k += 1
            if k >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {offset(start)}")
            if text[k] == ">":
                k += 1
                break
            attr = _ATTR_NAME.match(text, k)
            if attr is None:
                raise EntityParseError(f'Empty attribute name in the tag "{name}" at byte offset {offset(start)}')
            attr_name = attr.group(0).lower()
            k = attr.end()
            while k < n and text[k].isspace():
                k += 1
            if k >= n or text[k] != "=":
                attrs[attr_name] = ""
                continue
            k += 1
            while k < n and text[k].isspace():
                k += 1
            if k < n and text[k] in "\"'":
                close = text.find(text[k], k + 1)
                if close == -1:
                    raise EntityParseError(f"Unclosed start tag at byte offset {offset(start)}")
                attrs[attr_name] = _html_unescape(text[k + 1 : close])
                k = close + 1
            else:
                value = re.compile(r"[^\s>]*").match(text, k)
                assert value is not None
                attrs[attr_name] = _html_unescape(value.group(0))
                k = value.end()
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError('Tag "span" must have class "tg-spoiler"')
        stack.append((name, pos, attrs))
        i = k
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _html_entity(
    name: str, offset: int, length: int, attrs: dict[str, str], stack: list[tuple[str, int, dict[str, str]]]
) -> dict[str, Any] | None:
    kind = _HTML_TAGS[name]
    entity: dict[str, Any] = {"type": kind, "offset": offset, "length": length}
    if name == "a":
        href = attrs.get("href", "")
        if not href:
            return None
        entity["url"] = href  # tg://user?id= links stay text_link: the emulator does not resolve users here
    elif name == "code":
        language = attrs.get("class", "")
        if language.startswith("language-") and stack and stack[-1][0] == "pre":
            stack[-1][2]["language"] = language[len("language-") :]
            return None
    elif name == "pre" and attrs.get("language"):
        entity["language"] = attrs["language"]
    elif name == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif name == "tg-emoji":
        if not attrs.get("emoji-id"):
            return None
        entity["custom_emoji_id"] = attrs["emoji-id"]
    elif name == "tg-time":
        with contextlib.suppress(ValueError):
            entity["unix_time"] = int(attrs.get("unix", "0"))
    return entity


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's MarkdownV2: every reserved character outside an entity must be escaped."""

    def offset(index: int) -> int:
        return len(text[:index].encode("utf-8"))

    out: list[str] = []
    pos = 0
    entities: list[dict[str, Any]] = []
    stack: list[dict[str, Any]] = []
    quote_start: int | None = None
    i, n = 0, len(text)

    def close(extra: dict[str, Any] | None = None) -> None:
        entry = stack.pop()
        entity = {"type": entry["type"], "offset": entry["pos"], "length": pos - entry["pos"]}
        entity.update(entry.get("extra", {}))
        entity.update(extra or {})
        if entity["length"] > 0:
            entities.append(entity)

    while i < n:
        char = text[i]
        top = stack[-1]["type"] if stack else None
        if char == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.append(text[i + 1])
            pos += 1
            i += 2
            continue
        if top in ("code", "pre"):
            if top == "pre" and text.startswith("```", i):
                close()
                i += 3
            elif top == "code" and char == "`":
                close()
                i += 1
            else:
                out.append(char)
                pos += utf16_len(char)
                i += 1
            continue
        if char == "\n" and quote_start is not None and not text.startswith(">", i + 1):
            entities.append({"type": "blockquote", "offset": quote_start, "length": pos - quote_start})
            quote_start = None
        if char not in _MDV2_RESERVED:
            out.append(char)
            pos += utf16_len(char)
            i += 1
            continue
        # the end of the innermost entity?
        if top == "bold" and char == "*":
            close()
            i += 1
            continue
        if top == "underline" and text.startswith("__", i):
            close()
            i += 2
            continue
        if top == "italic" and char == "_":
            close()
            i += 1
            continue
        if top == "strikethrough" and char == "~":
            close()
            i += 1
            continue
        if top == "spoiler" and text.startswith("||", i):
            close()
            i += 2
            continue
        if top in ("text_link", "custom_emoji") and char == "]":
            if i + 1 < n and text[i + 1] == "(":
                j = i + 2
                url: list[str] = []
                while j < n and text[j] != ")":
                    if text[j] == "\\" and j + 1 < n:
                        url.append(text[j + 1])
                        j += 2
                        continue
                    url.append(text[j])
                    j += 1
                if j >= n:
                    raise EntityParseError(f"Can't find end of a URL at byte offset {offset(i + 2)}")
                target = "".join(url)
                if top == "text_link":
                    close({"url": target})
                else:
                    close({"custom_emoji_id": target.removeprefix("tg://emoji?id=")})
                i = j + 1
            else:
                stack.pop()  # a bare [text]: no entity
                i += 1
            continue
        # the start of an entity
        if char == "*":
            stack.append({"type": "bold", "pos": pos, "at": i})
            i += 1
        elif char == "_":
            kind = "underline" if text.startswith("__", i) else "italic"
            stack.append({"type": kind, "pos": pos, "at": i})
            i += 2 if kind == "underline" else 1
        elif char == "~":
            stack.append({"type": "strikethrough", "pos": pos, "at": i})
            i += 1
        elif char == "|" and text.startswith("||", i):
            stack.append({"type": "spoiler", "pos": pos, "at": i})
            i += 2
        elif char == "[":
            stack.append({"type": "text_link", "pos": pos, "at": i})
            i += 1
        elif char == "!" and text.startswith("![", i):
            stack.append({"type": "custom_emoji", "pos": pos, "at": i})
            i += 2
        elif char == "`":
            if text.startswith("```", i):
                newline = text.find("\n", i + 3)
                extra: dict[str, Any] = {}
                if newline != -1 and text[i + 3 : newline].strip() and "`" not in text[i + 3 : newline]:
                    extra["language"] = text[i + 3 : newline].strip()
                    i = newline + 1
                else:
                    i += 3
                stack.append({"type": "pre", "pos": pos, "at": i, "extra": extra})
            else:
                stack.append({"type": "code", "pos": pos, "at": i})
                i += 1
        elif char == ">" and (i == 0 or text[i - 1] == "\n"):
            if quote_start is None:
                quote_start = pos
            i += 1
        else:
            raise EntityParseError(f"Character '{char}' is reserved and must be escaped with the preceding '\\'")
    if stack:
        entry = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES[entry['type']]} entity at byte offset {offset(entry['at'])}"
        )
    if quote_start is not None and pos > quote_start:
        entities.append({"type": "blockquote", "offset": quote_start, "length": pos - quote_start})
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting."""

    def offset(index: int) -> int:
        return len(text[:index].encode("utf-8"))

    out: list[str] = []
    pos = 0
    entities: list[dict[str, Any]] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            pos += 1
            i += 2
            continue
        if char not in "_*`[":
            out.append(char)
            pos += utf16_len(char)
            i += 1
            continue
        entity: dict[str, Any]
        if char == "[":
            close = text.find("]", i + 1)
            if close == -1 or not text.startswith("(", close + 1) or text.find(")", close + 2) == -1:
                raise EntityParseError(f"Can't find end of the entity starting at byte offset {offset(i)}")
            inner, url_end = text[i + 1 : close], text.find(")", close + 2)
            entity = {"type": "text_link", "url": text[close + 2 : url_end]}
            i = url_end + 1
        elif text.startswith("```", i):
            close = text.find("```", i + 3)
            if close == -1:
                raise EntityParseError(f"Can't find end of the entity starting at byte offset {offset(i)}")
            inner, entity = text[i + 3 : close], {"type": "pre"}
            i = close + 3
        else:
            close = text.find(char, i + 1)
            if close == -1:
                raise EntityParseError(f"Can't find end of the entity starting at byte offset {offset(i)}")
            inner = text[i + 1 : close]
            entity = {"type": {"*": "bold", "_": "italic", "`": "code"}[char]}
            i = close + 1
        length = utf16_len(inner)
        out.append(inner)
        if length:
            entities.append({**entity, "offset": pos, "length": length})
        pos += length
    return "".join(out), entities


def _strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram trims whitespace around message text and captions; entities follow."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def format_text(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """(plain text, entities) as Telegram stores a message; raises ApiError like Telegram."""
    if entities:
        length = utf16_len(text)
        checked = []
        for entity in entities:
            if entity.get("type") not in ENTITY_TYPES:
                raise bad_request(f'can\'t parse entities: unsupported entity type "{entity.get("type")}"')
            if entity["type"] == "text_link" and not entity.get("url"):
                raise bad_request("can't parse entities: text_link entity must have a URL")
            start, end = max(entity["offset"], 0), min(entity["offset"] + entity["length"], length)
            if end > start:
                checked.append({**entity, "offset": start, "length": end - start})
        return _strip_text(text, checked)
    mode = (parse_mode or "").lower()
    parsers: dict[str, Callable[[str], tuple[str, list[dict[str, Any]]]]] = {
        "html": parse_html,
        "markdownv2": parse_markdown_v2,
        "markdown": parse_markdown,
    }
    if not mode:
        return _strip_text(text, [])
    if mode not in parsers:
        raise bad_request("unsupported parse_mode")
    try:
        plain, found = parsers[mode](text)
    except EntityParseError as exc:
        raise bad_request(f"can't parse entities: {exc}") from None
    return _strip_text(plain, found)
