"""Bounded serving resources against the real broker: watch streams per principal and
concurrent calls are capped, and a closed handoff leaves the book after its retention."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from backbone.context.v1 import context_pb2 as pb
from backbone.settings import Settings
from tests.integration.services.conftest import ServerFactory
from tests.integration.services.support import (
    FakeClock,
    SnapshotWriter,
    auth,
    by_id,
    error_details,
    snapshot,
    stub,
)


def _watch(cid: str) -> pb.WatchCustomerContextRequest:
    return pb.WatchCustomerContextRequest(lookup=by_id(cid), purpose="agent_desktop")


async def _until_served(api: Any, cid: str) -> None:
    """The service has the snapshot (read-your-writes on version 1)."""
    await api.GetCustomerContext(pb.GetCustomerContextRequest(
        lookup=by_id(cid), purpose="t", min_freshness=pb.Watermark(min_version=1)),
        metadata=auth("agent"), timeout=15)


def _watches(api: Any, cid: str, n: int) -> list[Any]:
    return [api.WatchCustomerContext(_watch(cid), metadata=auth("agent"), timeout=30)
            for _ in range(n)]


async def test_watches_beyond_the_per_principal_limit_are_resource_exhausted(
        server_factory: ServerFactory, ctx_settings: Settings, writer: SnapshotWriter) -> None:
    settings = ctx_settings.model_copy(update={"grpc_max_watches_per_principal": 2})
    server = await server_factory(settings, instance="ctx-limits")
    writer.put("cust-l", snapshot("cust-l", 1))
    channel, api = stub(server.port)
    async with channel:
        await _until_served(api, "cust-l")
        held = _watches(api, "cust-l", 2)
        for call in held:
            assert (await asyncio.wait_for(call.read(), 10)).full_snapshot
        extra = api.WatchCustomerContext(_watch("cust-l"), metadata=auth("agent"), timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await asyncio.wait_for(extra.read(), 10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        reason, delay = error_details(err.value)
        assert reason == "WATCH_LIMIT_REACHED" and delay > 0
        # another principal has its own slots
        other = api.WatchCustomerContext(_watch("cust-l"), metadata=auth("channel_system"),
                                         timeout=30)
        assert (await asyncio.wait_for(other.read(), 10)).full_snapshot
        # a closed stream gives its slot back
        held[0].cancel()
        for _ in range(50):
            if server.servicer._watch_slots.open_for("agent") < 2:
                break
            await asyncio.sleep(0.05)
        again = api.WatchCustomerContext(_watch("cust-l"), metadata=auth("agent"), timeout=30)
        assert (await asyncio.wait_for(again.read(), 10)).full_snapshot
        for call in (held[1], other, again):
            call.cancel()


async def test_calls_beyond_the_concurrency_limit_are_resource_exhausted(
        server_factory: ServerFactory, ctx_settings: Settings, writer: SnapshotWriter) -> None:
    settings = ctx_settings.model_copy(update={"grpc_max_concurrent_rpcs": 2})
    server = await server_factory(settings, instance="ctx-concurrency")
    writer.put("cust-k", snapshot("cust-k", 1))
    channel, api = stub(server.port)
    async with channel:
        await _until_served(api, "cust-k")
        held = _watches(api, "cust-k", 2)
        for call in held:
            await asyncio.wait_for(call.read(), 10)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.GetCustomerContext(pb.GetCustomerContextRequest(
                lookup=by_id("cust-k"), purpose="t"), metadata=auth("agent"), timeout=10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        for call in held:
            call.cancel()
        for _ in range(50):  # the slots come back once the streams have ended
            await asyncio.sleep(0.05)
            try:
                await api.GetCustomerContext(pb.GetCustomerContextRequest(
                    lookup=by_id("cust-k"), purpose="t"), metadata=auth("agent"), timeout=10)
                break
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        else:
            pytest.fail("concurrency slots never came back")


async def test_closed_handoff_leaves_the_book_after_its_retention(
        server_factory: ServerFactory, ctx_settings: Settings, writer: SnapshotWriter,
        clock: FakeClock) -> None:
    settings = ctx_settings.model_copy(update={"handoff_retention_s": 60.0})
    server = await server_factory(settings, instance="ctx-retention")
    writer.put("cust-r", snapshot("cust-r", 1))
    channel, api = stub(server.port)
    async with channel:
        await _until_served(api, "cust-r")
        created = await api.CreateHandoff(pb.CreateHandoffRequest(
            lookup=by_id("cust-r"), from_channel=pb.CHANNEL_PHONE, to_channel=pb.CHANNEL_APP,
            reason="transfer_failed"), metadata=auth("agent"), timeout=10)
        await api.AcceptHandoff(pb.AcceptHandoffRequest(
            token=created.token, channel=pb.CHANNEL_APP, purpose="app_chat"),
            metadata=auth("channel_system"), timeout=10)
        hid = created.handoff.handoff_id
        clock.advance(30)  # within the retention a second redeemer hears "already accepted"
        await asyncio.sleep(0.3)
        assert server.book.get(hid) is not None
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.AcceptHandoff(pb.AcceptHandoffRequest(
                token=created.token, channel=pb.CHANNEL_APP), metadata=auth("agent"), timeout=10)
        assert error_details(err.value)[0] == "HANDOFF_ALREADY_ACCEPTED"
        clock.advance(31)
        for _ in range(100):
            if server.book.get(hid) is None:
                break
            await asyncio.sleep(0.05)
        assert server.book.get(hid) is None and len(server.book) == 0
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.AcceptHandoff(pb.AcceptHandoffRequest(
                token=created.token, channel=pb.CHANNEL_APP), metadata=auth("agent"), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_connections_older_than_the_maximum_age_are_closed(
        server_factory: ServerFactory, ctx_settings: Settings, writer: SnapshotWriter) -> None:
    settings = ctx_settings.model_copy(update={"grpc_max_connection_age_s": 1.0,
                                               "grpc_max_connection_age_grace_s": 1.0})
    server = await server_factory(settings, instance="ctx-age")
    writer.put("cust-g", snapshot("cust-g", 1))
    channel, api = stub(server.port)
    async with channel:
        await _until_served(api, "cust-g")
        watch = api.WatchCustomerContext(_watch("cust-g"), metadata=auth("agent"), timeout=30)
        await asyncio.wait_for(watch.read(), 10)
        # a stream outliving age + grace is cut (the client reconnects and resumes by token)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await asyncio.wait_for(watch.read(), 10)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        # the channel reconnects by itself for the next call
        await api.GetCustomerContext(pb.GetCustomerContextRequest(
            lookup=by_id("cust-g"), purpose="t"), metadata=auth("agent"), timeout=10)
