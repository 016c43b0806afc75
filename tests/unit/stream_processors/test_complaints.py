"""The complaint book: 15/30/60-day due dates in Asia/Shanghai calendar days, the
lifecycle, and the complaint SLA the KPIs count from it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backbone import models
from stream_processors import complaints, customer, kpis, windows
from stream_processors.synthetic import event, ident

TZ = "Asia/Shanghai"
IDS = [ident("CUSTOMER_NUMBER", "C900", verified=True)]


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def utc(at: int) -> str:
    return datetime.fromtimestamp(at / 1000, UTC).isoformat()


def step(etype: str, at: int, channel: str = "PHONE", **attrs: str) -> dict[str, Any]:
    status = etype.split(".", 1)[1]
    return event(etype, channel, at, "call-c1", identifiers=IDS, attributes=attrs,
                 payload=models.ComplaintPayload(complaint_id="CP-9", status=status,
                                                 category="fees"))


def run(*events: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] | None = None
    for e in events:
        state = customer.apply("C900", state, {"kind": "event", "event": e},
                               customer.Bounds()).state
    assert state is not None
    return state


def test_fifteen_days_end_at_shanghai_midnight_not_counting_the_day_of_receipt() -> None:
    # 23:59:59 in Shanghai on 1 March is still 1 March: due 17 March 00:00 local.
    late = ms("2026-03-01T23:59:59+08:00")
    assert utc(complaints.due_at(late, 15, TZ)) == "2026-03-16T16:00:00+00:00"
    # One second later it is 2 March in Shanghai (16:00 UTC on 1 March): one day more.
    early = ms("2026-03-02T00:00:00+08:00")
    assert utc(complaints.due_at(early, 15, TZ)) == "2026-03-17T16:00:00+00:00"
    assert complaints.due_at(late, 15, "UTC") != complaints.due_at(late, 15, TZ)


def test_tiers_extend_from_the_day_of_receipt_and_stop_at_sixty_days() -> None:
    opened = ms("2026-03-01T10:00:00+08:00")
    state = run(step("complaint.opened", opened))
    assert utc(state["complaints"]["CP-9"]["due"]) == "2026-03-16T16:00:00+00:00"
    ext = step("complaint.extended", opened + 86_400_000, complaint_reason="needs merchant")
    state = run(step("complaint.opened", opened), ext)
    c = state["complaints"]["CP-9"]
    assert (c["tier"], utc(c["due"]), c["why"]) == (30, "2026-03-31T16:00:00+00:00",
                                                     "needs merchant")
    again = step("complaint.extended", opened + 2 * 86_400_000, complaint_reason="complex")
    third = step("complaint.extended", opened + 3 * 86_400_000, complaint_reason="more")
    c = run(step("complaint.opened", opened), ext, again, third)["complaints"]["CP-9"]
    assert c["tier"] == 60 and utc(c["due"]) == "2026-04-30T16:00:00+00:00"


def test_lifecycle_keeps_owner_promise_escalation_and_satisfaction() -> None:
    t = ms("2026-03-01T10:00:00+08:00")
    state = run(
        step("complaint.opened", t, "WECHAT"),
        step("complaint.acknowledged", t + 60_000),
        step("complaint.assigned", t + 120_000, complaint_owner="agent:a7",
             complaint_team="cards-team", complaint_promise="refund the fee"),
        step("complaint.escalated", t + 180_000, complaint_team="cards-2nd-line"),
        step("complaint.resolved", t + 240_000, complaint_satisfaction="4",
             complaint_satisfaction_max="5"),
        step("complaint.closed", t + 300_000))
    (book,) = complaints.book(state["complaints"])
    assert book["status"] == "closed" and book["channel"] == "WECHAT"
    assert (book["owner"], book["team"], book["promise"]) == (
        "agent:a7", "cards-2nd-line", "refund the fee")
    assert book["escalations"] == 1 and book["satisfaction"] == 4
    assert book["resolved_at"] == t + 240_000 and book["closed_at"] == t + 300_000
    assert book["tier_days"] == 15


def test_reopened_complaint_is_open_again_against_its_due_date() -> None:
    t = ms("2026-03-01T10:00:00+08:00")
    c = run(step("complaint.opened", t), step("complaint.closed", t + 1000),
            step("complaint.reopened", t + 2000))["complaints"]["CP-9"]
    assert complaints.is_open(c) and complaints.done_at(c) is None
    assert c["due"] == complaints.due_at(t, 15, TZ)


def sla(state: dict[str, Any], now: int) -> dict[str, Any]:
    f = kpis.facts(state, kpis.KpiConfig())
    buckets: dict[str, dict[str, float]] = {}
    for key, counters in f.items():
        _, _, kind, minute = key.split("|")
        buckets[f"{kind}|{minute}"] = counters
    return windows.compute([buckets], now, kpis.KpiConfig())["today"]


def test_sla_counts_the_decision_before_local_midnight_as_on_time() -> None:
    opened = ms("2026-03-01T10:00:00+08:00")
    in_time = ms("2026-03-16T23:59:00+08:00")
    late = ms("2026-03-17T00:00:30+08:00")
    on = run(step("complaint.opened", opened), step("complaint.resolved", in_time,
                                                     complaint_satisfaction="5"))
    assert sla(on, in_time + 1000)["complaint_sla"] == 1.0
    off = run(step("complaint.opened", opened), step("complaint.resolved", late))
    assert sla(off, late + 1000)["complaint_sla"] == 0.0
    # Extended to 30 days, the same late decision is on time.
    ext = run(step("complaint.opened", opened), step("complaint.extended", opened + 1000),
              step("complaint.resolved", late))
    assert sla(ext, late + 1000)["complaint_sla"] == 1.0


def test_open_complaints_count_as_due_soon_then_overdue() -> None:
    opened = ms("2026-03-01T10:00:00+08:00")
    state = run(step("complaint.opened", opened))
    due = state["complaints"]["CP-9"]["due"]
    early = sla(state, opened + 60_000)
    assert early["complaints_open"] == 1 and early["complaints_due_soon"] == 0
    assert sla(state, due - 86_400_000)["complaints_due_soon"] == 1
    after = sla(state, due + 60_000)
    assert after["complaints_overdue"] == 1 and after["complaint_sla"] == 0.0
