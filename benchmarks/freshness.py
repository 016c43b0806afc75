"""End-to-end freshness: event accepted by a connector → visible in GetCustomerContext.

Runs the real worker, context service and connectors as processes on the local stack (own
topic prefix), offers Segment batches at a fixed rate over HTTP, and for a sample of
accepted events asks GetCustomerContext with the acknowledgement's event id as the
read-your-writes watermark. The server answers as soon as the event is in the customer's
context, so the call's latency after the acknowledgement is the freshness.

    PYTHONPATH=. .venv/bin/python -m benchmarks.freshness --rate 1000 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import httpx

from backbone.context.v1 import context_pb2 as pb
from backbone.context.v1 import context_pb2_grpc as pb_grpc
from backbone.settings import Settings
from deploy.stack import cli as stack_cli
from deploy.stack import schemas, topics
from deploy.stack.proc import free_port

ROOT = Path(__file__).resolve().parents[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def offer(args: argparse.Namespace, collector: int, grpc_port: int) -> None:
    batch_size = 50
    customers = 2000
    latencies: list[float] = []
    failures = 0
    accepted = 0
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
    stub = pb_grpc.CustomerContextServiceStub(channel)
    md = (("authorization", "Bearer dev-agent-token"),)
    probes: list[asyncio.Task[None]] = []

    async def probe(user: str, event_id: str, acked: float) -> None:
        nonlocal failures
        req = pb.GetCustomerContextRequest(
            lookup=pb.CustomerLookup(identifier=pb.IdentifierKey(type="APP_USER", value=user)),
            purpose="freshness_benchmark", timeline=pb.TimelineQuery(page_size=1),
            min_freshness=pb.Watermark(event_ids=[event_id]))
        for _ in range(50):
            try:
                await stub.GetCustomerContext(req, timeout=5, metadata=md)
                latencies.append(time.perf_counter() - acked)
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                    failures += 1
                    if failures <= 3:
                        print(f"probe failed: {exc.code().name} {exc.details()}")
                    return
                await asyncio.sleep(0.01)
        failures += 1

    async with httpx.AsyncClient(auth=("app-server-dev-write-key", ""), timeout=30) as client:
        # Warm-up: every customer logs in once so lookups by APP_USER resolve.
        for start in range(0, customers, 100):
            logins = [{"type": "identify", "messageId": f"login-{i}-{args.run}", "userId": f"u{i}",
                       "anonymousId": f"a{i}", "traits": {"customer_number": f"CN{i:08d}"}}
                      for i in range(start, start + 100)]
            resp = await client.post(f"http://127.0.0.1:{collector}/v1/batch",
                                     json={"batch": logins})
            resp.raise_for_status()
        # Wait until the warm-up has been processed (the last login is visible), so the
        # measurement starts with no backlog.
        last = pb.GetCustomerContextRequest(
            lookup=pb.CustomerLookup(identifier=pb.IdentifierKey(type="APP_USER",
                                                                  value=f"u{customers - 1}")),
            purpose="freshness_benchmark",
            min_freshness=pb.Watermark(event_ids=[resp.json()["event_ids"][-1]]))
        for _ in range(120):
            try:
                await stub.GetCustomerContext(last, timeout=5, metadata=md)
                break
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.5)
        print(f"offering {args.rate:.0f} events/s for {args.seconds}s "
              f"(batches of {batch_size}, {customers} customers)")
        t0 = time.perf_counter()
        n = 0
        sends: list[asyncio.Task[None]] = []

        async def send(batch: list[dict[str, object]], sample: int) -> None:
            nonlocal accepted
            resp = await client.post(f"http://127.0.0.1:{collector}/v1/batch", json={"batch": batch})
            acked = time.perf_counter()
            resp.raise_for_status()
            ids = resp.json()["event_ids"]
            accepted += len(ids)
            probes.append(asyncio.create_task(probe(str(batch[sample]["userId"]), ids[sample], acked)))

        while time.perf_counter() - t0 < args.seconds:
            batch: list[dict[str, object]] = [{"type": "track", "event": "Balance Viewed", "messageId": f"m-{args.run}-{n + i}",
                      "userId": f"u{(n + i) % customers}"} for i in range(batch_size)]
            sends.append(asyncio.create_task(send(batch, n % batch_size)))
            n += batch_size
            await asyncio.sleep(max(0.0, t0 + n / args.rate - time.perf_counter()))
        await asyncio.gather(*sends)
        elapsed = time.perf_counter() - t0
        await asyncio.gather(*probes)
    await channel.close()
    print(f"accepted {accepted} events in {elapsed:.1f}s = {accepted / elapsed:.0f} events/s")
    print(f"probes: {len(latencies)} answered, {failures} failed")
    if latencies:
        ms = [x * 1000 for x in latencies]
        print(f"freshness (connector ack → visible in GetCustomerContext), {len(ms)} samples: "
              f"p50 {statistics.median(ms):.0f} ms  p90 {pct(ms, 0.9):.0f} ms  "
              f"p99 {pct(ms, 0.99):.0f} ms  max {max(ms):.0f} ms  failures {failures}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    args.run = uuid.uuid4().hex[:6]
    settings = Settings(topic_prefix=f"bench{args.run}.")
    stack_cli.up(settings)
    topics.ensure_topics(settings)
    schemas.register_contracts(settings)
    collector, grpc_port = free_port(), free_port()
    env = os.environ | {"PYTHONPATH": str(ROOT), "CCB_TOPIC_PREFIX": settings.topic_prefix,
                        "CCB_COLLECTOR_PORT": str(collector), "CCB_GRPC_PORT": str(grpc_port),
                        "CCB_WORKER_DATA_DIR": f"/tmp/ccb-bench-{args.run}"}
    logs = Path("/tmp") / f"ccb-bench-{args.run}"
    logs.mkdir(exist_ok=True)
    procs = [subprocess.Popen([sys.executable, *cmd], env=env, cwd=ROOT,
                              stdout=(logs / f"{name}.log").open("wb"), stderr=subprocess.STDOUT)
             for name, cmd in [("worker", ["-m", "stream_processors", "worker"]),
                               ("service", ["-m", "services.context"]),
                               ("connectors", ["-m", "connectors", "--channels", "app_web"])]]
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{collector}/readyz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        time.sleep(5)  # worker joins its group
        asyncio.run(offer(args, collector, grpc_port))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
        topics.delete_prefixed(settings)
    print(f"logs in {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
