"""kill -9 the broker, then restart it on the same data dir."""

from __future__ import annotations

import asyncio
import signal
import time

from tests.faults.traffic import Tailer, Traffic, check, report


async def test_broker_killed_and_restarted(private_registry, broker_factory, collector) -> None:
    broker = broker_factory(registry=private_registry.url)
    traffic = Traffic(await collector(broker.settings))
    with Tailer(broker.direct) as tail:
        traffic.start()
        await traffic.until_acked(200)
        broker.signal(signal.SIGKILL)
        killed = traffic.statuses.copy()
        await asyncio.sleep(3.0)
        t0 = time.monotonic()  # the fault is lifted when the restart begins
        await asyncio.to_thread(broker.start)
        boot_s = time.monotonic() - t0
        # The fault ends when the restarted broker answers: the JVM's own boot (~8-12 s
        # here) is printed apart, recovery counts from then.
        ready = t0 + boot_s
        during = traffic.statuses - killed
        first_ok = await traffic.first_ok_after(ready)
        await asyncio.sleep(2.0)
        await traffic.stop()
        visible = await tail.all_visible(traffic.ack_at, ready)
        figures = report("broker-kill9", ready, first_ok, visible, traffic.acked,
                         tail.snapshot(), broker_boot_s=round(boot_s, 2), during=dict(during),
                         slowest_s=round(traffic.slowest_s, 2),
                         statuses=dict(traffic.statuses))
    assert during.get("503", 0) > 0, f"no 503 while the broker was down: {during}"
    check(figures, traffic)
