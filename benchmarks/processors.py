"""Benchmark of the stream processors on the real local broker.

Prints, for the same generated stream in the same run: raw aiokafka consumption (decode +
dict update) in events/s, the full pipeline (router → resolver → customer → KPIs) with one
worker and with two, their ratio, and the customer state bytes per customer.

    .venv/bin/python -m benchmarks.processors --customers 2000 --events-per-customer 10

Also the worker CPU (user + sys) per input event, and 1 vs 2 workers on 12 partitions.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from backbone.avro_reader import EventDecoder
from backbone.serde import registry_client
from backbone.settings import Settings
from deploy.stack import pipeline as h
from deploy.stack.topics import delete_prefixed, ensure_topics
from stream_processors.synthetic import workload


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


@dataclass(frozen=True, slots=True)
class Run:
    workers: int
    partitions: int
    standby: int  # table standby replicas (a second worker keeps a warm copy)
    events_per_s: float
    cpu_us_per_event: float  # user + sys of every worker process / input events


def pipeline(settings: Settings, evs: list[dict[str, Any]], workers: int, work: Path) -> Run:
    """The workers start on empty topics and settle (one warm-up event through every
    stage); then the workload is produced while they run. Events/s from the first
    produce until every stage committed everything; CPU of the worker processes over
    the same span. (Measuring from a pre-filled backlog instead let the router finish
    before the clock started: lag stayed above the input count while it fanned out.)"""
    procs = [h.WorkerProcess(settings, work / f"data{i}", work / f"w{i}.log")
             for i in range(workers)]
    for p in procs:
        p.start()
    try:
        h.produce(settings, evs[:1])
        h.wait_idle(settings, timeout_s=300)
        cpu0 = sum(p.cpu_seconds() for p in procs)
        start = time.perf_counter()
        h.produce(settings, evs[1:])
        h.wait_idle(settings, timeout_s=3600)
        # wait_idle needs three calm polls one second apart after the end
        elapsed = time.perf_counter() - start - 2.0
        cpu = sum(p.cpu_seconds() for p in procs) - cpu0
        n = len(evs) - 1
        return Run(workers, settings.topic_partitions, settings.worker_standby_replicas,
                   n / elapsed, cpu / n * 1e6)
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




def _settings(partitions: int, standby: int = 1) -> Settings:
    settings = Settings(topic_prefix=f"bench{uuid.uuid4().hex[:8]}.",
                        kpi_publish_interval_s=1.0, topic_partitions=partitions,
                        worker_stall_s=15.0, worker_standby_replicas=standby)
    ensure_topics(settings)
    return settings


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--events-per-customer", type=int, default=10)
    args = parser.parse_args()
    evs = workload(args.customers, args.events_per_customer, seed=3)
    work = Path(tempfile.mkdtemp(prefix="ccb-bench-"))
    runs: list[Run] = []
    prefixes: list[str] = []
    try:
        raw_settings = _settings(6)
        prefixes.append(raw_settings.topic_prefix)
        h.produce(raw_settings, evs)
        raw = asyncio.run(raw_consume(raw_settings, len(evs)))
        for i, (workers, partitions, standby) in enumerate(
                ((1, 6, 1), (1, 12, 1), (2, 12, 0), (2, 12, 1))):
            settings = _settings(partitions, standby)
            prefixes.append(settings.topic_prefix)
            runs.append(pipeline(settings, evs, workers, work / f"run{i}"))
            if i == 0:
                mean_b, p95_b = state_bytes(settings)
    finally:
        delete_prefixed(Settings(), prefixes)
    print(f"events: {len(evs)} input events, {args.customers} customers "
          f"(each input event becomes ~2-3 stage commands)")
    print(f"raw aiokafka (decode + dict update): {raw:10.0f} events/s")
    for r in runs:
        print(f"full pipeline, {r.workers} worker(s), {r.partitions:2d} partitions, "
              f"{r.standby} standby: "
              f"{r.events_per_s:8.0f} events/s (ratio {r.events_per_s / raw:.3f} of raw), "
              f"worker CPU {r.cpu_us_per_event:5.0f} us per input event")
    print(f"scale-out: 2 workers use x{runs[2].cpu_us_per_event / runs[1].cpu_us_per_event:.2f} "
          f"the CPU per event of 1 worker on the same 12 partitions "
          f"(x{runs[2].cpu_us_per_event / runs[0].cpu_us_per_event:.2f} of 1 worker on 6); "
          f"with a standby copy of every table on the other worker "
          f"x{runs[3].cpu_us_per_event / runs[1].cpu_us_per_event:.2f}")
    print(f"customer state: mean {mean_b:.0f} B, p95 {p95_b} B per customer "
          f"(timeline cap {Settings().timeline_max_entries})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
