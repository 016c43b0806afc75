"""SIGSTOP the broker for longer than the producer's delivery timeout, then SIGCONT."""

from __future__ import annotations

import asyncio
import signal
import time

from tests.faults.traffic import Tailer, Traffic, check, report

PAUSE_S = 8.0  # > delivery.timeout.ms (5 s, conftest.FAST_PRODUCER)


async def test_broker_paused_past_delivery_timeout(private_registry, broker_factory, collector) -> None:
    broker = broker_factory(registry=private_registry.url)
    traffic = Traffic(await collector(broker.settings))
    with Tailer(broker.direct) as tail:
        traffic.start()
        await traffic.until_acked(200)
        broker.signal(signal.SIGSTOP)
        paused = traffic.statuses.copy()
        await asyncio.sleep(PAUSE_S)
        during = traffic.statuses - paused
        broker.signal(signal.SIGCONT)
        t0 = time.monotonic()
        first_ok = await traffic.first_ok_after(t0)
        await asyncio.sleep(2.0)
        await traffic.stop()
        visible = await tail.all_visible(traffic.ack_at, t0)
        figures = report("broker-sigstop", t0, first_ok, visible, traffic.acked, tail.snapshot(),
                         during=dict(during), slowest_s=round(traffic.slowest_s, 2),
                         statuses=dict(traffic.statuses))
    assert during.get("503", 0) > 0, f"no 503 while the broker was stopped: {during}"
    check(figures, traffic)
