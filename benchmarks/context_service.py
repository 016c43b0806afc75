"""Benchmark: GetCustomerContext (50-entry timelines) vs a trivial gRPC echo, same run.

    .venv/bin/python -m benchmarks.context_service [--rates 250,500,1000] [--server-procs 1]

Loads ``--customers`` snapshots into a fresh topic prefix on the configured Kafka, starts
``--server-procs`` context-service processes sharing one port (SO_REUSEPORT) and the same
number of echo processes, then offers each fixed rate open-loop (latency counted from the
scheduled send time, so queueing is not hidden) and finally a closed-loop maximum.
The echo answers with a payload of the same size as a context response.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import signal
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from deploy.stack.proc import free_port

TOKEN = "dev-agent-token"  # noqa: S105 - the local-stack default agent token
ECHO_METHOD = "/bench.Echo/Echo"
SERVICE_TOPICS = ("customer-context", "kpis", "handoffs", "audit")


@dataclass
class Result:
    target: str
    offered: str
    qps: float
    p50_ms: float
    p99_ms: float
    errors: int
    count: int = 0
    # server CPU time per request, warm-up requests included (an upper bound; unlike
    # latency it does not depend on what else the machine is doing)
    cpu_us: float = 0.0


def _cpu_s(pids: list[int]) -> float:
    """utime + stime of the server processes, from /proc."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _load_customers(n: int, events: int) -> None:
    from confluent_kafka import Producer

    from backbone.settings import Settings
    from backbone.topics import by_name
    from deploy.stack.topics import ensure_topics
    from tests.integration.services.support import snapshot

    settings = Settings()
    ensure_topics(settings, tuple(by_name(n) for n in SERVICE_TOPICS))
    producer = Producer(settings.producer_config())
    for i in range(n):
        data = snapshot(f"bench-{i}", 1, n_events=events, phone_hash=f"h:k1:bench{i}")
        producer.produce(settings.topic("customer-context"), key=f"bench-{i}".encode(),
                         value=json.dumps(data).encode())
        producer.poll(0)
    producer.flush(30)


def _context_server(port: int, ready: Any) -> None:
    import logging

    from backbone.settings import Settings
    from services.context.server import ContextServer

    logging.basicConfig(level=logging.WARNING)

    async def main() -> None:
        server = ContextServer(Settings(), port=port, instance=f"bench-{os.getpid()}")
        await server.start()
        await server.wait_ready(60)
        ready.put(os.getpid())
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await server.stop(1.0)

    asyncio.run(main())


def _echo_server(port: int, size: int, ready: Any) -> None:
    import grpc

    payload = os.urandom(size)

    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return payload

    async def main() -> None:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
        handler = grpc.method_handlers_generic_handler("bench.Echo", {
            "Echo": grpc.unary_unary_rpc_method_handler(echo)})
        server.add_generic_rpc_handlers((handler,))
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        ready.put(os.getpid())
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await server.stop(1.0)

    asyncio.run(main())


def _client(target: str, port: int, rate: float, duration: float, customers: int,
            warm: bool, out: Any) -> None:
    import grpc

    from backbone.context.v1 import context_pb2 as pb
    from backbone.context.v1 import context_pb2_grpc as pb_grpc

    async def main() -> None:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        metadata = (("authorization", f"Bearer {TOKEN}"),)
        if target == "context":
            stub = pb_grpc.CustomerContextServiceStub(channel)

            async def call() -> Any:
                cid = f"bench-{random.randrange(customers)}"  # noqa: S311
                return await stub.GetCustomerContext(pb.GetCustomerContextRequest(
                    lookup=pb.CustomerLookup(customer_id=cid), purpose="benchmark",
                    timeline=pb.TimelineQuery(page_size=50)), metadata=metadata, timeout=5)
        else:
            echo = channel.unary_unary(ECHO_METHOD)
            body = b"x" * 60

            async def call() -> Any:
                return await echo(body, metadata=metadata, timeout=5)

        if target == "context" and warm:
            # every customer read once: the measured reads hit the per-version cache, as
            # an agent desktop re-reading a customer does; --cold measures first reads
            for start in range(0, customers, 32):
                await asyncio.gather(*[stub.GetCustomerContext(pb.GetCustomerContextRequest(
                    lookup=pb.CustomerLookup(customer_id=f"bench-{i}"), purpose="benchmark",
                    timeline=pb.TimelineQuery(page_size=50)), metadata=metadata, timeout=30)
                    for i in range(start, min(start + 32, customers))])
        for _ in range(200):  # warm-up: connections
            await call()
        warmed = 200 + (customers if target == "context" and warm else 0)
        latencies: list[float] = []
        errors = 0
        loop = asyncio.get_running_loop()

        async def timed(scheduled: float) -> None:
            nonlocal errors
            try:
                await call()
                latencies.append(loop.time() - scheduled)
            except grpc.aio.AioRpcError:
                errors += 1

        started = loop.time()
        end = started + duration
        if rate > 0:
            tasks = []
            interval, next_at = 1.0 / rate, started
            while next_at < end:
                tasks.append(asyncio.ensure_future(timed(next_at)))
                next_at += interval
                delay = next_at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await asyncio.gather(*tasks)
        else:
            async def worker() -> None:
                while loop.time() < end:
                    await timed(loop.time())
            await asyncio.gather(*[worker() for _ in range(32)])
        elapsed = max(loop.time() - started, duration)
        out.put((latencies, errors, elapsed, warmed))
        await channel.close()

    asyncio.run(main())


def _measure(target: str, port: int, rate: float, duration: float, customers: int,
             client_procs: int, warm: bool) -> Result:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_client, args=(target, port, rate / client_procs, duration,
                                                 customers, warm, out)) for _ in range(client_procs)]
    for p in procs:
        p.start()
    results = [out.get(timeout=duration + 120) for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for r in results for x in r[0])
    errors = sum(r[1] for r in results)
    elapsed = max(r[2] for r in results)
    if not latencies:
        return Result(target, "max" if rate <= 0 else str(int(rate)), 0.0, 0.0, 0.0, errors)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return Result(target, "max" if rate <= 0 else str(int(rate)), len(latencies) / elapsed,
                  q[49] * 1000, q[98] * 1000, errors,
                  len(latencies) + sum(r[3] for r in results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="250,500,1000")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--server-procs", type=int, default=1)
    parser.add_argument("--client-procs", type=int, default=1)
    parser.add_argument("--cold", action="store_true",
                        help="do not pre-read every customer (first reads build the response)")
    args = parser.parse_args(argv)

    os.environ["CCB_TOPIC_PREFIX"] = f"bench{uuid.uuid4().hex[:8]}."
    os.environ["CCB_SCHEMA_REGISTRY_URL"] = "mock://bench"
    os.environ["CCB_EXTERNAL_KAFKA"] = "1"
    started = time.monotonic()
    _load_customers(args.customers, args.events)
    print(f"loaded {args.customers} customers x {args.events} events in "
          f"{time.monotonic() - started:.1f}s (prefix {os.environ['CCB_TOPIC_PREFIX']})")

    ctx = mp.get_context("spawn")
    ready = ctx.Queue()
    ctx_port, echo_port = free_port(), free_port()
    probe = _probe_size(args.events)
    servers = [ctx.Process(target=_context_server, args=(ctx_port, ready))
               for _ in range(args.server_procs)]
    servers += [ctx.Process(target=_echo_server, args=(echo_port, probe, ready))
                for _ in range(args.server_procs)]
    for p in servers:
        p.start()
    try:
        for _ in servers:
            ready.get(timeout=120)
        ctx_pids = [p.pid for p in servers[:args.server_procs] if p.pid]
        echo_pids = [p.pid for p in servers[args.server_procs:] if p.pid]
        rates = [float(r) for r in args.rates.split(",") if r] + [0.0]
        print(f"{args.server_procs} server process(es) each, {args.client_procs} client "
              f"process(es), {os.cpu_count()} CPUs, response ~{probe} bytes, "
              f"{'cold' if args.cold else 'warm'} view cache, "
              f"{args.duration:.0f}s per point")
        print(f"{'offered':>8} | {'context qps':>11} {'p50 ms':>7} {'p99 ms':>7} {'err':>4} "
              f"{'cpu us':>7} | {'echo qps':>8} {'p50 ms':>7} {'p99 ms':>7} {'cpu us':>7} | "
              f"{'p99 ratio':>9}")
        for rate in rates:
            cpu0 = _cpu_s(ctx_pids)
            c = _measure("context", ctx_port, rate, args.duration, args.customers,
                         args.client_procs, not args.cold)
            c.cpu_us = (_cpu_s(ctx_pids) - cpu0) / max(c.count, 1) * 1e6
            cpu0 = _cpu_s(echo_pids)
            e = _measure("echo", echo_port, rate, args.duration, args.customers,
                         args.client_procs, False)
            e.cpu_us = (_cpu_s(echo_pids) - cpu0) / max(e.count, 1) * 1e6
            ratio = c.p99_ms / e.p99_ms if e.p99_ms else float("nan")
            print(f"{c.offered:>8} | {c.qps:>11.0f} {c.p50_ms:>7.2f} {c.p99_ms:>7.2f} "
                  f"{c.errors:>4} {c.cpu_us:>7.0f} | {e.qps:>8.0f} {e.p50_ms:>7.2f} "
                  f"{e.p99_ms:>7.2f} {e.cpu_us:>7.0f} | {ratio:>9.2f}", flush=True)
    finally:
        for p in servers:
            if p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)
        for p in servers:
            p.join(10)
        _delete_topics()
    return 0


def _delete_topics() -> None:
    """The run's topics go away again: leftover partitions cost the broker file handles."""
    from backbone.settings import Settings
    from deploy.stack.topics import delete_prefixed

    delete_prefixed(Settings())  # this run's own prefix (CCB_TOPIC_PREFIX set above)


def _probe_size(events: int) -> int:
    """Size of a serialized context response for one benchmark customer."""
    from backbone.context.v1 import context_pb2 as pb
    from services.context import mapping
    from services.context.view import Entry
    from tests.integration.services.support import snapshot

    entry = Entry.from_snapshot("bench-0", snapshot("bench-0", 1, n_events=events))
    ctx = mapping.customer_context(entry, unmask=False, timeline=entry.data["timeline"][:50],
                                   fresh=pb.Freshness(), handoffs=[])
    return len(pb.GetCustomerContextResponse(context=ctx).SerializeToString())


if __name__ == "__main__":
    sys.exit(main())
