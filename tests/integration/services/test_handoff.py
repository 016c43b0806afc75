"""Handoff end to end: phone creates, the app redeems once; expiry, cancel, wrong channel."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest

from backbone import vocabulary
from backbone.context.v1 import context_pb2 as pb
from backbone.serde import INTERACTION_EVENT, AvroSerde
from backbone.settings import Settings
from deploy.stack.topics import ensure_topics
from services.context.server import ContextServer, _shared_registry
from tests.integration.services.conftest import ServerFactory
from tests.integration.services.support import (
    FakeClock,
    SnapshotWriter,
    auth,
    by_id,
    error_details,
    read_topic,
    snapshot,
    stub,
)
from tests.integration.stream_processors.harness import WorkerProcess, read_all


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
        assert error_details(err.value)[0] == "HANDOFF_ALREADY_ACCEPTED"
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
    # nor any hash of them: the processors copy attributes into the customer's timeline
    held = server.book.get(created.handoff.handoff_id)
    assert held is not None
    assert all(held.token_hash.encode() not in v and held.code_hash.encode() not in v
               and b"token_hash" not in v and b"code_hash" not in v for _, v in records if v)


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
        assert {error_details(e)[0] for e in losses} == {"HANDOFF_ALREADY_ACCEPTED"}


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
        assert error_details(err.value)[0] == "HANDOFF_WRONG_CHANNEL"

        cancelled = await api.CreateHandoff(_create("cust-h3"), metadata=auth("agent"), timeout=10)
        done = await api.CancelHandoff(pb.CancelHandoffRequest(
            handoff_id=cancelled.handoff.handoff_id, reason="customer hung up"),
            metadata=auth("agent"), timeout=10)
        assert done.handoff.status == pb.HANDOFF_STATUS_CANCELLED
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.AcceptHandoff(pb.AcceptHandoffRequest(
                token=cancelled.token, channel=pb.CHANNEL_APP), metadata=auth("agent"), timeout=10)
        assert error_details(err.value)[0] == "HANDOFF_CANCELLED"

        short = await api.CreateHandoff(_create("cust-h3", ttl=60), metadata=auth("agent"),
                                        timeout=10)
        clock.advance(61)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.AcceptHandoff(pb.AcceptHandoffRequest(
                token=short.token, channel=pb.CHANNEL_APP), metadata=auth("agent"), timeout=10)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_details(err.value)[0] == "HANDOFF_EXPIRED"
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




async def test_guessing_codes_is_limited_per_principal_and_audited(
        ctx_settings: Settings, server_factory: ServerFactory, writer: SnapshotWriter,
        clock: FakeClock) -> None:
    limit, window = 5, 300.0
    server = await server_factory(ctx_settings.model_copy(update={
        "handoff_code_max_failures": limit, "handoff_code_failure_window_s": window}),
        instance="ctx-limit")
    channel, api = stub(server.port)
    async with channel:
        await _ready_customer(api, writer, "cust-h5")
        created = await api.CreateHandoff(_create("cust-h5"), metadata=auth("agent"), timeout=10)
        wrong = [f"{(int(created.short_code) + i) % 10**8:08d}" for i in range(1, limit + 1)]
        # concurrent guesses: attempts in flight count, so a burst cannot overshoot
        guesses = await asyncio.gather(*[api.AcceptHandoff(pb.AcceptHandoffRequest(
            short_code=code, channel=pb.CHANNEL_APP), metadata=auth("channel_system"),
            timeout=10) for code in wrong], return_exceptions=True)
        assert [g.code() for g in guesses if isinstance(g, grpc.aio.AioRpcError)] == \
            [grpc.StatusCode.NOT_FOUND] * limit
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.AcceptHandoff(pb.AcceptHandoffRequest(
                short_code=created.short_code, channel=pb.CHANNEL_APP),
                metadata=auth("channel_system"), timeout=10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_details(err.value)[0] == "HANDOFF_CODE_RATE_LIMITED"
        assert 1.0 <= error_details(err.value)[1] <= window
        # another principal is not affected, and the handoff was not consumed
        accepted = await api.AcceptHandoff(pb.AcceptHandoffRequest(
            short_code=created.short_code, channel=pb.CHANNEL_APP),
            metadata=auth("agent"), timeout=10)
        assert accepted.handoff.status == pb.HANDOFF_STATUS_ACCEPTED
        # once the failures leave the window the first principal may redeem again
        again = await api.CreateHandoff(_create("cust-h5"), metadata=auth("agent"), timeout=10)
        clock.advance(window + 1)
        redeemed = await api.AcceptHandoff(pb.AcceptHandoffRequest(
            short_code=again.short_code, channel=pb.CHANNEL_APP),
            metadata=auth("channel_system"), timeout=10)
        assert redeemed.handoff.handoff_id == again.handoff.handoff_id

    raw = read_topic(server.settings, "audit", expect=limit + 6)
    attempts = [json.loads(v) for _, v in raw]
    attempts = [r for r in attempts if r["action"] == "handoff.accept"]
    assert sorted((r["principal"], r["outcome"]) for r in attempts) == sorted(
        [("channel-system-dev", "NOT_FOUND")] * limit
        + [("channel-system-dev", "RESOURCE_EXHAUSTED"), ("agent-dev", "OK"),
           ("channel-system-dev", "OK")])
    assert {r["lookup"]["type"] for r in attempts} == {"HANDOFF_CODE"}
    codes = [*wrong, created.short_code, again.short_code]
    assert not any(c.encode() in v for _, v in raw for c in codes)


async def test_no_credential_material_reaches_the_handoffs_topic_or_the_timeline(
        ctx_settings: Settings, server_factory: ServerFactory, writer: SnapshotWriter,
        tmp_path: Path) -> None:
    """With the real stream processors between the handoffs topic and the customer's context."""
    if not ctx_settings.schema_registry_url.startswith("http"):
        pytest.skip("the worker process needs the real schema registry")
    ensure_topics(ctx_settings)  # the processors' own topics too
    worker = WorkerProcess(ctx_settings, tmp_path / "worker-data", tmp_path / "worker.log")
    worker.start()
    try:
        server = await server_factory(instance="ctx-w")
        channel, api = stub(server.port)
        async with channel:
            # version 0: the worker's first snapshot of this customer replaces it
            writer.put("cust-hw", snapshot("cust-hw", 0))
            await api.GetCustomerContext(pb.GetCustomerContextRequest(
                lookup=by_id("cust-hw"), purpose="t",
                min_freshness=pb.Watermark(event_ids=["e0"])), metadata=auth("agent"),
                timeout=15)
            created = await api.CreateHandoff(_create("cust-hw"), metadata=auth("agent"),
                                              timeout=10)
            accepted = await api.AcceptHandoff(pb.AcceptHandoffRequest(
                short_code=created.short_code, channel=pb.CHANNEL_APP, purpose="app_chat"),
                metadata=auth("channel_system"), timeout=10)
            seen = await api.GetCustomerContext(pb.GetCustomerContextRequest(
                lookup=by_id("cust-hw"), purpose="t", min_freshness=pb.Watermark(
                    event_ids=[created.event_id, accepted.event_id])),
                metadata=auth("agent"), timeout=120)
        held = server.book.get(created.handoff.handoff_id)
        assert held is not None and held.token_hash and held.code_hash
        secrets = [created.token, created.short_code, held.token_hash, held.code_hash]

        handoffs = [t for t in seen.context.timeline if t.event_type.startswith("handoff.")]
        assert {t.event_id for t in handoffs} == {created.event_id, accepted.event_id}
        for entry in handoffs:
            assert not {"token_hash", "code_hash"} & set(entry.attributes)
            assert not any(x in v for v in entry.attributes.values() for x in secrets)
        for topic in ("handoffs", "customer-context"):
            records = read_all(ctx_settings, topic)
            assert records, topic
            for _, value in records:
                assert not any(x.encode() in (value or b"") for x in
                               [*secrets, "token_hash", "code_hash"]), topic
    finally:
        worker.stop()
