"""kill -9 a private Apicurio registry under load, then restart it (in-memory storage, so
the contracts are registered again, as ``deploy.stack up`` does).

Two collectors: a warm one, whose schema ids are resolved before the outage (it should
keep answering 200), and a cold one started during the outage (it cannot encode yet, so
it must answer 503, never 500, and start acknowledging once the registry is back).
"""

from __future__ import annotations

import asyncio
import time

from deploy.stack import schemas
from tests.faults.traffic import Tailer, Traffic, check, report


async def test_registry_killed_and_restarted(private_registry, broker_factory,
                                             collector) -> None:
    broker = broker_factory(registry=private_registry.url)
    warm = Traffic(await collector(broker.settings))
    with Tailer(broker.direct) as tail:
        warm.start()
        await warm.until_acked(200)
        private_registry.kill()
        killed = warm.statuses.copy()
        cold = Traffic(await collector(broker.settings), senders=1)
        cold.start()
        await asyncio.sleep(5.0)
        during, cold_during = warm.statuses - killed, cold.statuses.copy()
        t0 = time.monotonic()
        await asyncio.to_thread(private_registry.start)
        await asyncio.to_thread(schemas.register_contracts, broker.direct)
        boot_s = time.monotonic() - t0
        # As for the broker: the fault ends when the restarted registry answers with the
        # contracts (its JVM boot is printed apart), recovery counts from then.
        ready = t0 + boot_s
        first_ok = max(await warm.first_ok_after(ready), await cold.first_ok_after(ready))
        await asyncio.sleep(2.0)
        await warm.stop()
        await cold.stop()
        ack_at = warm.ack_at | cold.ack_at
        visible = await tail.all_visible(ack_at, ready)
        figures = report("registry-kill9", ready, first_ok, visible, set(ack_at),
                         tail.snapshot(), registry_boot_s=round(boot_s, 2),
                         warm_during=dict(during), cold_during=dict(cold_during),
                         cold_statuses=dict(cold.statuses),
                         slowest_s=round(max(warm.slowest_s, cold.slowest_s), 2))
    check(figures, warm)
    check(figures, cold)
    assert cold_during.get("503", 0) > 0, f"cold collector during the outage: {cold_during}"
