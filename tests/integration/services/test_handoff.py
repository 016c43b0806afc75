"""Handoff end to end: phone creates, the app redeems once; expiry, cancel, wrong channel."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from backbone import vocabulary
from backbone.context.v1 import context_pb2 as pb
from backbone.serde import INTERACTION_EVENT, AvroSerde
from services.context.server import ContextServer, _shared_registry
from tests.integration.services.support import (
    FakeClock,
    SnapshotWriter,
    auth,
    by_id,
    read_topic,
    snapshot,
    stub,
)


def reason_of(err: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(err)
    assert status is not None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    raise AssertionError("no ErrorInfo")


async def _ready_customer(api, writer: SnapshotWriter, cid: str) -> None:
    writer.put(cid, snapshot(cid, 1))
    await api.GetCustomerContext(pb.GetCustomerContextRequest(
        lookup=by_id(cid), purpose="t", min_freshness=pb.Watermark(min_version=1)),
        metadata=auth("agent"), timeout=15)


def _create(cid: str, to: int = pb.CHANNEL_APP, ttl: int = 0) -> pb.CreateHandoffRequest:
    return pb.CreateHandoffRequest(lookup=by_id(cid), from_channel=pb.CHANNEL_PHONE,
                                   to_channel=to, journey_id="j1", reason="transfer_failed",
                                   summary="promised a callback about the failed transfer",
                                   ttl_seconds=ttl)


async def test_phone_to_app_handoff_is_redeemed_once(server: ContextServer,
                                                     writer: SnapshotWriter) -> None:
    channel, api = stub(server.port)
    async with channel:
        await _ready_customer(api, writer, "cust-h1")
        created = await api.CreateHandoff(_create("cust-h1"), metadata=auth("agent"), timeout=10)
        assert created.short_code.isdigit() and len(created.short_code) == 8
        assert created.handoff.status == pb.HANDOFF_STATUS_CREATED
        assert created.handoff.expires_at_ms > created.handoff.created_at_ms
        ctx = await api.GetCustomerContext(pb.GetCustomerContextRequest(
            lookup=by_id("cust-h1"), purpose="t"), metadata=auth("agent"), timeout=5)
        assert [h.handoff_id for h in ctx.context.active_handoffs] == [created.handoff.handoff_id]

        accepted = await api.AcceptHandoff(pb.AcceptHandoffRequest(
            short_code=created.short_code, channel=pb.CHANNEL_APP, purpose="app_chat"),
            metadata=auth("channel_system"), timeout=10)
        assert accepted.handoff.status == pb.HANDOFF_STATUS_ACCEPTED
        assert accepted.context.customer_id == "cust-h1"
        assert accepted.context.open_journeys[0].reason == "transfer_failed"
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.AcceptHandoff(pb.AcceptHandoffRequest(
                token=created.token, channel=pb.CHANNEL_APP), metadata=auth("agent"), timeout=10)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason_of(err.value) == "HANDOFF_ALREADY_ACCEPTED"
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.AcceptHandoff(pb.AcceptHandoffRequest(
                token="not-a-token", channel=pb.CHANNEL_APP), metadata=auth("agent"), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND

    # both steps are Avro InteractionEvents on the handoffs topic, keyed by customer
    serde = AvroSerde(_shared_registry(server.settings), INTERACTION_EVENT)
    records = read_topic(server.settings, "handoffs", expect=2)
    events = [serde.deserialize(server.settings.topic("handoffs"), v) for _, v in records]
    assert [k for k, _ in records] == [b"cust-h1", b"cust-h1"]
    assert [e["event_type"] for e in events] == [vocabulary.HANDOFF_CREATED,
                                                 vocabulary.HANDOFF_ACCEPTED]
    assert [e["channel"] for e in events] == ["PHONE", "APP"]
    assert events[0]["event_id"] == created.event_id
    assert events[1]["event_id"] == accepted.event_id
    assert all(e["attributes"]["customer_id"] == "cust-h1" for e in events)
    assert events[0]["payload"]["summary"] == "promised a callback about the failed transfer"
    assert created.token not in str(events) and created.short_code not in str(events)


async def test_concurrent_redeems_have_exactly_one_winner(server: ContextServer,
                                                          writer: SnapshotWriter) -> None:
    channel, api = stub(server.port)
    async with channel:
        await _ready_customer(api, writer, "cust-h2")
        created = await api.CreateHandoff(_create("cust-h2"), metadata=auth("agent"), timeout=10)
        results = await asyncio.gather(*[api.AcceptHandoff(pb.AcceptHandoffRequest(
            token=created.token, channel=pb.CHANNEL_APP), metadata=auth("agent"), timeout=10)
            for _ in range(5)], return_exceptions=True)
        wins = [r for r in results if isinstance(r, pb.AcceptHandoffResponse)]
        losses = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert len(wins) == 1 and len(losses) == 4
        assert {reason_of(e) for e in losses} == {"HANDOFF_ALREADY_ACCEPTED"}


async def test_expired_cancelled_and_wrong_channel(server: ContextServer, writer: SnapshotWriter,
                                                   clock: FakeClock) -> None:
    channel, api = stub(server.port)
    async with channel:
        await _ready_customer(api, writer, "cust-h3")
        wrong = await api.CreateHandoff(_create("cust-h3", to=pb.CHANNEL_BRANCH),
                                        metadata=auth("agent"), timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.AcceptHandoff(pb.AcceptHandoffRequest(
                token=wrong.token, channel=pb.CHANNEL_WECHAT), metadata=auth("agent"), timeout=10)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason_of(err.value) == "HANDOFF_WRONG_CHANNEL"

        cancelled = await api.CreateHandoff(_create("cust-h3"), metadata=auth("agent"), timeout=10)
        done = await api.CancelHandoff(pb.CancelHandoffRequest(
            handoff_id=cancelled.handoff.handoff_id, reason="customer hung up"),
            metadata=auth("agent"), timeout=10)
        assert done.handoff.status == pb.HANDOFF_STATUS_CANCELLED
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.AcceptHandoff(pb.AcceptHandoffRequest(
                token=cancelled.token, channel=pb.CHANNEL_APP), metadata=auth("agent"), timeout=10)
        assert reason_of(err.value) == "HANDOFF_CANCELLED"

        short = await api.CreateHandoff(_create("cust-h3", ttl=60), metadata=auth("agent"),
                                        timeout=10)
        clock.advance(61)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.AcceptHandoff(pb.AcceptHandoffRequest(
                token=short.token, channel=pb.CHANNEL_APP), metadata=auth("agent"), timeout=10)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason_of(err.value) == "HANDOFF_EXPIRED"
        # the creating instance publishes handoff.expired for it
        for _ in range(200):
            if server.book.get(short.handoff.handoff_id).status == "expired":  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.05)
        assert server.book.get(short.handoff.handoff_id).status == "expired"  # type: ignore[union-attr]
        ctx = await api.GetCustomerContext(pb.GetCustomerContextRequest(
            lookup=by_id("cust-h3"), purpose="t"), metadata=auth("agent"), timeout=5)
        assert [h.handoff_id for h in ctx.context.active_handoffs] == [wrong.handoff.handoff_id]


async def test_created_event_id_is_a_read_your_writes_watermark(server: ContextServer,
                                                                writer: SnapshotWriter) -> None:
    channel, api = stub(server.port)
    async with channel:
        await _ready_customer(api, writer, "cust-h4")
        created = await api.CreateHandoff(_create("cust-h4"), metadata=auth("agent"), timeout=10)
        call = asyncio.ensure_future(api.GetCustomerContext(pb.GetCustomerContextRequest(
            lookup=by_id("cust-h4"), purpose="t",
            min_freshness=pb.Watermark(event_ids=[created.event_id])),
            metadata=auth("agent"), timeout=15))
        await asyncio.sleep(0.2)
        assert not call.done()
        # the stream processor applies the handoff.created event to the customer's context
        writer.put("cust-h4", snapshot("cust-h4", 2, extra_ids=[created.event_id]))
        assert (await call).context.freshness.version == 2
