"""The files the Telegram emulator holds (uploaded by the bot, sent by users), processed like Telegram does:
photos are recompressed and kept in several sizes, and a file_id only works for its own kind of file."""

from __future__ import annotations

import base64
import io
import itertools
import mimetypes
import re
from pathlib import Path
from typing import Any

from sandbox.telegram_errors import bad_request
from sandbox.telegram_records import StoredFile
from sandbox.telegram_requests import UploadedFile

MAX_PHOTO_SIDE = 1280
PHOTO_SIZES = (("s", 90), ("m", 320), ("x", 800), ("y", 1280))
JPEG_QUALITY = 80
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024


class FileStore:
    """Every stored file by file_id; ids look like Telegram's and are never reused."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._counter = itertools.count(1)

    def get(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        """The file served at ``/file/bot{token}/{file_path}``."""
        return next((f for f in self._files.values() if f.file_path == file_path), None)

    def _file_ids(self, kind: str) -> tuple[str, str, int]:
        number = next(self._counter)
        prefix = {"photo": "AgACAgIAAxk", "document": "BQACAgIAAxk", "sticker": "CAACAgIAAxk"}[kind]
        raw = number.to_bytes(8, "big") + kind.encode()
        file_id = prefix + base64.urlsafe_b64encode(raw).decode().rstrip("=")
        unique = "AQAD" + base64.urlsafe_b64encode(number.to_bytes(6, "big")).decode().rstrip("=")
        return file_id, unique, number

    def store_photo(self, data: bytes) -> list[dict[str, Any]]:
        """Process a photo like Telegram: decode it, recompress to JPEG (quality 80) with the long side
        capped to 1280 px, and keep the smaller sizes too. Returns the PhotoSize list (smallest first)."""
        from PIL import Image, UnidentifiedImageError

        if len(data) > MAX_PHOTO_BYTES:
            raise bad_request("file is too big")
        try:
            image: Image.Image = Image.open(io.BytesIO(data))
            image.load()
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            raise bad_request("IMAGE_PROCESS_FAILED") from None
        width, height = image.size
        if width + height > 10000 or min(width, height) == 0 or max(width, height) / min(width, height) > 20:
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
        else:
            image = image.convert("RGB")
        long_side = max(width, height)
        sizes: list[dict[str, Any]] = []
        group: list[StoredFile] = []
        for _, limit in PHOTO_SIZES:
            side = min(limit, long_side)
            scale = side / long_side
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            version = image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            version.save(buffer, format="JPEG", quality=JPEG_QUALITY)
            file_id, unique, number = self._file_ids("photo")
            stored = StoredFile(
                file_id,
                unique,
                "photo",
                buffer.getvalue(),
                f"photos/file_{number}.jpg",
                size[0],
                size[1],
                mime_type="image/jpeg",
            )
            self._files[file_id] = stored
            group.append(stored)
            sizes.append(
                {
                    "file_id": file_id,
                    "file_unique_id": unique,
                    "file_size": stored.size,
                    "width": size[0],
                    "height": size[1],
                }
            )
            if limit >= long_side:
                break
        for stored in group:
            stored.photo_sizes = sizes
        return sizes

    def store_document(
        self, data: bytes, file_name: str | None, mime_type: str | None, *, kind: str = "document"
    ) -> dict[str, Any]:
        file_id, unique, number = self._file_ids(kind)
        if mime_type is None and file_name:
            mime_type = mimetypes.guess_type(file_name)[0]
        suffix = Path(file_name or "").suffix or (".webp" if kind == "sticker" else "")
        folder = "stickers" if kind == "sticker" else "documents"
        stored = StoredFile(
            file_id, unique, kind, data, f"{folder}/file_{number}{suffix}", file_name=file_name, mime_type=mime_type
        )
        self._files[file_id] = stored
        document: dict[str, Any] = {"file_id": file_id, "file_unique_id": unique, "file_size": len(data)}
        if file_name:
            document["file_name"] = file_name
        if mime_type:
            document["mime_type"] = mime_type
        return document

    def file_bytes(self, file_id: str) -> bytes | None:
        stored = self._files.get(file_id)
        return stored.data if stored else None

    def _known_file(self, file_id: str, kind: str) -> StoredFile:
        if re.match(r"https?://", file_id):
            raise bad_request("failed to get HTTP URL content")
        stored = self._files.get(file_id)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise bad_request(f"can't use file of type {stored.kind.capitalize()} as {kind.capitalize()}")
        return stored

    def photo_from(self, value: Any) -> list[dict[str, Any]]:
        if isinstance(value, UploadedFile):
            return self.store_photo(value.data)
        stored = self._known_file(str(value), "photo")
        assert stored.photo_sizes is not None
        return stored.photo_sizes

    def document_from(self, value: Any) -> dict[str, Any]:
        if isinstance(value, UploadedFile):
            return self.store_document(value.data, value.filename or "document", value.content_type)
        stored = self._known_file(str(value), "document")
        document = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": stored.size}
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        return document
