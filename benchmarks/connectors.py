"""Connector throughput, end to end (request in → Kafka ack), next to a raw producer.

``python benchmarks/connectors.py [--events 100000]`` prints, for the HTTP collector
(Segment batches of 100) and the AMI feed, each running as its own connector process
(``python -m connectors --channels ...``): accepted events/s, the ratio to a raw
confluent-kafka producer measured in the same run with the same producer settings, and
the connector process's CPU cost per event (user + system, librdkafka threads included).
Also the in-process Python cost of validate+map+serialize per event. Prints only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backbone.settings import Settings  # noqa: E402
from connectors.ami_server import AmiServer  # noqa: E402
from deploy.stack.proc import free_port  # noqa: E402
from deploy.stack.topics import ensure_topics  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def raw_producer(settings: Settings, n: int, size: int) -> float:
    """Events/s of a bare idempotent producer with the connectors' settings."""
    producer = Producer(settings.producer_config())
    topic = settings.topic("interactions")
    value = os.urandom(size)
    acked = 0

    def done(err: object, _msg: object) -> None:
        nonlocal acked
        acked += err is None

    started = time.perf_counter()
    for i in range(n):
        while True:
            try:
                producer.produce(topic, value, key=f"k{i % 5000}", on_delivery=done)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(60)
    return acked / (time.perf_counter() - started)


PROFILE_DIR: Path | None = None  # --profile: run each connector under cProfile


def start_connector(settings: Settings, channel: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    full = os.environ | env | {"CCB_TOPIC_PREFIX": settings.topic_prefix,
                               "PYTHONPATH": str(ROOT)}
    profile = ([] if PROFILE_DIR is None
               else ["-m", "cProfile", "-o", str(PROFILE_DIR / f"{channel}.prof")])
    return subprocess.Popen([sys.executable, *profile, "-m", "connectors", "--channels", channel],
                            env=full, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


async def wait_http(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


async def collector(settings: Settings, n: int, concurrency: int = 8) -> tuple[float, float]:
    port = free_port()
    proc = start_connector(settings, "app_web", {"CCB_COLLECTOR_PORT": str(port)})
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_http(f"{base}/readyz")
        auth = "Basic " + base64.b64encode(b"app-dev-write-key:").decode()
        run = uuid.uuid4().hex[:8]
        bodies = [json.dumps({"batch": [
            {"type": "track", "messageId": f"{run}-{b}-{i}", "userId": f"u{(b * 100 + i) % 9973}",
             "anonymousId": f"d{i}", "event": "Transfer Failed",
             "properties": {"error_code": "E-LIMIT", "amount": i, "session_id": f"s{b}"}}
            for i in range(100)]}).encode() for b in range(n // 100)]
        # warm-up: registry lookup, connections, producer id
        async with aiohttp.ClientSession(headers={"Authorization": auth}) as http:
            async with http.post(f"{base}/v1/batch", data=bodies[0]) as resp:
                assert resp.status == 200, await resp.text()
            queue = list(reversed(bodies[1:]))
            accepted = 0
            cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()

            async def client() -> None:
                nonlocal accepted
                while queue:
                    body = queue.pop()
                    async with http.post(f"{base}/v1/batch", data=body) as resp:
                        await resp.read()
                        if resp.status == 200:
                            accepted += 100
                        else:
                            queue.append(body)
                            await asyncio.sleep(0.05)

            await asyncio.gather(*(client() for _ in range(concurrency)))
            elapsed, cpu = time.perf_counter() - t0, cpu_seconds(proc.pid) - cpu0
        return accepted / elapsed, cpu / accepted * 1e6
    finally:
        proc.terminate()
        proc.wait(30)


def call_frames(linkedid: str, t0: float) -> list[dict[str, str]]:
    c = {"Uniqueid": linkedid, "Linkedid": linkedid, "CallerIDNum": "13912345678"}
    names = [("Newchannel", {}), ("QueueCallerJoin", {"Queue": "q", "Position": "1"}),
             ("AgentCalled", {"Queue": "q", "MemberName": "A"}),
             ("AgentConnect", {"Queue": "q", "MemberName": "A", "HoldTime": "5",
                               "RingTime": "2"}),
             ("AgentComplete", {"Queue": "q", "MemberName": "A", "HoldTime": "5",
                                "TalkTime": "60", "Reason": "caller"}),
             ("Hangup", {"Cause": "16"}),
             ("Cdr", {"UniqueID": linkedid, "DestinationChannel": "SIP/a", "StartTime": "x"})]
    return [{"Event": name, **c, **extra, "Timestamp": f"{t0 + i:.6f}"}
            for i, (name, extra) in enumerate(names)]


async def acked_count(url: str, topic: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        text = await resp.text()
    pattern = (r'ccb_producer_messages_total\{outcome="acked",topic="' + re.escape(topic)
               + r'"\} ([0-9.e+]+)')
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


async def ami(settings: Settings, n: int) -> tuple[float, float]:
    server = AmiServer(settings.ami_username, settings.ami_secret.get_secret_value())
    await server.start()
    desk = free_port()
    proc = start_connector(settings, "phone", {"CCB_AMI_PORT": str(server.port),
                                               "CCB_DESKTOP_PORT": str(desk)})
    metrics = f"http://127.0.0.1:{desk}/metrics"
    topic = settings.topic("interactions")
    try:
        await wait_http(f"http://127.0.0.1:{desk}/healthz")
        await server.wait_client(30)
        t_base = time.time() - 3600
        await server.send(call_frames("warm.0", t_base))
        while await acked_count(metrics, topic) < 7:  # noqa: ASYNC110 - another process
            await asyncio.sleep(0.05)
        calls = n // 7
        frames = [f for c in range(calls) for f in call_frames(f"{c}.{c}", t_base)]
        chunks = [frames[i:i + 700] for i in range(0, len(frames), 700)]
        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        for chunk in chunks:
            await server.send(chunk)
        expected = 7 + calls * 7
        while (done := await acked_count(metrics, topic)) < expected:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds(proc.pid) - cpu0
        return (done - 7) / elapsed, cpu / (done - 7) * 1e6
    finally:
        proc.terminate()
        proc.wait(30)
        await server.stop()


async def python_cost(settings: Settings, n: int = 20_000) -> float:
    """µs per event of validate + map + de-identify + Avro-serialize, no Kafka."""
    from backbone.models import Channel
    from connectors.base import Pipeline
    from connectors.segment import SegmentMapper

    pipeline = Pipeline(settings, "bench")
    assert await pipeline.load_schemas(), "schema registry unreachable"  # ids resolved at start
    mapper = SegmentMapper(pipeline)
    msgs = [{"type": "track", "messageId": f"m{i}", "userId": f"u{i}", "anonymousId": "d",
             "event": "Transfer Failed", "properties": {"error_code": "E", "amount": i}}
            for i in range(n)]
    now = int(time.time() * 1000)
    started = time.perf_counter()
    for msg in msgs:  # map() returns the event already encoded (Prepared.value)
        mapper.map(msg, Channel.APP, sent_at=None, received_ms=now)
    return (time.perf_counter() - started) / n * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--only", choices=("raw", "python", "http", "ami"), action="append",
                        help="run only these parts (repeatable); default all")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="run the connector processes under cProfile, writing DIR/<channel>.prof")
    args = parser.parse_args()
    global PROFILE_DIR  # noqa: PLW0603 - a benchmark switch
    PROFILE_DIR = args.profile
    if PROFILE_DIR is not None:
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    parts = set(args.only or ("raw", "python", "http", "ami"))
    settings = Settings(topic_prefix=f"bench{uuid.uuid4().hex[:6]}.")
    ensure_topics(settings)
    try:
        await _run(settings, args.events, parts)
    finally:
        delete_topics(settings)


def delete_topics(settings: Settings) -> None:
    """The broker is shared and has a file-descriptor budget: leave no topics behind."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(settings.kafka_common())
    doomed = [t for t in admin.list_topics(timeout=10).topics
              if t.startswith(settings.topic_prefix)]
    for fut in (admin.delete_topics(doomed, operation_timeout=30).values() if doomed else ()):
        try:
            fut.result()
        except Exception as exc:  # noqa: BLE001 - best effort, but say so
            print(f"could not delete a benchmark topic: {exc}")


async def _run(settings: Settings, events: int, parts: set[str]) -> None:
    print(f"topic {settings.topic('interactions')}, {events} events per run, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    started = time.perf_counter()
    for _ in range(2000):
        sum(range(1000))
    print(f"machine speed: sum(range(1000)) {(time.perf_counter() - started) * 500:.1f} µs "
          "(compare runs by this; it is a few µs on an idle core)")
    raw = float("nan")
    if "raw" in parts:
        raw = raw_producer(settings, events, 420)
        print(f"raw confluent-kafka producer   {raw:10,.0f} events/s (420-byte values, acks=all)")
    if "python" in parts:
        py = await python_cost(settings)
        print(f"python validate+map+serialize  {py:10.1f} µs/event (in-process, no Kafka)")
    if "http" in parts:
        http_rate, http_cpu = await collector(settings, events)
        print(f"HTTP collector, batches of 100 {http_rate:10,.0f} events/s  "
              f"ratio {http_rate / raw:5.2f}  connector CPU {http_cpu:6.1f} µs/event")
    if "ami" in parts:
        ami_rate, ami_cpu = await ami(settings, events)
        print(f"AMI feed (phone connector)     {ami_rate:10,.0f} events/s  "
              f"ratio {ami_rate / raw:5.2f}  connector CPU {ami_cpu:6.1f} µs/event")


if __name__ == "__main__":
    asyncio.run(main())
