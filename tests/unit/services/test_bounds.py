"""Bounded resources of the context service (no broker): the handoff book forgets closed
handoffs and never exceeds its size, watch streams are capped per principal, the server
sets its connection limits, and every cache's size is a metric read at scrape time."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from prometheus_client import REGISTRY

from backbone import vocabulary
from backbone.settings import Settings
from connectors.dedupe import RecentIds, SeenSignatures
from services.context.handoff_book import HandoffBook
from services.context.ratelimit import FailureLimiter
from services.context.server import server_options
from services.context.status import RpcFailure
from services.context.watch import LIMIT_REASON, WatchSlots


def _event(kind: str, hid: str, at: int, customer: str = "c") -> dict[str, Any]:
    return {"event_type": kind, "occurred_at": at, "journey_id": None, "reason": None,
            "payload": {"handoff_id": hid, "from_channel": "PHONE", "to_channel": "APP",
                        "summary": None},
            "attributes": {"customer_id": customer, "attempt_id": "a", "principal": "p",
                           "expires_at": str(at + 600_000), "token_hash": f"t-{hid}",
                           "code_hash": f"k-{hid}"}}


def _gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_closed_handoffs_are_evicted_after_the_retention_open_ones_stay() -> None:
    book = HandoffBook(decoder=None, topic="handoffs", retention_s=60.0)  # type: ignore[arg-type]
    book.apply(_event(vocabulary.HANDOFF_CREATED, "open", at=0))
    book.apply(_event(vocabulary.HANDOFF_CREATED, "done", at=0))
    book.apply(_event(vocabulary.HANDOFF_ACCEPTED, "done", at=1_000))
    assert _gauge("ccb_grpc_handoff_book_size", state="closed") == 1
    assert _gauge("ccb_grpc_handoff_book_size", state="open") == 1
    assert book.evict_closed(60_999) == 0  # still answers "already accepted"
    assert book.get("done") is not None and book.by_token("t-done") is not None
    assert book.evict_closed(61_000) == 1
    assert book.get("done") is None and book.by_token("t-done") is None
    assert book.by_code("k-done") == [] and [h.handoff_id for h in book.active_for("c")] == ["open"]
    assert len(book) == 1 and _gauge("ccb_grpc_handoff_book_size", state="closed") == 0


def test_book_is_bounded_and_evicts_the_oldest_closed_handoffs_first() -> None:
    book = HandoffBook(decoder=None, topic="handoffs", max_size=3)  # type: ignore[arg-type]
    book.apply(_event(vocabulary.HANDOFF_CREATED, "open-1", at=0))
    for i in range(2):
        book.apply(_event(vocabulary.HANDOFF_CREATED, f"closed-{i}", at=1))
        book.apply(_event(vocabulary.HANDOFF_CANCELLED, f"closed-{i}", at=2 + i))
    book.apply(_event(vocabulary.HANDOFF_CREATED, "open-2", at=5))
    assert len(book) == 3 and book.get("closed-0") is None
    assert all(book.get(h) for h in ("open-1", "closed-1", "open-2"))
    for i in range(3, 10):  # only open ones left: the oldest open one goes
        book.apply(_event(vocabulary.HANDOFF_CREATED, f"open-{i}", at=10 + i))
    assert len(book) == 3 and book.get("open-9") is not None and book.get("open-1") is None


def test_waiters_that_are_never_decided_do_not_pile_up() -> None:
    book = HandoffBook(decoder=None, topic="handoffs")  # type: ignore[arg-type]
    for _ in range(3):
        book.forget_waiter("h", book.decided("h"))
    assert book._waiters == {}


def test_watch_streams_are_capped_per_principal_with_retry_info() -> None:
    slots = WatchSlots(2)
    with slots.hold("a"), slots.hold("a"), slots.hold("b"):
        assert _gauge("ccb_grpc_watch_streams") == 3
        with pytest.raises(RpcFailure) as err, slots.hold("a"):
            pass
        assert err.value.grpc_code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert err.value.reason == LIMIT_REASON
        assert any(isinstance(d, error_details_pb2.RetryInfo) for d in err.value.details)
    assert slots.open_for("a") == 0 and _gauge("ccb_grpc_watch_streams") == 0
    with slots.hold("a"):  # a closed stream frees its slot
        assert slots.open_for("a") == 1


def test_server_options_carry_the_connection_age_settings() -> None:
    options = dict(server_options(Settings(grpc_max_connection_age_s=120,
                                           grpc_max_connection_age_grace_s=7.5)))
    assert options["grpc.max_connection_age_ms"] == 120_000
    assert options["grpc.max_connection_age_grace_ms"] == 7_500


def test_cache_sizes_are_gauges_read_at_scrape_time() -> None:
    recent: RecentIds[int] = RecentIds(2, name="test_recent")
    recent._entries["x"] = None  # type: ignore[assignment]
    assert _gauge("ccb_cache_entries", cache="test_recent") == 1
    seen = SeenSignatures(2, 60.0, clock=lambda: 100.0, name="test_seen")
    for key in "abc":
        seen.see(key, 100, "f")
    assert _gauge("ccb_cache_entries", cache="test_seen") == 2  # bounded by its capacity
    limiter = FailureLimiter(5, 300.0, max_principals=2, clock=lambda: 0.0)
    for who in "abcd":
        limiter.acquire(who)
    assert _gauge("ccb_cache_entries", cache="handoff_code_limiter") == 2
