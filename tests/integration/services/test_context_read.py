"""GetCustomerContext over a real gRPC channel, fed from the real broker."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from backbone.context.v1 import context_pb2 as pb
from backbone.identifiers import Hasher
from services.context.server import ContextServer
from tests.integration.services.support import (
    SnapshotWriter,
    auth,
    by_id,
    snapshot,
    stub,
)


async def _until_visible(stub_, cid: str, version: int) -> pb.GetCustomerContextResponse:
    return await stub_.GetCustomerContext(
        pb.GetCustomerContextRequest(lookup=by_id(cid), purpose="test",
                                     min_freshness=pb.Watermark(min_version=version)),
        metadata=auth("agent"), timeout=15)


async def test_context_for_customer_by_id_and_by_raw_phone(server: ContextServer,
                                                           writer: SnapshotWriter) -> None:
    phone_hash = Hasher.from_settings(server.settings).hash("PHONE", "13800131234")
    writer.put("cust-1", snapshot("cust-1", 3, n_events=50, phone_hash=phone_hash))
    channel, api = stub(server.port)
    async with channel:
        first = await _until_visible(api, "cust-1", 3)
        ctx = first.context
        assert ctx.customer_id == "cust-1"
        assert [t.event_id for t in ctx.timeline] == [f"e{i}" for i in range(49, 29, -1)]
        assert first.next_page_token
        assert [j.journey_id for j in ctx.open_journeys] == ["j1"]
        assert ctx.open_journeys[0].tried == ["APP: failed (E42)", "PHONE: transferred"]
        assert ctx.open_journeys[0].last_channel == pb.CHANNEL_PHONE
        assert [c.complaint_id for c in ctx.open_complaints] == ["c1"]
        assert ctx.last_csat.score == 4 and ctx.last_nps.score == 9
        assert ctx.counts.contacts_7d == 3 and ctx.counts.contacts_30d == 5
        assert ctx.freshness.version == 3 and ctx.freshness.view_caught_up
        assert ctx.freshness.served_by == "ctx-a"
        # the caller types the number as the customer says it; the service hashes it
        by_phone = await api.GetCustomerContext(pb.GetCustomerContextRequest(
            lookup=pb.CustomerLookup(identifier=pb.IdentifierKey(type="phone",
                                                                 value="+86 138-0013-1234")),
            purpose="inbound_call"), metadata=auth("channel_system"), timeout=5)
        assert by_phone.context.customer_id == "cust-1"
        assert by_phone.caller_role == pb.ROLE_CHANNEL_SYSTEM


async def test_timeline_paging_and_filters(server: ContextServer, writer: SnapshotWriter) -> None:
    writer.put("cust-2", snapshot("cust-2", 1, n_events=50))
    channel, api = stub(server.port)
    async with channel:
        await _until_visible(api, "cust-2", 1)
        seen: list[str] = []
        token = ""
        while True:
            page = await api.GetCustomerContext(pb.GetCustomerContextRequest(
                lookup=by_id("cust-2"), purpose="test",
                timeline=pb.TimelineQuery(page_size=15, page_token=token,
                                          channels=[pb.CHANNEL_PHONE])),
                metadata=auth("agent"), timeout=5)
            seen += [t.event_id for t in page.context.timeline]
            assert all(t.channel == pb.CHANNEL_PHONE for t in page.context.timeline)
            token = page.next_page_token
            if not token:
                break
        assert seen == [f"e{i}" for i in range(49, -1, -1) if i % 2 == 1]
        windowed = await api.GetCustomerContext(pb.GetCustomerContextRequest(
            lookup=by_id("cust-2"), purpose="test",
            timeline=pb.TimelineQuery(since_ms=1_790_000_010_000, until_ms=1_790_000_013_000)),
            metadata=auth("agent"), timeout=5)
        assert [t.event_id for t in windowed.context.timeline] == ["e12", "e11", "e10"]


async def test_bad_requests_unknown_customers_and_deadlines(server: ContextServer,
                                                            writer: SnapshotWriter) -> None:
    channel, api = stub(server.port)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.GetCustomerContext(pb.GetCustomerContextRequest(
                lookup=pb.CustomerLookup(identifier=pb.IdentifierKey(type="SHOE_SIZE")),
                purpose=""), metadata=auth("agent"), timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(err.value)
        assert status is not None
        bad = error_details_pb2.BadRequest()
        assert status.details[0].Unpack(bad)
        assert {v.field for v in bad.field_violations} == {"purpose"}
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.GetCustomerContext(pb.GetCustomerContextRequest(
                lookup=pb.CustomerLookup(identifier=pb.IdentifierKey(type="SHOE_SIZE")),
                purpose="x"), metadata=auth("agent"), timeout=5)
        status = rpc_status.from_call(err.value)
        assert status is not None and status.details[0].Unpack(bad)
        assert {v.field for v in bad.field_violations} == {"lookup.identifier.type",
                                                          "lookup.identifier.value"}
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.GetCustomerContext(pb.GetCustomerContextRequest(
                lookup=by_id("nobody"), purpose="x"), metadata=auth("agent"), timeout=5)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        # read-your-writes for an event that never arrives: waits, then DEADLINE_EXCEEDED
        writer.put("cust-3", snapshot("cust-3", 1))
        await _until_visible(api, "cust-3", 1)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.GetCustomerContext(pb.GetCustomerContextRequest(
                lookup=by_id("cust-3"), purpose="x",
                min_freshness=pb.Watermark(event_ids=["never"])),
                metadata=auth("agent"), timeout=0.5)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_read_your_writes_waits_for_the_event(server: ContextServer,
                                                    writer: SnapshotWriter) -> None:
    """A caller holding a connector's event id gets a context that contains it."""
    import asyncio

    writer.put("cust-4", snapshot("cust-4", 1, n_events=2))
    channel, api = stub(server.port)
    async with channel:
        await _until_visible(api, "cust-4", 1)
        call = asyncio.ensure_future(api.GetCustomerContext(pb.GetCustomerContextRequest(
            lookup=by_id("cust-4"), purpose="x",
            min_freshness=pb.Watermark(event_ids=["e2"])), metadata=auth("agent"), timeout=15))
        await asyncio.sleep(0.2)
        assert not call.done()
        writer.put("cust-4", snapshot("cust-4", 2, n_events=3))
        response = await call
        assert response.context.timeline[0].event_id == "e2"
        assert response.context.freshness.version == 2


async def test_lookup_by_raw_phone_survives_an_hmac_key_rotation(
        ctx_settings, server_factory, writer: SnapshotWriter) -> None:  # type: ignore[no-untyped-def]
    """Identifiers stored under the old key stay findable while the new key is rolled out."""
    from pydantic import SecretStr

    old = ctx_settings.model_copy(update={"hmac_key": SecretStr("old-key"), "hmac_key_id": "k0"})
    old_hash = Hasher.from_settings(old).hash("PHONE", "13912345678")
    writer.put("cust-rot", snapshot("cust-rot", 1, phone_hash=old_hash))
    rotated = ctx_settings.model_copy(update={
        "hmac_key": SecretStr("new-key"), "hmac_key_id": "k1",
        "hmac_previous_keys": {"k0": SecretStr("old-key")}})
    server = await server_factory(rotated, instance="ctx-rot")
    channel, api = stub(server.port)
    async with channel:
        await _until_visible(api, "cust-rot", 1)
        found = await api.GetCustomerContext(pb.GetCustomerContextRequest(
            lookup=pb.CustomerLookup(identifier=pb.IdentifierKey(type="PHONE", value="139 1234 5678")),
            purpose="inbound_call"), metadata=auth("agent"), timeout=5)
        assert found.context.customer_id == "cust-rot"
    # Without the previous key the same raw number no longer matches anything.
    unrotated = ctx_settings.model_copy(update={"hmac_key": SecretStr("new-key"), "hmac_key_id": "k1"})
    plain = await server_factory(unrotated, instance="ctx-plain")
    channel, api = stub(plain.port)
    async with channel:
        await _until_visible(api, "cust-rot", 1)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await api.GetCustomerContext(pb.GetCustomerContextRequest(
                lookup=pb.CustomerLookup(identifier=pb.IdentifierKey(type="PHONE", value="13912345678")),
                purpose="inbound_call"), metadata=auth("agent"), timeout=5)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
