"""Per-principal limit on failed handoff-code redemptions (8 digits can be guessed).

A principal may have at most ``max_failures`` failed redemptions within a sliding window;
attempts still in flight count as failures until they end, so a burst of concurrent
guesses cannot overshoot the limit while each waits for its answer. State is one small
record per principal in an LRU, so memory stays bounded whoever calls. Per instance: N
instances behind a balancer allow N times the limit.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from backbone import metrics
from services.context.status import retry_later

REASON = "HANDOFF_CODE_RATE_LIMITED"


@dataclass(slots=True)
class _Principal:
    failures: deque[float] = field(default_factory=deque)  # times, oldest first
    in_flight: int = 0


class FailureLimiter:
    """``acquire`` before an attempt, ``release`` after it; used from the event loop only."""

    def __init__(self, max_failures: int, window_s: float, *, max_principals: int,
                 clock: Callable[[], float]):
        self._max = max_failures
        self._window = window_s
        self._max_principals = max_principals
        self._clock = clock
        self._principals: OrderedDict[str, _Principal] = OrderedDict()
        metrics.CACHE_ENTRIES.labels("handoff_code_limiter").set_function(
            lambda: len(self._principals))

    def _state(self, principal: str) -> _Principal:
        state = self._principals.get(principal)
        if state is None:
            state = self._principals[principal] = _Principal()
            while len(self._principals) > self._max_principals:
                self._principals.popitem(last=False)
        else:
            self._principals.move_to_end(principal)
        horizon = self._clock() - self._window
        while state.failures and state.failures[0] <= horizon:
            state.failures.popleft()
        return state

    def acquire(self, principal: str) -> None:
        """Raises RESOURCE_EXHAUSTED (with RetryInfo) when the principal is over the limit."""
        state = self._state(principal)
        if len(state.failures) + state.in_flight >= self._max:
            retry = state.failures[0] + self._window - self._clock() if state.failures else 1.0
            raise retry_later(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self._max} failed handoff-code redemptions within {self._window:.0f}s; "
                "redeem by token or try again later", max(retry, 1.0), REASON)
        state.in_flight += 1

    def release(self, principal: str, *, failed: bool) -> None:
        state = self._state(principal)
        state.in_flight = max(state.in_flight - 1, 0)
        if failed:
            state.failures.append(self._clock())
            while len(state.failures) > self._max:  # older ones no longer decide anything
                state.failures.popleft()

    def __len__(self) -> int:
        return len(self._principals)
