"""The per-principal limit on failed handoff-code redemptions (no broker)."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from services.context.ratelimit import REASON, FailureLimiter
from services.context.status import RpcFailure
from tests.integration.services.support import FakeClock


def _limiter(clock: FakeClock, max_principals: int = 100) -> FailureLimiter:
    return FailureLimiter(5, 300.0, max_principals=max_principals, clock=clock)


def _fail(limiter: FailureLimiter, who: str, n: int) -> None:
    for _ in range(n):
        limiter.acquire(who)
        limiter.release(who, failed=True)


def _retry_s(err: RpcFailure) -> float:
    for detail in err.details:
        if isinstance(detail, error_details_pb2.RetryInfo):
            return detail.retry_delay.ToMilliseconds() / 1000
    raise AssertionError("no RetryInfo")


def test_the_sixth_attempt_after_five_failures_is_refused_until_the_window_passes() -> None:
    clock = FakeClock(1000.0)
    limiter = _limiter(clock)
    _fail(limiter, "cti", 5)
    clock.advance(100)
    with pytest.raises(RpcFailure) as err:
        limiter.acquire("cti")
    assert err.value.grpc_code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.value.reason == REASON
    assert _retry_s(err.value) == 200.0  # when the oldest failure leaves the window
    limiter.acquire("desk-2")  # another principal is not affected
    clock.advance(200)
    limiter.acquire("cti")


def test_successes_do_not_count_and_attempts_in_flight_do() -> None:
    limiter = _limiter(FakeClock())
    for _ in range(20):
        limiter.acquire("cti")
        limiter.release("cti", failed=False)
    for _ in range(5):  # a burst of concurrent guesses, none answered yet
        limiter.acquire("burst")
    with pytest.raises(RpcFailure):
        limiter.acquire("burst")
    limiter.release("burst", failed=False)
    limiter.acquire("burst")


def test_memory_is_bounded_by_the_lru_of_principals() -> None:
    limiter = _limiter(FakeClock(), max_principals=3)
    _fail(limiter, "old", 5)
    for who in ("a", "b", "c"):
        limiter.acquire(who)
        limiter.release(who, failed=False)
    assert len(limiter) == 3
    limiter.acquire("old")  # evicted as least recently used: it starts afresh
