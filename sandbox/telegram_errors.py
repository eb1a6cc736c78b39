"""The Telegram emulator's error answers: an exception carrying Telegram's status and description, and the
exact texts Telegram uses where a bot is likely to match on them."""

from __future__ import annotations

from typing import Any

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


class ApiError(Exception):
    """An error answer: HTTP status == error_code, like Telegram."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def bad_request(text: str) -> ApiError:
    return ApiError(400, f"Bad Request: {text}")
