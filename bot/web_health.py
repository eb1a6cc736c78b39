"""`GET /readyz` of `web`: each check with its state, in JSON, and the same states in the metrics.

A router takes a process out of rotation on a 503, so a 503 means only "this process cannot serve":
the database does not answer, or its schema is behind what this code needs. What every process shares
(Harbor, the locker watch that any process may run) is reported as `degraded` with a 200: a Harbor
outage must not take every process out of the router at once, when each can still answer people.

    {"status": "ready" | "degraded" | "unavailable",
     "checks": {"database": {"state": "ok", "detail": "..."}, "schema": ..., "harbor": ..., "watch": ...}}

What it costs an anonymous caller at most: two small queries (a ping and the schema's revision), one
read of the watch's row, and one Harbor call per HARBOR_PROBE_EVERY seconds per process, whatever the
rate of calls (the probe's answer is shared; Harbor answers seen in between count too).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.jobs import Scheduler
from bot.metrics import CheckState, Metrics
from bot.ptb_types import BotApplication
from bot.services import Services
from storage.gauges import schema_revision
from storage.migrate import schema_position
from storage.models import JobKind
from storage.types import utcnow

CHECK_TIMEOUT = 3.0  # a check that takes longer than this has failed, as far as a router is concerned
HARBOR_PROBE_TIMEOUT = 2.0  # Harbor's client retries a failing call for longer: the probe does not wait
HARBOR_PROBE_EVERY = 5.0


@dataclass(frozen=True)
class Check:
    state: CheckState
    detail: str


class HarborProbe:
    """One Harbor call at a time and at most one per HARBOR_PROBE_EVERY; answers seen meanwhile count."""

    def __init__(self, services: Services, metrics: Metrics) -> None:
        self._services = services
        self._metrics = metrics
        self._lock = asyncio.Lock()
        self._probed_at = -HARBOR_PROBE_EVERY
        self._probe: tuple[float, bool, str] = (0.0, True, "")

    async def check(self) -> Check:
        async with self._lock:
            if time.monotonic() - self._probed_at >= HARBOR_PROBE_EVERY:
                self._probe = await self._call()
                self._probed_at = time.monotonic()
        probed_at, fine, why = self._probe
        seen_at, seen_fine = self._metrics.harbor_health.latest()
        if seen_at > probed_at:
            fine, why = seen_fine, "" if seen_fine else "its last answer was an error"
        if fine:
            return Check(CheckState.OK, f"answering at {self._services.harbor.api_url}")
        return Check(CheckState.DEGRADED, f"Harbor is not answering ({why}): searches and keys fail until it does")

    async def _call(self) -> tuple[float, bool, str]:
        try:
            async with asyncio.timeout(HARBOR_PROBE_TIMEOUT):
                await self._services.harbor.test_token()
        except TimeoutError:
            return time.monotonic(), False, f"no answer within {HARBOR_PROBE_TIMEOUT:.0f} s"
        except Exception as exc:
            return time.monotonic(), False, type(exc).__name__
        return time.monotonic(), True, ""


async def _timed(body: Callable[[], Awaitable[Check]], failed: CheckState) -> Check:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await body()
    except TimeoutError:
        return Check(failed, f"no answer within {CHECK_TIMEOUT:.0f} s")
    except Exception as exc:
        return Check(failed, f"{type(exc).__name__}")


def readiness_route(application: Callable[[], BotApplication]) -> Route:
    probes: dict[int, HarborProbe] = {}

    async def readyz(request: Request) -> Response:
        app = application()
        services: Services = app.bot_data["services"]
        scheduler: Scheduler = app.bot_data["scheduler"]
        metrics: Metrics = app.bot_data["metrics"]
        probe = probes.setdefault(id(app), HarborProbe(services, metrics))

        async def database() -> Check:
            await services.repo.ping()
            return Check(CheckState.OK, "answering")

        async def schema() -> Check:
            revision = await schema_revision(services.repo.session_factory)
            position = schema_position(revision)
            if position == "behind":
                return Check(CheckState.FAILING, f"at {revision}, behind this code's migrations: restart to migrate")
            return Check(
                CheckState.OK, f"at {revision}" + (" (a newer deploy's: it only adds)" if position == "ahead" else "")
            )

        async def watch() -> Check:
            row = await services.repo.job(JobKind.WATCH)
            recent = scheduler.watch_interval * 3 + timedelta(seconds=30)
            if row is None or row.last_run_at is None or utcnow() - row.last_run_at > recent:
                return Check(CheckState.DEGRADED, "no process ran the locker watch recently")
            return Check(CheckState.OK, f"last round {(utcnow() - row.last_run_at).total_seconds():.0f} s ago")

        names = ("database", "schema", "harbor", "watch")
        results = await asyncio.gather(
            _timed(database, CheckState.FAILING),
            _timed(schema, CheckState.FAILING),
            _timed(probe.check, CheckState.DEGRADED),
            _timed(watch, CheckState.DEGRADED),
        )
        checks = dict(zip(names, results, strict=True))
        if checks["database"].state is CheckState.FAILING:
            # Without the database the other answers mean nothing: say so instead of guessing.
            for name in ("schema", "watch"):
                checks[name] = Check(CheckState.FAILING, "needs the database")
        for name, check in checks.items():
            metrics.checks.labels(name).state(check.state.value)
        states = {check.state for check in checks.values()}
        status = (
            "unavailable" if CheckState.FAILING in states else "degraded" if CheckState.DEGRADED in states else "ready"
        )
        body = {
            "status": status,
            "checks": {n: {"state": c.state.value, "detail": c.detail} for n, c in checks.items()},
        }
        return JSONResponse(body, status_code=503 if status == "unavailable" else 200)

    return Route("/readyz", readyz, methods=["GET"])
