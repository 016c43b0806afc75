"""Timeline: event-time order, dedupe by event id, size and age bounds, contacts."""

from __future__ import annotations

from backbone import models
from stream_processors import customer as cr
from stream_processors import snapshot
from stream_processors.synthetic import event, ident

T = 1_795_744_800_000
CN = [ident("CUSTOMER_NUMBER", "C1", verified=True)]


def _apply(state: dict | None, ev: dict, bounds: cr.Bounds = cr.Bounds()) -> cr.Applied:
    return cr.apply("c:C1", state, {"kind": "event", "event": ev, "identities": CN}, bounds)


def test_out_of_order_events_are_ordered_by_event_time_and_duplicates_ignored() -> None:
    evs = [event("digital.track", "APP", T + i * 1000, f"s{i}", identifiers=CN)
           for i in (3, 1, 2)]
    state = None
    for ev in evs + [evs[0]]:
        applied = _apply(state, ev)
        state = applied.state
    assert applied.dropped == "duplicate"
    snap = snapshot.build("c:C1", state, updated_at=0, journey_window_ms=1)
    assert [e["occurred_at"] for e in snap["timeline"]] == [T + 3000, T + 2000, T + 1000]
    assert snap["version"] == 3
    assert snap["last_event_ids"] == [e["event_id"] for e in evs]


def test_timeline_is_bounded_by_size_and_age() -> None:
    bounds = cr.Bounds(max_entries=5, max_age_ms=10_000)
    state = None
    for i in range(8):
        state = _apply(state, event("digital.track", "APP", T + i * 1000, f"s{i}",
                                    identifiers=CN), bounds).state
    assert [e["at"] for e in state["ev"]] == [T + i * 1000 for i in range(3, 8)]
    state = _apply(state, event("digital.track", "APP", T + 60_000, "late", identifiers=CN),
                   bounds).state
    assert [e["at"] for e in state["ev"]] == [T + 60_000]


def test_call_contact_outcome_and_journey_whatever_the_arrival_order() -> None:
    evs = [
        event("call.completed", "PHONE", T + 300_000, "c1", identifiers=CN,
              payload=models.CallPayload(talk_s=200.0), reason="card_lost"),
        event("call.queued", "PHONE", T, "c1", identifiers=CN, queue="q1", reason="card_lost"),
        event("call.answered", "PHONE", T + 15_000, "c1", identifiers=CN,
              payload=models.CallPayload(wait_s=15.0)),
    ]
    state = None
    for ev in evs:
        state = _apply(state, ev).state
    snap = snapshot.build("c:C1", state, updated_at=0, journey_window_ms=86_400_000)
    assert snap["contacts"] == [{"interaction_id": "c1", "channel": "PHONE", "started_at": T,
                                 "ended_at": T + 300_000, "outcome": "completed"}]
    assert snap["journeys"][0]["status"] == "resolved"
    assert snap["journeys"][0]["tried"] == ["PHONE: completed"]


def test_erasure_leaves_only_a_marker_and_later_replays_stay_deleted() -> None:
    ev = event("digital.track", "APP", T, "s1", identifiers=CN)
    state = _apply(None, ev).state
    erase = event("customer.erasure_requested", "APP", T + 10, "e1", identifiers=CN)
    applied = cr.apply("c:C1", state, {"kind": "erase", "event": erase}, cr.Bounds())
    assert applied.tombstone and applied.state["ev"] == [] and applied.state["ids"] == []
    assert {o.key for o in applied.outs} >= {"CUSTOMER_NUMBER:C1"}
    assert _apply(applied.state, ev).dropped == "customer erased"
