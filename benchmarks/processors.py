"""Benchmark of the stream processors on the real local broker.

Prints, for the same generated stream in the same run: raw aiokafka consumption (decode +
dict update) in events/s, the full pipeline (router → resolver → customer → KPIs) with one
worker and with two, their ratio, and the customer state bytes per customer.

    .venv/bin/python -m benchmarks.processors --customers 2000 --events-per-customer 10
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from backbone.serde import registry_client
from backbone.settings import Settings
from deploy.stack.topics import delete_prefixed, ensure_topics
from stream_processors.codec import EventDecoder
from stream_processors.synthetic import workload
from tests.integration.stream_processors import harness as h


async def raw_consume(settings: Settings, expected: int) -> float:
    """events/s of a plain aiokafka consumer doing the same decode and a dict update."""
    decoder = EventDecoder(registry_client(settings))
    topic = settings.topic("interactions")
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap,
                                group_id=f"raw-{uuid.uuid4().hex}", auto_offset_reset="earliest",
                                enable_auto_commit=False, max_poll_records=2000)
    await consumer.start()
    state: dict[bytes, int] = {}
    seen = 0
    start = None
    try:
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000)
            if start is None and batches:
                start = time.perf_counter()
            for records in batches.values():
                for rec in records:
                    ev = decoder.decode(topic, rec.value)
                    state[rec.key] = state.get(rec.key, 0) + len(ev["event_id"])
                    seen += 1
        return seen / (time.perf_counter() - (start or time.perf_counter()))
    finally:
        await consumer.stop()


def pipeline(settings: Settings, events: int, workers: int, work: Path) -> float:
    """Input events/s from first progress until every stage has committed everything."""
    procs = [h.WorkerProcess(settings, work / f"data{i}", work / f"w{i}.log")
             for i in range(workers)]
    for p in procs:
        p.start()
    try:
        total = events
        while h.group_lag(settings, h.STAGES) >= total:  # waiting for assignment+recovery
            time.sleep(0.2)
        start = time.perf_counter()
        h.wait_idle(settings, timeout_s=3600)
        # wait_idle needs three calm polls one second apart after the end
        elapsed = time.perf_counter() - start - 2.0
        return events / elapsed
    finally:
        for p in procs:
            p.stop()


def state_bytes(settings: Settings) -> tuple[float, float]:
    """Mean and p95 bytes of the latest customer-table value per known customer."""
    sizes: dict[bytes, int] = {}
    for key, value in h.read_all(settings, f"{settings.worker_app_name}-customers-changelog"):
        if key and key.startswith(b"c:") and value:
            sizes[key] = len(key) + len(value)
    vals = sorted(sizes.values())
    return statistics.mean(vals), vals[int(len(vals) * 0.95)]




def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--events-per-customer", type=int, default=10)
    args = parser.parse_args()
    evs = workload(args.customers, args.events_per_customer, seed=3)
    work = Path(tempfile.mkdtemp(prefix="ccb-bench-"))
    results: dict[str | int, Any] = {}
    prefixes: list[str] = []
    try:
        for workers in (1, 2):
            settings = Settings(topic_prefix=f"bench{uuid.uuid4().hex[:8]}.",
                                kpi_publish_interval_s=1.0)
            prefixes.append(settings.topic_prefix)
            ensure_topics(settings)
            h.produce(settings, evs)
            if workers == 1:
                results["raw"] = asyncio.run(raw_consume(settings, len(evs)))
            results[workers] = pipeline(settings, len(evs), workers, work / f"run{workers}")
            if workers == 1:
                results["bytes"] = state_bytes(settings)
    finally:
        delete_prefixed(Settings(), prefixes)
    mean_b, p95_b = results["bytes"]
    print(f"events: {len(evs)} input events, {args.customers} customers "
          f"(each input event becomes ~2-3 stage records)")
    print(f"raw aiokafka (decode + dict update): {results['raw']:10.0f} events/s")
    print(f"full pipeline, 1 worker:             {results[1]:10.0f} events/s "
          f"(ratio {results[1] / results['raw']:.3f} of raw)")
    print(f"full pipeline, 2 workers:            {results[2]:10.0f} events/s "
          f"(x{results[2] / results[1]:.2f} vs 1 worker)")
    print(f"customer state: mean {mean_b:.0f} B, p95 {p95_b} B per customer "
          f"(timeline cap {Settings().timeline_max_entries})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
