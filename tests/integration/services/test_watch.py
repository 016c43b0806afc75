"""WatchCustomerContext: live updates, resuming after a reconnect, erasure."""

from __future__ import annotations

import asyncio

from backbone.context.v1 import context_pb2 as pb
from services.context.server import ContextServer
from tests.integration.services.support import SnapshotWriter, auth, by_id, snapshot, stub


def _ids(update: pb.ContextUpdate) -> list[str]:
    return [t.event_id for t in update.new_entries]


async def test_watch_streams_new_events_and_resumes_after_reconnect(
        server: ContextServer, writer: SnapshotWriter) -> None:
    writer.put("cust-w", snapshot("cust-w", 1, n_events=3))
    channel, api = stub(server.port)
    request = pb.WatchCustomerContextRequest(lookup=by_id("cust-w"), purpose="agent_desktop")
    async with channel:
        await api.GetCustomerContext(pb.GetCustomerContextRequest(
            lookup=by_id("cust-w"), purpose="t", min_freshness=pb.Watermark(min_version=1)),
            metadata=auth("agent"), timeout=15)
        call = api.WatchCustomerContext(request, metadata=auth("agent"), timeout=30)
        first = await asyncio.wait_for(call.read(), 10)
        assert first.full_snapshot and _ids(first) == ["e0", "e1", "e2"]
        assert [j.journey_id for j in first.changed_journeys] == ["j1"]
        writer.put("cust-w", snapshot("cust-w", 2, n_events=5))
        second = await asyncio.wait_for(call.read(), 10)
        assert not second.full_snapshot and _ids(second) == ["e3", "e4"]
        assert second.freshness.version == 2
        token = second.resume_token
        call.cancel()

    # events arrive while the desktop is disconnected
    writer.put("cust-w", snapshot("cust-w", 3, n_events=7))
    await asyncio.sleep(0)  # nothing to wait for: resuming must not depend on timing
    channel, api = stub(server.port)
    async with channel:
        resumed = api.WatchCustomerContext(
            pb.WatchCustomerContextRequest(lookup=by_id("cust-w"), purpose="agent_desktop",
                                           resume_token=token),
            metadata=auth("agent"), timeout=30)
        update = await asyncio.wait_for(resumed.read(), 10)
        if update.freshness.version == 2:  # the view had not applied v3 yet: next update has it
            update = await asyncio.wait_for(resumed.read(), 10)
        assert not update.full_snapshot and _ids(update) == ["e5", "e6"]
        writer.put("cust-w", None)  # erasure tombstone
        erased = await asyncio.wait_for(resumed.read(), 10)
        assert erased.erased
        import grpc

        assert await asyncio.wait_for(resumed.read(), 10) is grpc.aio.EOF  # stream ended


async def test_resume_token_too_old_gives_a_full_snapshot(server: ContextServer,
                                                          writer: SnapshotWriter) -> None:
    writer.put("cust-w2", snapshot("cust-w2", 1, n_events=2))
    channel, api = stub(server.port)
    async with channel:
        await api.GetCustomerContext(pb.GetCustomerContextRequest(
            lookup=by_id("cust-w2"), purpose="t", min_freshness=pb.Watermark(min_version=1)),
            metadata=auth("agent"), timeout=15)
        call = api.WatchCustomerContext(pb.WatchCustomerContextRequest(
            lookup=by_id("cust-w2"), purpose="t"), metadata=auth("agent"), timeout=30)
        first = await asyncio.wait_for(call.read(), 10)
        call.cancel()
        # a new window of applied ids that no longer contains the client's last one
        writer.put("cust-w2", snapshot("cust-w2", 9, n_events=3, prefix="n"))
        await api.GetCustomerContext(pb.GetCustomerContextRequest(
            lookup=by_id("cust-w2"), purpose="t", min_freshness=pb.Watermark(min_version=9)),
            metadata=auth("agent"), timeout=15)
        resumed = api.WatchCustomerContext(pb.WatchCustomerContextRequest(
            lookup=by_id("cust-w2"), purpose="t", resume_token=first.resume_token),
            metadata=auth("agent"), timeout=30)
        update = await asyncio.wait_for(resumed.read(), 10)
        assert update.full_snapshot and _ids(update) == ["n0", "n1", "n2"]
        resumed.cancel()
