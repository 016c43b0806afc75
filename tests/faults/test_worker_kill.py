"""kill -9 a stream-processor worker in the middle of a batch, then start another: every
acknowledged event reaches the customer context once (no duplicate in any timeline)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from tests.faults.traffic import RECOVERY_LIMIT_S, Tailer, Traffic, check, report
from tests.integration.stream_processors import harness as h


def _timeline_ids(settings) -> Counter[str]:
    seen: Counter[str] = Counter()
    for snap in h.latest(settings, "customer-context").values():
        for entry in (snap or {}).get("timeline", []):
            seen[entry["event_id"]] += 1
    return seen


async def _in_context(settings, acked: set[str], timeout_s: float) -> tuple[float, Counter[str]]:
    deadline = time.monotonic() + timeout_s
    seen: Counter[str] = Counter()
    while time.monotonic() < deadline:
        seen = await asyncio.to_thread(_timeline_ids, settings)
        if acked <= seen.keys():
            return time.monotonic(), seen
        await asyncio.sleep(0.5)
    return float("inf"), seen


async def test_worker_killed_mid_batch(private_registry, broker_factory, collector,
                                       tmp_path: Path) -> None:
    broker = broker_factory(registry=private_registry.url)
    # The restart is the same worker (same static member name, as a StatefulSet pod would
    # be) on a fresh data directory (its volume lost too): it gets its partitions back at
    # once instead of waiting out the dead member's session timeout.
    first = h.WorkerProcess(broker.direct, tmp_path / "w1", tmp_path / "w1.log",
                            instance_id="worker-0")
    second = h.WorkerProcess(broker.direct, tmp_path / "w2", tmp_path / "w2.log",
                             instance_id="worker-0")
    traffic = Traffic(await collector(broker.settings), senders=1, batch=20, users=100_000,
                      pause_s=0.05)
    try:
        first.start()
        with Tailer(broker.direct) as tail:
            traffic.start()
            await traffic.until_acked(300)
            assert await asyncio.to_thread(
                h.wait_until, lambda: len(h.read_all(broker.direct, "customer-context", 2)) >= 50,
                90, 0.5), "the first worker never published a context"
            lag = await asyncio.to_thread(h.group_lag, broker.direct, h.STAGES)
            first.kill9()
            await asyncio.sleep(2.0)
            t0 = time.monotonic()
            second.start()
            await asyncio.sleep(5.0)
            await traffic.stop()
            visible = await tail.all_visible(traffic.ack_at, t0)
            in_ctx_at, seen = await _in_context(broker.direct, traffic.acked,
                                                RECOVERY_LIMIT_S + 30)
            figures = report("worker-kill9", t0, 0.0, max(visible, in_ctx_at), traffic.acked,
                             tail.snapshot(), lag_at_kill=lag,
                             context_missing=len(traffic.acked - seen.keys()),
                             context_duplicates=sum(1 for i in traffic.acked if seen[i] > 1))
    finally:
        first.stop()
        second.stop()
    check(figures, traffic)
    assert lag > 0, "the worker had nothing in flight when it was killed"
    assert not traffic.acked - seen.keys(), "acknowledged events missing from the context"
    assert all(seen[i] == 1 for i in traffic.acked), "duplicates in a customer timeline"
