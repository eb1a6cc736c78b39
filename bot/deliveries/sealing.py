"""Secrets the bot derives from its own configured secrets, for what it must hand out or keep.

- The return URL of a Locker Open link (`{WEBHOOK_URL}/harbor/return/{token}`): `{delivery}.{mac}`, so
  that nobody can make the bot look at a tower by counting ids (an anonymous GET costs at most a page).
- A Locker Open link kept for sending the same request again (docs/harbor-api.md §6.3: a link can be
  retried), sealed with Fernet (AES-CBC + HMAC, `cryptography`). Harbor gives a link only once (§6.1:
  `linkToken` is in the answer to the request, not in `GET /locker-open-requests/{id}`), so re-sending
  needs it kept; sealed, a copy of the database alone opens nothing.

Both keys come from the bot token and the Harbor client secret: whoever holds those can make new
links anyway (a Harbor service token creates pick-up requests for any of our lockers), so the seal
adds no new secret to guard. Rotating either secret makes old seals unreadable: a kept link is then
replaced by a new request, with the old one on record as possibly live.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from cryptography.fernet import Fernet, InvalidToken

MAC_CHARS = 22  # 132 bits of HMAC-SHA256, base64url
_RETURN_TOKEN = re.compile(rf"([0-9]{{1,18}})\.([A-Za-z0-9_-]{{{MAC_CHARS}}})")


def derive_secret(*parts: str | None) -> bytes:
    """The root the keys below are derived from (labelled, so no key is another's)."""
    material = "\0".join(part or "" for part in parts)
    return hashlib.sha256(b"harbor-bot/derived/v1\0" + material.encode()).digest()


def _key(root: bytes, label: str) -> bytes:
    return hmac.new(root, label.encode(), hashlib.sha256).digest()


def _mac(root: bytes, delivery_id: int) -> str:
    digest = hmac.new(_key(root, "return-url"), str(delivery_id).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:MAC_CHARS]


def return_token(root: bytes, delivery_id: int) -> str:
    return f"{delivery_id}.{_mac(root, delivery_id)}"


def delivery_of_return_token(root: bytes, token: str) -> int | None:
    """The delivery a return URL names, when the URL is one the bot made; None for anything else."""
    match = _RETURN_TOKEN.fullmatch(token)
    if match is None:
        return None
    delivery_id = int(match[1])
    return delivery_id if hmac.compare_digest(match[2], _mac(root, delivery_id)) else None


def _fernet(root: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_key(root, "sealed-link")))


def seal(root: bytes, text: str) -> str:
    return _fernet(root).encrypt(text.encode()).decode()


def unseal(root: bytes, sealed: str) -> str | None:
    """The sealed text, or None when it was sealed under other secrets (or tampered with)."""
    try:
        return _fernet(root).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None
