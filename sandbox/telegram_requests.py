"""Reading a Bot API request the way Telegram does: query string and body (JSON, urlencoded or multipart)
merged into one parameter dict, uploaded files as :class:`UploadedFile`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from sandbox.telegram_errors import bad_request


@dataclass
class UploadedFile:
    """A file part of a multipart body."""

    name: str
    filename: str
    content_type: str | None
    data: bytes


def _disposition_param(disposition: str, name: str) -> str | None:
    match = re.search(rf';\s*{name}="((?:[^"\\]|\\.)*)"', disposition) or re.search(
        rf";\s*{name}=([^;\s]+)", disposition
    )
    return match.group(1).replace('\\"', '"') if match else None


def parse_multipart(body: bytes, content_type: str) -> dict[str, str | UploadedFile]:
    """A small multipart/form-data parser (so the emulator needs no python-multipart)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise bad_request("can't parse multipart/form-data: no boundary")
    delimiter = b"\r\n--" + match.group(1).encode("latin-1")
    parts: dict[str, str | UploadedFile] = {}
    for chunk in (b"\r\n" + body).split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            continue
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = _disposition_param(disposition, "name")
        if name is None:
            continue
        filename = _disposition_param(disposition, "filename")
        if filename is not None:
            parts[name] = UploadedFile(name, filename, headers.get("content-type"), content)
        else:
            parts[name] = content.decode("utf-8", "replace")
    return parts


async def read_params(request: Request) -> dict[str, Any]:
    """Query string and body (JSON, urlencoded or multipart) merged, as Telegram reads them."""
    params: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if not body:
        return params
    content_type = request.headers.get("content-type", "")
    mime = content_type.split(";")[0].strip().lower()
    if mime == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise bad_request("can't parse JSON encoded request body") from None
        if not isinstance(data, dict):
            raise bad_request("can't parse JSON encoded request body: an object expected")
        params.update({k: v for k, v in data.items() if v is not None})
    elif mime == "application/x-www-form-urlencoded":
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif mime == "multipart/form-data":
        params.update(parse_multipart(body, content_type))
    return params
