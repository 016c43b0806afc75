"""The Segment collector at ~10x its capacity: back-pressure answers 503 + Retry-After,
memory levels off, and every accepted event is on the topic exactly once.

The collector runs in its own process with a small in-flight window (500 events), so its
RSS is measured alone; 50 clients each keep a 100-event batch in flight for the whole run
(5,000 events offered at any moment, 10x the window) and never back off, so most calls are
refused. Figures are printed, not asserted: the test checks bounds, not speed.
"""

from __future__ import annotations

import asyncio
import collections
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
from confluent_kafka import Consumer, TopicPartition

from backbone.settings import Settings

CLIENTS = 50
BATCH = 100
WINDOW = 500  # events the collector may have awaiting Kafka at once
LOAD_S = 24.0
RSS_CAP_MB = 400
APP_KEY = "app-dev-write-key"
ROOT = Path(__file__).resolve().parents[3]
COLLECTOR = f"""
import asyncio
from aiohttp import web
from backbone.settings import Settings
from connectors.app_web import NAME, create_app
from connectors.base import Pipeline

async def main() -> None:
    settings = Settings()
    app = create_app(settings, pipeline=Pipeline(settings, NAME, max_in_flight={WINDOW}))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _event_ids_on_topic(settings: Settings) -> collections.Counter[str]:
    """Every record's ``event_id`` header, read to the partitions' current end."""
    topic = settings.topic("interactions")
    consumer = Consumer(settings.consumer_config(f"test-{uuid.uuid4().hex[:8]}"))
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in parts}
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        left = {p for p, end in ends.items() if end > 0}
        seen: collections.Counter[str] = collections.Counter()
        deadline = time.monotonic() + 30
        while left and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, 0.5):
                if msg.error():
                    continue
                headers = dict(msg.headers() or ())
                seen[headers.get("event_id", b"").decode()] += 1
                if msg.offset() + 1 >= ends[msg.partition()]:
                    left.discard(msg.partition())
        assert not left, f"partitions {left} not read to their end"
        return seen
    finally:
        consumer.close()


def _batch() -> bytes:
    """A batch with fresh message ids: a refused batch is not resent, so every id the
    collector accepted must be on the topic exactly once (no retry can add a copy)."""
    one = '{"type":"track","messageId":"%s","userId":"overload","event":"Overload Test"}'
    return ('{"batch":[' + ",".join(one % uuid.uuid4().hex for _ in range(BATCH))
            + "]}").encode()


async def test_ten_times_capacity_is_refused_with_503_and_memory_levels_off(
        settings_factory) -> None:
    settings = settings_factory()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CCB_TOPIC_PREFIX": settings.topic_prefix,
           "CCB_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
           "CCB_SCHEMA_REGISTRY_URL": settings.schema_registry_url}
    proc = subprocess.Popen([sys.executable, "-c", COLLECTOR], env=env, cwd=ROOT,  # noqa: S603
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30))
        base = f"http://127.0.0.1:{port}"
        statuses: collections.Counter[int] = collections.Counter()
        no_retry_after = hangs = 0
        accepted: list[str] = []
        rss: list[float] = []
        stop_at = time.monotonic() + LOAD_S

        auth = aiohttp.BasicAuth(APP_KEY, "")
        headers = {"Content-Type": "application/json"}

        async def client(http: aiohttp.ClientSession) -> None:
            nonlocal no_retry_after, hangs
            while time.monotonic() < stop_at:
                try:
                    async with http.post(f"{base}/v1/batch", data=_batch(), auth=auth,
                                         headers=headers) as resp:
                        statuses[resp.status] += 1
                        if resp.status == 200:
                            accepted.extend((await resp.json())["event_ids"])
                        elif resp.status == 503 and not resp.headers.get("Retry-After"):
                            no_retry_after += 1
                        else:
                            await resp.read()
                except TimeoutError:
                    hangs += 1

        async def sample() -> None:
            while time.monotonic() < stop_at:
                rss.append(_rss_mb(proc.pid))
                await asyncio.sleep(0.2)

        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=10),
                connector=aiohttp.TCPConnector(limit=CLIENTS)) as http:
            started = time.monotonic()
            await asyncio.gather(sample(), *(client(http) for _ in range(CLIENTS)))
            elapsed = time.monotonic() - started
        seen = await asyncio.to_thread(_event_ids_on_topic, settings)
    finally:
        proc.terminate()
        proc.wait(10)

    third = len(rss) // 3
    middle, last = max(rss[third:2 * third]), max(rss[2 * third:])
    calls = sum(statuses.values())
    print(f"\noverload: {calls} calls in {elapsed:.1f}s, statuses {dict(statuses)}, "
          f"offered {calls * BATCH / elapsed:,.0f} events/s, "
          f"{len(accepted)} events accepted ({len(accepted) / elapsed:,.0f}/s), "
          f"{sum(seen.values()) - len(accepted)} records of refused batches on the topic; "
          f"RSS MB start {rss[0]:.0f}, max middle third {middle:.0f}, max last third "
          f"{last:.0f}, max {max(rss):.0f}")
    assert hangs == 0, "a call got no answer within 10 s"
    assert set(statuses) <= {200, 503}, statuses  # never a 5xx other than 503
    assert statuses[503] > 0 and statuses[200] > 0  # overloaded, yet still accepting
    assert no_retry_after == 0
    assert last <= 1.2 * middle and max(rss) < RSS_CAP_MB
    missing = [e for e in accepted if seen[e] == 0]
    repeated = [e for e in accepted if seen[e] > 1]
    assert not missing and not repeated, (len(missing), len(repeated))
    assert len(set(accepted)) == len(accepted)
