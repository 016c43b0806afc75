"""The context service's probes follow Kafka both ways: HTTP /readyz and gRPC health turn
red while the publishers cannot reach Kafka and green again by themselves; /healthz
stays green (a Kafka outage is no reason to restart the process)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.context.server import SERVICE_NAME, ContextServer


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
