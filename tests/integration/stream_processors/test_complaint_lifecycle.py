"""A complaint's closed loop as real processes on the real broker: opened on a call (the
desk's event on ccb.interactions) → worker → the customer's complaint book → context
service; then assigned, escalated, extended, resolved and closed over gRPC (each step an
event the worker applies) until the complaint SLA and resolution KPIs count it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc

from backbone import models
from backbone.context.v1 import context_pb2 as pb
from backbone.context.v1 import context_pb2_grpc as pb_grpc
from stream_processors.identity import known_customer_id
from stream_processors.synthetic import event, ident
from tests.integration.stream_processors import harness as h

NUMBER = "C80000001"
SUPERVISOR = (("authorization", "Bearer dev-supervisor-token"),)
AGENT = (("authorization", "Bearer dev-agent-token"),)


def listed(api: pb_grpc.CustomerContextServiceStub, **query: Any) -> list[pb.ComplaintRecord]:
    try:
        return list(api.ListComplaints(pb.ListComplaintsRequest(**query), metadata=AGENT,
                                       timeout=5).complaints)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNAVAILABLE:  # not caught up yet
            return []
        raise


def until(pred: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = pred()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s}s: {what}")


def step(api: pb_grpc.CustomerContextServiceStub, action: str, **fields: Any) -> None:
    api.UpdateComplaint(pb.UpdateComplaintRequest(complaint_id="CP-E2E", action=action,
                                                  **fields), metadata=SUPERVISOR, timeout=5)


def test_opened_on_a_call_then_worked_over_grpc_until_the_sla_counts_it(running) -> None:
    settings, api = running
    now = int(time.time() * 1000)
    ids = [ident("CUSTOMER_NUMBER", NUMBER, verified=True)]
    h.produce(settings, [
        event("call.ivr_authenticated", "PHONE", now - 60_000, "call:L1", identifiers=ids),
        event("complaint.opened", "PHONE", now - 30_000, "call:L1", identifiers=[],
              attributes={"complaint_promise": "call back within 2 days"},
              payload=models.ComplaintPayload(complaint_id="CP-E2E", status="opened",
                                              category="card_fees")),
    ])
    [opened] = until(lambda: listed(api), 60, "the opened complaint listed")
    assert opened.customer_id == known_customer_id(NUMBER)
    assert opened.tier_days == 15 and opened.promise == "call back within 2 days"
    step(api, "assign", owner="agent-7", team="cards")
    until(lambda: listed(api, owner="agent-7"), 20, "assigned to agent-7")
    for _retry in range(2):  # a retried call with its request id: applied once
        step(api, "escalate", team="complaints-office", reason="regulator mentioned",
             request_id="esc-1")
    step(api, "extend", reason="waiting for the card scheme")
    [extended] = until(lambda: [c for c in listed(api) if c.tier_days == 30], 20, "extended")
    assert extended.escalations == 1 and extended.team == "complaints-office"
    assert extended.due_at_ms > opened.due_at_ms + 14 * 86_400_000
    step(api, "resolve", satisfaction=5, satisfaction_max=5)
    step(api, "close")
    until(lambda: not listed(api), 20, "closed: no longer open")

    def counted() -> dict[str, Any] | None:
        rec = h.latest(settings, "kpis").get("PHONE|all|today")
        values = (rec or {}).get("values", {})
        return values if values.get("complaints_closed") else None

    values = until(counted, 30, "the complaint SLA counted")
    assert values["complaint_sla"] == 1.0
    assert values["complaint_resolution_rate"] == 1.0
    assert values["complaint_satisfaction"] == 1.0
    snap = h.latest(settings, "customer-context")[known_customer_id(NUMBER)]
    [book] = snap["complaints"]
    assert (book["status"], book["owner"], book["tier_days"], book["satisfaction"]) == (
        "closed", "agent-7", 30, 5)
