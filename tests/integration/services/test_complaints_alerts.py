"""Complaints and early warnings over gRPC against the real broker: open complaints across
customers by owner, team and due date, overdue ones; a step published as an event, with
roles and an audit record; WatchAlerts pushes what ccb.alerts says."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import grpc
import pytest
from confluent_kafka import Producer

from backbone import alert_record
from backbone.context.v1 import context_pb2 as pb
from backbone.serde import INTERACTION_EVENT, AvroSerde, registry_client
from backbone.settings import Settings
from services.context.server import ContextServer
from tests.integration.services.support import (
    SnapshotWriter,
    auth,
    by_id,
    read_topic,
    snapshot,
    stub,
)

NOW = int(time.time() * 1000)
DAY = 86_400_000


def with_complaints(cid: str, version: int, complaints: list[dict[str, Any]]) -> dict[str, Any]:
    snap = snapshot(cid, version)
    snap["complaints"] = [{"complaint_id": c["id"], "status": c.get("status", "assigned"),
                           "category": "fees", "opened_at": NOW - DAY, "due_at": c["due"],
                           "channel": c.get("channel", "PHONE"), "owner": c.get("owner"),
                           "team": c.get("team"), "tier_days": 15, "escalations": 0,
                           "promise": None, "resolved_at": None, "closed_at": None,
                           "satisfaction": None} for c in complaints]
    return snap


async def seed(writer: SnapshotWriter, api: Any) -> None:
    writer.put("cust-a", with_complaints("cust-a", 1, [
        {"id": "CP-A1", "due": NOW + 10 * DAY, "owner": "agent-7", "team": "cards"},
        {"id": "CP-A2", "due": NOW - DAY, "owner": "agent-8", "team": "cards"},  # overdue
        {"id": "CP-A3", "due": NOW - 2 * DAY, "status": "closed", "owner": "agent-7"}]))
    writer.put("cust-b", with_complaints("cust-b", 1, [
        {"id": "CP-B1", "due": NOW + DAY, "team": "loans", "channel": "WECHAT"}]))
    writer.put("cust-c", snapshot("cust-c", 1) | {"complaints": []})
    await api.GetCustomerContext(pb.GetCustomerContextRequest(
        lookup=by_id("cust-c"), purpose="marker", min_freshness=pb.Watermark(min_version=1)),
        metadata=auth("agent"), timeout=15)


async def test_open_and_overdue_complaints_across_customers(server: ContextServer,
                                                            writer: SnapshotWriter) -> None:
    channel, api = stub(server.port)
    async with channel:
        await seed(writer, api)

        async def ids(role: str = "supervisor", **query: Any) -> list[str]:
            found = await api.ListComplaints(pb.ListComplaintsRequest(**query),
                                             metadata=auth(role), timeout=5)
            return [c.complaint_id for c in found.complaints]

        assert await ids() == ["CP-A2", "CP-B1", "CP-A1"]  # open only, earliest due first
        assert await ids(owner="agent-7") == ["CP-A1"]
        assert await ids(team="cards") == ["CP-A2", "CP-A1"]
        assert await ids(overdue_only=True) == ["CP-A2"]
        assert await ids(due_before_ms=NOW + 2 * DAY) == ["CP-A2", "CP-B1"]
        assert await ids(channels=[pb.CHANNEL_WECHAT], role="auditor") == ["CP-B1"]
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await ids(role="channel_system")
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_step_is_published_as_an_event_by_its_caller_and_audited(
        server: ContextServer, writer: SnapshotWriter, ctx_settings: Settings) -> None:
    channel, api = stub(server.port)
    async with channel:
        await seed(writer, api)
        answer = await api.UpdateComplaint(pb.UpdateComplaintRequest(
            complaint_id="CP-B1", action="escalate", team="complaints-office",
            reason="customer threatens to go to the regulator"),
            metadata=auth("supervisor"), timeout=5)
        assert answer.complaint.customer_id == "cust-b" and answer.event_id
        with pytest.raises(grpc.aio.AioRpcError) as refused:  # extension: supervisors only
            await api.UpdateComplaint(pb.UpdateComplaintRequest(
                complaint_id="CP-B1", action="extend", reason="complex"),
                metadata=auth("agent"), timeout=5)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as closed:
            await api.UpdateComplaint(pb.UpdateComplaintRequest(
                complaint_id="CP-A3", action="close"), metadata=auth("agent"), timeout=5)
        assert closed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    serde = AvroSerde(registry_client(ctx_settings), INTERACTION_EVENT)
    [(key, value)] = read_topic(ctx_settings, "handoffs", expect=1)
    event = serde.deserialize(ctx_settings.topic("handoffs"), value)
    assert key == b"cust-b" and event["event_type"] == "complaint.escalated"
    assert event["attributes"]["customer_id"] == "cust-b"
    assert event["attributes"]["complaint_team"] == "complaints-office"
    assert event["actor"]["id"] == "supervisor-dev"  # the caller, from its token
    audits = [json.loads(v) for _, v in read_topic(ctx_settings, "audit", expect=20,
                                                   timeout_s=3)]
    steps = [a for a in audits if str(a.get("action", "")).startswith("complaint.")]
    assert {(a["action"], a["outcome"]) for a in steps} >= {
        ("complaint.escalate", "OK"), ("complaint.close", "FAILED_PRECONDITION")}


async def test_watch_alerts_sends_firing_ones_then_transitions(
        server: ContextServer, ctx_settings: Settings) -> None:
    producer = Producer(ctx_settings.producer_config())

    def put(alert: str, state: str, scope: str = "queue:cards") -> None:
        record = alert_record.build(alert, "PHONE", scope, state, at=int(time.time() * 1000),
                                    since=NOW, severity="warning", value=0.5,
                                    threshold=0.8, message="test")
        producer.produce(ctx_settings.topic("alerts"), key=alert_record.key(
            alert, "PHONE", scope), value=json.dumps(record).encode())
        assert producer.flush(10) == 0

    put("asa_above_threshold", "firing")
    put("abandonment_above_threshold", "firing")
    put("abandonment_above_threshold", "resolved")
    channel, api = stub(server.port)
    async with channel:
        got: list[pb.AlertUpdate] = []
        stream = api.WatchAlerts(pb.WatchAlertsRequest(channels=["PHONE"]),
                                 metadata=auth("supervisor"))

        async def read(n: int) -> None:
            async for update in stream:
                got.append(update)
                if len(got) >= n:
                    return

        deadline = time.monotonic() + 15
        while not any(u.initial for u in got) and time.monotonic() < deadline:
            got.clear()
            stream = api.WatchAlerts(pb.WatchAlertsRequest(channels=["PHONE"]),
                                     metadata=auth("supervisor"))
            await asyncio.wait_for(read(2), 10)
            if not got[0].initial:  # the board had not read the topic yet
                stream.cancel()
                await asyncio.sleep(0.2)
        assert [(u.alert.alert, u.initial) for u in got] == [("asa_above_threshold", True),
                                                             ("", False)]
        assert got[1].caught_up
        put("asa_above_threshold", "resolved")
        await asyncio.wait_for(read(3), 10)
        assert (got[2].alert.alert, got[2].alert.state) == ("asa_above_threshold", "resolved")
        stream.cancel()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in api.WatchAlerts(pb.WatchAlertsRequest(), metadata=auth("agent")):
                pass
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
