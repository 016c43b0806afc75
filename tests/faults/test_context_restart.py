"""Restart the context service while clients keep calling GetCustomerContext: calls fail
UNAVAILABLE quickly (never INTERNAL/UNKNOWN, never past their deadline) and recover."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import grpc

from backbone.context.v1 import context_pb2 as pb
from deploy.stack.proc import free_port
from services.context.server import ContextServer
from tests.faults.traffic import Tailer, Traffic, check, report
from tests.integration.services.support import SnapshotWriter, auth, by_id, snapshot, stub

DEADLINE_S = 5.0
CUSTOMERS = 20


class Callers:
    def __init__(self, port: int, n: int = 4) -> None:
        self.port = port
        self.n = n
        self.codes: Counter[str] = Counter()
        self.ok_times: list[float] = []
        self.slowest_s = 0.0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._call(i)) for i in range(self.n)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _call(self, worker: int) -> None:
        channel, api = stub(self.port)
        i = worker
        async with channel:
            while not self._stop.is_set():
                i += 1
                began = time.monotonic()
                try:
                    await api.GetCustomerContext(
                        pb.GetCustomerContextRequest(lookup=by_id(f"cust-{i % CUSTOMERS}"),
                                                     purpose="fault_test"),
                        metadata=auth("agent"), timeout=DEADLINE_S)
                    self.codes["OK"] += 1
                    self.ok_times.append(time.monotonic())
                except grpc.aio.AioRpcError as exc:
                    self.codes[exc.code().name] += 1
                    await asyncio.sleep(0.05)
                self.slowest_s = max(self.slowest_s, time.monotonic() - began)


async def test_context_service_restart_under_load(private_registry, broker_factory, collector) -> None:
    broker = broker_factory(registry=private_registry.url, grpc_port=0)
    writer = SnapshotWriter(broker.direct)
    for n in range(CUSTOMERS):
        writer.put(f"cust-{n}", snapshot(f"cust-{n}", 1))
    port = free_port()
    server = ContextServer(broker.settings, instance="ctx-a", port=port)
    await server.start()
    assert await server.wait_ready(30.0)
    callers = Callers(port)
    traffic = Traffic(await collector(broker.settings))
    try:
        with Tailer(broker.direct) as tail:
            callers.start()
            traffic.start()
            await traffic.until_acked(100)
            await asyncio.sleep(1.0)
            before = callers.codes.copy()
            await server.stop(grace_s=1.0)
            await asyncio.sleep(2.0)
            t0 = time.monotonic()
            server = ContextServer(broker.settings, instance="ctx-b", port=port)
            await server.start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not [t for t in callers.ok_times if t >= t0]:
                await asyncio.sleep(0.05)
            later = [t for t in callers.ok_times if t >= t0]
            first_ok = (min(later) - t0) if later else float("inf")
            during = callers.codes - before
            await asyncio.sleep(1.0)
            await callers.stop()
            await traffic.stop()
            visible = await tail.all_visible(traffic.ack_at, t0)
            figures = report("context-restart", t0, first_ok, visible, traffic.acked,
                             tail.snapshot(), grpc_codes=dict(callers.codes),
                             during=dict(during), slowest_call_s=round(callers.slowest_s, 2))
    finally:
        await server.stop(grace_s=0.5)
    bad = {k: v for k, v in callers.codes.items() if k not in ("OK", "UNAVAILABLE")}
    assert bad == {}, f"calls failed with other codes than UNAVAILABLE: {callers.codes}"
    assert callers.slowest_s <= DEADLINE_S + 0.5
    assert during.get("UNAVAILABLE", 0) > 0, "no call saw the restart"
    check(figures, traffic)
