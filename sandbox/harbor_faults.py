"""The simulator's fault injection and request log (the /_sim/faults and /_sim/requests hooks), as a
mixin of HarborSimulator: what tests use to make Harbor slow, failing or absent, and to see what the
client asked."""

from __future__ import annotations

import random
import re

from sandbox.harbor_base import MAX_LOG, Clock, Fault, RequestRecord


class FaultsAndLog:
    """Needs `_faults`, `requests`, `_rng` and `clock`, which HarborSimulator sets up."""

    _faults: list[Fault]
    requests: list[RequestRecord]
    _rng: random.Random
    clock: Clock

    def add_fault(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        stall: float = 0.0,
        stall_after: bool = False,
        times: int | None = 1,
        probability: float = 1.0,
    ) -> None:
        """Queue a fault for matching non-/_sim/ requests; the first matching fault wins.

        status: answer this code with {"detail": <reason phrase>} (plus Retry-After when retry_after is
        set) instead of handling. stall: sleep that long before answering. stall_after: handle the request
        first (state changes happen), then stall, then send the real answer - or `status` if given.
        """
        if status is not None and not 100 <= int(status) <= 599:
            raise ValueError("status must be an HTTP status code")
        if status is None and stall <= 0:
            raise ValueError("a fault needs a status or a stall")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within 0..1")
        if stall < 0 or (retry_after is not None and retry_after < 0):
            raise ValueError("stall and retry_after must not be negative")
        try:
            pattern = re.compile(path) if path else None
        except re.error as exc:
            raise ValueError(f"bad path regex: {exc}") from None
        self._faults.append(
            Fault(
                method=method.upper() if method else None,
                path=pattern,
                status=None if status is None else int(status),
                retry_after=retry_after,
                stall=float(stall),
                stall_after=bool(stall_after),
                times=times,
                probability=float(probability),
            )
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    def pending_faults(self) -> list[Fault]:
        return list(self._faults)

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The fault that applies to this request, if any (consumes one of its `times`)."""
        for fault in self._faults:
            if not fault.matches(method, path):
                continue
            if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
            return fault
        return None

    def record_request(self, method: str, path: str, query: str, client_id: str | None) -> RequestRecord:
        record = RequestRecord(method, path, query, 0, client_id, self.clock.now())
        self.requests.append(record)
        if len(self.requests) > MAX_LOG:
            del self.requests[: len(self.requests) - MAX_LOG]
        return record
