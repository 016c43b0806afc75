"""Pre-serialised GetCustomerContext answers: the cached context bytes plus the per-call
tail parse as one response, equal to building it whole (no broker)."""

from __future__ import annotations

import gc

from backbone import snapshot as contract
from backbone.context.v1 import context_pb2 as pb
from services.context import heap, mapping, responses
from tests.integration.services.support import entry, snapshot


def test_cached_bytes_plus_tail_equal_the_whole_response() -> None:
    data = snapshot("c", 7, n_events=30)
    found = entry("c", data)
    query = pb.TimelineQuery(page_size=10, channels=[pb.CHANNEL_APP])
    cached = responses.cached_context(found, False, query)
    fresh = responses.freshness(found, caught_up=True, lag=3, served_by="ctx-a")
    handoff = pb.Handoff(handoff_id="h1", customer_id="c", status=pb.HANDOFF_STATUS_CREATED)
    raw = responses.answer(cached, fresh=fresh, handoffs=[handoff], role=pb.ROLE_AUDITOR)

    snap = contract.CustomerContext.model_validate(data)
    chunk, expected_token = mapping.page(mapping.filtered_timeline(snap, query), query)
    whole = pb.GetCustomerContextResponse(
        context=mapping.customer_context("c", snap, unmask=False, timeline=chunk),
        next_page_token=expected_token, caller_role=pb.ROLE_AUDITOR)
    whole.context.freshness.CopyFrom(fresh)
    whole.context.active_handoffs.append(handoff)
    assert pb.GetCustomerContextResponse.FromString(raw) == whole
    assert expected_token and len(whole.context.timeline) == 10
    assert whole.context.freshness.updated_at_ms == data["updated_at"]


def test_answers_are_cached_per_masking_and_query_and_bounded() -> None:
    found = entry("c", snapshot("c", 1, n_events=5))
    masked = responses.cached_context(found, False, pb.TimelineQuery())
    assert responses.cached_context(found, False, pb.TimelineQuery()) is masked
    unmasked = responses.cached_context(found, True, pb.TimelineQuery())
    assert unmasked != masked and b"h:k1:phonehash" in unmasked and b"h:k1:" not in masked
    for size in range(1, 40):
        responses.cached_context(found, False, pb.TimelineQuery(page_size=size))
    assert len(found.cache) == responses.PER_ENTRY


def test_view_entries_leave_little_for_the_collector() -> None:
    """A view entry holds bytes and tuples, not parsed snapshots, and its answer cache is
    bytes to bytes: one object per customer for the collector to walk, answers included."""
    gc.collect()
    before = len(gc.get_objects())
    entries = [entry(f"c{i}", snapshot(f"c{i}", 1, n_events=50)) for i in range(200)]
    for e in entries:
        responses.cached_context(e, False, pb.TimelineQuery(page_size=50))
    gc.collect()
    per_entry = (len(gc.get_objects()) - before) / len(entries)
    assert per_entry < 1.5, per_entry


def test_pause_meter_sees_collections() -> None:
    meter = heap.PauseMeter().install()
    try:
        gc.collect()
    finally:
        meter.remove()
    count, wall_ms, cpu_ms = meter.summary()[2]
    assert count == 1 and wall_ms >= 0 and cpu_ms >= 0
