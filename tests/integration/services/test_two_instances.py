"""Two service instances: the same answers, shared handoffs with one winner, and what a
caller sees while an instance is loading or cannot reach Kafka (never a wrong answer)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from backbone.context.v1 import context_pb2 as pb
from backbone.settings import Settings
from tests.integration.services.conftest import ServerFactory
from tests.integration.services.support import (
    SnapshotWriter,
    auth,
    by_id,
    error_details,
    snapshot,
    stub,
)

N_CUSTOMERS = 300


def _get(cid: str, min_version: int = 0) -> pb.GetCustomerContextRequest:
    return pb.GetCustomerContextRequest(lookup=by_id(cid), purpose="t",
                                        min_freshness=pb.Watermark(min_version=min_version))




async def test_two_instances_agree_share_handoffs_and_a_late_one_never_answers_wrong(
        server_factory: ServerFactory, writer: SnapshotWriter) -> None:
    a = await server_factory(instance="ctx-a")
    b = await server_factory(instance="ctx-b")
    for i in range(N_CUSTOMERS):
        writer.put(f"c{i}", snapshot(f"c{i}", 2, n_events=5))
    # a fenced-off (zombie) processor instance re-publishes an older snapshot afterwards
    writer.put("c0", snapshot("c0", 1, n_events=2))
    ch_a, api_a = stub(a.port)
    ch_b, api_b = stub(b.port)
    async with ch_a, ch_b:
        last = f"c{N_CUSTOMERS - 1}"
        for api in (api_a, api_b):
            await api.GetCustomerContext(_get(last, 2), metadata=auth("agent"), timeout=15)
        ra = await api_a.GetCustomerContext(_get("c0"), metadata=auth("agent"), timeout=5)
        rb = await api_b.GetCustomerContext(_get("c0"), metadata=auth("agent"), timeout=5)
        assert ra.context.freshness.version == rb.context.freshness.version == 2
        assert ra.context.freshness.served_by == "ctx-a"
        assert rb.context.freshness.served_by == "ctx-b"
        ra.context.ClearField("freshness")
        rb.context.ClearField("freshness")
        assert ra.context == rb.context

        # created on A, redeemed on B; the same token raced on both: one winner
        created = await api_a.CreateHandoff(pb.CreateHandoffRequest(
            lookup=by_id("c1"), from_channel=pb.CHANNEL_WECHAT, to_channel=pb.CHANNEL_BRANCH,
            reason="card_blocked"), metadata=auth("agent"), timeout=10)
        accepted = await api_b.AcceptHandoff(pb.AcceptHandoffRequest(
            short_code=created.short_code, channel=pb.CHANNEL_BRANCH),
            metadata=auth("channel_system"), timeout=10)
        assert accepted.context.customer_id == "c1"
        raced = await api_a.CreateHandoff(pb.CreateHandoffRequest(
            lookup=by_id("c2"), from_channel=pb.CHANNEL_PHONE, to_channel=pb.CHANNEL_APP),
            metadata=auth("agent"), timeout=10)
        results = await asyncio.gather(*[
            api.AcceptHandoff(pb.AcceptHandoffRequest(token=raced.token, channel=pb.CHANNEL_APP),
                              metadata=auth("channel_system"), timeout=10)
            for api in (api_a, api_b, api_a, api_b)], return_exceptions=True)
        assert sum(isinstance(r, pb.AcceptHandoffResponse) for r in results) == 1
        assert all(r.code() == grpc.StatusCode.FAILED_PRECONDITION
                   for r in results if isinstance(r, grpc.aio.AioRpcError))
        assert a.book.get(raced.handoff.handoff_id) == b.book.get(raced.handoff.handoff_id)

    # A goes away; B keeps serving (no consumer group: nothing to rebalance on the read side)
    await a.stop(grace_s=0.5)
    ch_b, api_b = stub(b.port)
    async with ch_b:
        assert (await api_b.GetCustomerContext(_get("c3"), metadata=auth("agent"),
                                               timeout=5)).context.customer_id == "c3"

    # a new instance joins and loads the view: until it has, it says UNAVAILABLE with a
    # retry hint; once it answers, the answer is the current one, never NOT_FOUND or older
    c = await server_factory(instance="ctx-c", wait=False)
    ch_c, api_c = stub(c.port)
    outcomes: list[str] = []
    async with ch_c:
        for _ in range(200):
            try:
                answer = await api_c.GetCustomerContext(_get(last), metadata=auth("agent"),
                                                        timeout=5)
            except grpc.aio.AioRpcError as err:
                assert err.code() == grpc.StatusCode.UNAVAILABLE, err
                assert error_details(err)[1] > 0
                outcomes.append("unavailable")
                await asyncio.sleep(0.01)
                continue
            assert answer.context.freshness.version == 2
            outcomes.append("answer")
            break
    assert outcomes[-1] == "answer"


async def test_without_kafka_an_instance_is_not_serving_and_says_unavailable(
        ctx_settings: Settings, server_factory: ServerFactory) -> None:
    cut_off = ctx_settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:9"})
    server = await server_factory(cut_off, instance="ctx-dark", wait=False)
    channel, api = stub(server.port)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await api.GetCustomerContext(_get("c0"), metadata=auth("agent"), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_details(err.value)[1] == 1.0
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.NOT_SERVING
