"""One exception hierarchy for everything the Harbor API can answer, carrying Harbor's `detail`."""

from __future__ import annotations


class HarborError(Exception):
    """Base class. `detail` is Harbor's own text (FastAPI style), `status_code` the HTTP status."""

    def __init__(self, detail: str = "", *, status_code: int | None = None) -> None:
        super().__init__(detail or self.__class__.__name__)
        self.detail = detail
        self.status_code = status_code


class HarborAuthError(HarborError):
    """Credentials refused (token endpoint), a bearer rejected twice, or a 403 (wrong scope/not ours)."""


class HarborNotFound(HarborError):
    """404: unknown location, tower or locker id."""


class HarborNotAvailable(HarborError):
    """400/409: the locker is not in a state that allows the request (someone else was faster)."""


class HarborValidationError(HarborError):
    """422: Harbor rejected the request body; a bug on our side, never retried."""


class HarborRateLimited(HarborError):
    """429 that outlasted the retry deadline."""

    def __init__(self, detail: str = "", *, retry_after: float | None = None, status_code: int = 429) -> None:
        super().__init__(detail, status_code=status_code)
        self.retry_after = retry_after


class HarborUnavailable(HarborError):
    """Harbor could not be reached or kept failing (connect errors, timeouts, 5xx) within the deadline."""


class HarborOutcomeUnknown(HarborError):
    """A state-changing POST timed out or broke mid-way: it may or may not have happened.

    Never retried blindly; the caller reconciles by reading Harbor's state.
    """
