"""The complaint book reaches the desk: GetCustomerContext's open complaints carry owner,
team, promise, tier and channel; the cross-customer index lists what is open, never goes
back to an older snapshot and forgets an erased customer."""

from __future__ import annotations

import json

from backbone import snapshot as contract
from backbone.context.v1 import context_pb2 as pb
from services.context import mapping
from services.context.complaint_index import ComplaintIndex
from tests.integration.services.support import NOW_MS, snapshot

DAY = 86_400_000


def book(version: int, status: str = "assigned") -> dict:
    snap = snapshot("c1", version)
    snap["complaints"] = [
        {"complaint_id": "CP-1", "status": status, "category": "fees", "opened_at": NOW_MS,
         "due_at": NOW_MS + 30 * DAY, "channel": "WECHAT", "owner": "agent-7",
         "team": "cards", "tier_days": 30, "escalations": 1, "promise": "refund the fee",
         "resolved_at": None, "closed_at": None, "satisfaction": None},
        {"complaint_id": "CP-0", "status": "closed", "category": "atm", "opened_at": 1,
         "due_at": 2}]
    return snap


def test_open_complaints_show_what_was_promised_and_who_owns_it() -> None:
    snap = contract.CustomerContext.model_validate(book(1))
    ctx = mapping.customer_context("c1", snap, unmask=False, timeline=[])
    [c] = ctx.open_complaints
    assert (c.owner, c.team, c.promise, c.tier_days, c.escalations) == (
        "agent-7", "cards", "refund the fee", 30, 1)
    assert c.channel == pb.CHANNEL_WECHAT


def test_index_lists_open_ones_keeps_the_newest_and_forgets_erased_customers() -> None:
    index = ComplaintIndex()
    index.apply("c1", json.dumps(book(2)).encode())
    assert [c.complaint_id for c in index.open()] == ["CP-1"]
    assert index.get("CP-0") is not None  # closed ones are found, not listed
    index.apply("c1", json.dumps(book(1, status="closed")).encode())  # older: ignored
    assert [c.complaint_id for c in index.open(owner="agent-7", team="cards")] == ["CP-1"]
    index.apply("c1", json.dumps(book(3, status="closed")).encode())
    assert index.open() == []
    index.apply("c1", None)  # erased
    assert index.get("CP-1") is None and len(index) == 0
