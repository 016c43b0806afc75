"""The context service's probes follow Kafka both ways: HTTP /readyz and gRPC health turn
red while the publishers cannot reach Kafka and green again by themselves; /healthz
stays green (a Kafka outage is no reason to restart the process). A registry that is down
at start makes the service not ready, never crashed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from backbone.context.v1 import context_pb2 as pb
from backbone.settings import Settings
from deploy.stack.proc import free_port
from services.context.server import SERVICE_NAME, ContextServer
from tests.integration.services.support import (
    SnapshotWriter,
    auth,
    by_id,
    error_details,
    snapshot,
    stub,
)


async def eventually(predicate: Callable[[], object], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not await predicate():  # type: ignore[misc]
            await asyncio.sleep(0.1)


async def test_probes_follow_kafka_reachability(server: ContextServer) -> None:
    port = await server.serve_probes(0, "127.0.0.1")
    publisher = server._audit
    real_probe = publisher.health._probe

    def unreachable() -> None:
        raise RuntimeError("Local: Timed out")

    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    health = health_pb2_grpc.HealthStub(channel)

    async def grpc_status() -> int:
        answer = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME),
                                    timeout=5)
        return int(answer.status)

    async with channel, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        async def serving() -> bool:
            return await grpc_status() == health_pb2.HealthCheckResponse.SERVING

        async def not_serving() -> bool:
            return await grpc_status() == health_pb2.HealthCheckResponse.NOT_SERVING

        await eventually(serving)
        assert (await http.get("/readyz")).status_code == 200
        assert (await http.get("/healthz")).status_code == 200
        assert b"ccb_kafka_broker_reachable" in (await http.get("/metrics")).content

        publisher.health._probe = unreachable  # the cluster stops answering
        publisher.health.suspicious()
        await eventually(not_serving)
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["reason"] == "kafka_unreachable"
        assert int(ready.headers["Retry-After"]) >= 1
        assert (await http.get("/healthz")).status_code == 200  # alive: no restart

        publisher.health._probe = real_probe  # answering again: no delivery needed
        await eventually(serving)
        assert (await http.get("/readyz")).status_code == 200


async def test_registry_down_at_start_is_not_ready_and_writes_answer_unavailable(
        server_factory: Callable[..., Awaitable[ContextServer]], ctx_settings: Settings,
        writer: SnapshotWriter) -> None:
    """The registry does not answer when the service starts: it starts anyway (reads need
    no registry), says ``schemas_not_ready``, and a call that must write an event answers
    UNAVAILABLE with SCHEMAS_NOT_READY, never INTERNAL, and never waits on the registry."""
    nowhere = ctx_settings.model_copy(update={"schema_registry_url":
                                              f"http://127.0.0.1:{free_port()}"})
    writer.put("cust-r1", snapshot("cust-r1", 1))
    server = await server_factory(nowhere, wait=False, instance="ctx-r")
    port = await server.serve_probes(0, "127.0.0.1")
    assert await server.feed.wait_caught_up(30.0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["reason"] == "schemas_not_ready"
        assert (await http.get("/healthz")).status_code == 200
    channel, api = stub(server.port)
    async with channel:
        began = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await api.CreateHandoff(pb.CreateHandoffRequest(
                lookup=by_id("cust-r1"), from_channel=pb.CHANNEL_PHONE,
                to_channel=pb.CHANNEL_APP, reason="transfer_failed", summary="s"),
                metadata=auth("agent"), timeout=10)
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        reason, retry_after_s = error_details(failed.value)
        assert reason == "SCHEMAS_NOT_READY" and retry_after_s > 0, reason
        assert time.monotonic() - began < 2.0
