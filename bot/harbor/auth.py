"""OAuth client-credentials tokens for Harbor (docs/harbor-api.md §2.1, §15), cached per scope.

- `service_provider`: renewed when less than max(30 s, 20 % of its lifetime) remains (never more than
  half of it), so a call never goes out with a token about to expire.
- `tower_access`: handed to phones; reused while more than 60 s remain.
- Concurrent callers share one in-flight request per scope: a cold client hit by 100 calls at once
  asks Harbor for exactly one token, and a failure (bad credentials) is shared rather than repeated.
- A 401 from the API invalidates the cached token (only if it is still the one that failed).

Token values, the client secret and the token endpoint's answers are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from bot.harbor import paths
from bot.harbor.errors import HarborAuthError, HarborError, HarborRateLimited, HarborUnavailable
from bot.harbor.models import AccessToken
from bot.harbor.retry import RetryPolicy, parse_retry_after, send_with_retries

log = logging.getLogger("bot.harbor")

DEFAULT_LIFETIME = 300.0  # §2.1, when expires_in is missing
TOWER_MIN_LEFT = 60.0
CREDENTIALS_HINT = "check HARBOR_CLIENT_ID and HARBOR_CLIENT_SECRET"


@dataclass
class _Entry:
    token: AccessToken
    renew_at: float


def service_margin(lifetime: float) -> float:
    """Seconds before expiry at which a service_provider token is renewed."""
    return min(max(30.0, 0.2 * lifetime), 0.5 * lifetime)


def tower_margin(lifetime: float) -> float:
    return min(TOWER_MIN_LEFT, 0.5 * lifetime)


class TokenManager:
    def __init__(
        self,
        *,
        http: Callable[[], httpx.AsyncClient],
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        policy: RetryPolicy,
    ) -> None:
        self._http = http
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self._policy = policy
        self._cache: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Future[AccessToken]] = {}
        self.requests_made = 0

    # -- public -------------------------------------------------------------------------------

    async def token(self, scope: str = paths.SERVICE_SCOPE) -> AccessToken:
        entry = self._cache.get(scope)
        if entry is not None and self._policy.monotonic() < entry.renew_at:
            return entry.token
        future = self._inflight.get(scope)
        if future is None:
            future = asyncio.ensure_future(self._renew(scope))
            self._inflight[scope] = future
            future.add_done_callback(functools.partial(self._settled, scope))
        # shield: a cancelled caller must not cancel the renewal the others are waiting for.
        return await asyncio.shield(future)

    def invalidate(self, token: AccessToken) -> None:
        """Forget `token` after Harbor rejected it, unless it was already replaced."""
        entry = self._cache.get(token.scope)
        if entry is not None and entry.token is token:
            del self._cache[token.scope]
            log.info("harbor %s token rejected by the API; it will be renewed", token.scope)

    def clear(self) -> None:
        self._cache.clear()

    async def aclose(self) -> None:
        for future in list(self._inflight.values()):
            future.cancel()
            with contextlib.suppress(BaseException):
                await future
        self._inflight.clear()

    # -- internals ----------------------------------------------------------------------------

    def _settled(self, scope: str, future: asyncio.Future[AccessToken]) -> None:
        if self._inflight.get(scope) is future:
            del self._inflight[scope]
        if not future.cancelled():
            future.exception()  # mark retrieved: waiters get it; nobody waiting is fine too

    async def _renew(self, scope: str) -> AccessToken:
        policy = self._policy
        form = paths.token_form(scope, self.client_id, self._secret.get_secret_value())

        async def send(seconds: float) -> httpx.Response:
            self.requests_made += 1
            return await self._http().post(
                self.token_url, data=form, headers={"Accept": "application/json"}, timeout=seconds
            )

        outcome = await send_with_retries(send, policy=policy, safe=True, method="POST", path="token")
        response = outcome.response
        if response.status_code != 200:
            raise self._refusal(response)
        try:
            data = response.json()
            value = data["access_token"]
            if not isinstance(value, str) or not value:
                raise TypeError
            lifetime = float(data.get("expires_in") or DEFAULT_LIFETIME)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise HarborError(
                "Harbor's token endpoint answered 200 without a usable access_token: check HARBOR_TOKEN_URL",
                status_code=200,
            ) from None
        now = policy.monotonic()
        margin = service_margin(lifetime) if scope == paths.SERVICE_SCOPE else tower_margin(lifetime)
        token = AccessToken(value=SecretStr(value), scope=scope, expires_at=now + lifetime, lifetime=lifetime)
        self._cache[scope] = _Entry(token, renew_at=now + lifetime - margin)
        log.info(
            "harbor %s token issued (lifetime %.0f s, attempt %d, %.3f s)",
            scope,
            lifetime,
            outcome.attempts,
            outcome.elapsed,
        )
        return token

    def _refusal(self, response: httpx.Response) -> HarborError:
        status = response.status_code
        error, description = "", ""
        try:
            body = response.json()
            if isinstance(body, dict):
                error = str(body.get("error") or "")
                description = str(body.get("error_description") or body.get("detail") or "")
        except ValueError:
            pass
        secret = self._secret.get_secret_value()
        if secret:
            description = description.replace(secret, "***")
        description = description[:200]
        log.warning("harbor token endpoint refused the request: %d %s", status, error or "-")
        if status == 429:
            return HarborRateLimited(
                "Harbor's token endpoint keeps answering 429 (too many requests)",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500:
            return HarborUnavailable(f"Harbor's token endpoint answered {status}: try again later", status_code=status)
        if status == 401 or error in ("invalid_client", "unauthorized_client"):
            return HarborAuthError(
                f"Harbor refused the client credentials ({error or status}): {CREDENTIALS_HINT}",
                status_code=status,
            )
        if status == 400:
            why = f"{error}: {description}" if error and description else (error or description or "400")
            return HarborAuthError(f"Harbor refused the token request ({why}): {CREDENTIALS_HINT}", status_code=400)
        if status == 404:
            return HarborUnavailable(
                f"Harbor's token endpoint answered 404: check HARBOR_TOKEN_URL ({self.token_url})",
                status_code=404,
            )
        return HarborAuthError(
            f"Harbor's token endpoint answered {status} ({error or description or 'no detail'}): {CREDENTIALS_HINT}",
            status_code=status,
        )
