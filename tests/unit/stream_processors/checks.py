"""Comparison of processor outputs with the reference log's known answers, shared by the
unit (in-memory) and integration (real worker, real broker) runs."""

from __future__ import annotations

from typing import Any

from stream_processors.identity import known_customer_id as C
from tests.unit.stream_processors import reference as ref


def check_context(context: dict[str, Any]) -> None:
    for cid, timeline in ref.EXPECTED_TIMELINES.items():
        snap = context.get(cid)
        assert snap is not None, f"no context for {cid}"
        assert [e["event_id"] for e in snap["timeline"]] == timeline, cid
        got = {(i["type"], i["value"]) for i in snap["identities"]}
        assert got == ref.EXPECTED_IDENTITIES[cid], cid
        assert set(snap["last_event_ids"]) >= set(timeline), cid
    for key in ref.EXPECTED_TOMBSTONES:
        assert key in context and context[key] is None, f"{key} should be a tombstone"
    live = {k for k, v in context.items() if v is not None}
    assert live == set(ref.EXPECTED_TIMELINES), live
    journeys = context[C("C100")]["journeys"]
    assert len(journeys) == 1
    assert {k: journeys[0][k] for k in ref.EXPECTED_JOURNEY_C100} == ref.EXPECTED_JOURNEY_C100
    assert context[C("C400")]["complaints"][0]["status"] == "closed"
    assert context[C("C100")]["surveys"] == [{"kind": "CSAT", "score": 5, "scale_max": 5,
                                            "at": ref.A_SURVEY["occurred_at"]}]
    call = next(c for c in context[C("C100")]["contacts"] if c["interaction_id"] == "call-a1")
    assert call["outcome"] == "completed"


def check_identity_events(events: list[dict[str, Any]]) -> None:
    got = {(e["type"], e["identifier"], e.get("customer_id")) for e in events}
    assert ref.EXPECTED_IDENTITY_EVENTS <= got, ref.EXPECTED_IDENTITY_EVENTS - got
    risky = {g for g in got if g[0] in ("shared", "conflict", "merge")}
    assert risky == {g for g in ref.EXPECTED_IDENTITY_EVENTS
                     if g[0] in ("shared", "conflict", "merge")}, risky


def kpi_mismatches(values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Expected KPI values that differ (empty when everything matches)."""
    bad: dict[str, Any] = {}
    for key, expected in ref.EXPECTED_KPIS.items():
        got = values.get(key) or {}
        for name, val in expected.items():
            if got.get(name) != val:
                bad[f"{key}:{name}"] = (got.get(name), val)
    return bad
