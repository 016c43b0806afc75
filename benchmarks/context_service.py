"""Benchmark: GetCustomerContext (50-entry timelines) vs a trivial gRPC echo, same run.

    .venv/bin/python -m benchmarks.context_service [--rates 250,500,1000] [--server-procs 1]
        [--customers 2000] [--updates-per-s 0] [--cold]

Loads ``--customers`` snapshots into a fresh topic prefix on the configured Kafka, starts
``--server-procs`` context-service processes sharing one port (SO_REUSEPORT) and the same
number of echo processes, then offers each fixed rate open-loop (latency counted from the
scheduled send time, so queueing is not hidden) and finally a closed-loop maximum.
The echo answers with a payload of the same size as a context response. With
``--updates-per-s`` new snapshot versions of random customers are published meanwhile (the
view churns as in production). At the end every context process prints its garbage
collections while serving (``gc.callbacks``): count and longest pause per generation.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import signal
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.context_servers import context_server, echo_server, load_customers, publish_updates
from deploy.stack.proc import free_port

TOKEN = "dev-agent-token"  # noqa: S105 - the local-stack default agent token
ECHO_METHOD = "/bench.Echo/Echo"


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


def _client(target: str, port: int, rate: float, duration: float, customers: int,
            warm: bool, out: Any, concurrency: int = 32) -> None:
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
        latencies, errors, started = await _offer(call, rate, duration, concurrency)
        loop = asyncio.get_running_loop()
        elapsed = max(loop.time() - started, duration)
        out.put((latencies, errors, elapsed, warmed))
        await channel.close()

    asyncio.run(main())


async def _offer(call: Callable[[], Awaitable[Any]], rate: float, duration: float,
                 concurrency: int) -> tuple[list[float], int, float]:
    """Open loop at ``rate`` (latency from the scheduled send time), or closed loop with
    ``concurrency`` calls in flight when ``rate`` is 0: (latencies, errors, start time)."""
    import grpc

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
        await asyncio.gather(*[worker() for _ in range(concurrency)])
    return latencies, errors, started


def _measure(target: str, port: int, rate: float, duration: float, customers: int,
             client_procs: int, warm: bool, concurrency: int = 32) -> Result:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_client, args=(
        target, port, rate / client_procs, duration, customers, warm, out,
        max(concurrency // client_procs, 1))) for _ in range(client_procs)]
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


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="250,500,1000")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--server-procs", type=int, default=1)
    parser.add_argument("--client-procs", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32,
                        help="calls in flight for the closed-loop maximum")
    parser.add_argument("--updates-per-s", type=float, default=0.0,
                        help="publish new snapshot versions meanwhile (view churn)")
    parser.add_argument("--cold", action="store_true",
                        help="do not pre-read every customer (first reads build the response)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    os.environ["CCB_TOPIC_PREFIX"] = f"bench{uuid.uuid4().hex[:8]}."
    os.environ["CCB_SCHEMA_REGISTRY_URL"] = "mock://bench"
    os.environ["CCB_EXTERNAL_KAFKA"] = "1"
    started = time.monotonic()
    load_customers(args.customers, args.events)
    print(f"loaded {args.customers} customers x {args.events} events in "
          f"{time.monotonic() - started:.1f}s (prefix {os.environ['CCB_TOPIC_PREFIX']})")

    ctx = mp.get_context("spawn")
    ready, gc_out = ctx.Queue(), ctx.Queue()
    ports = {"context": free_port(), "echo": free_port(), "echo+ack": free_port()}
    probe = _probe_size(args.events)
    servers = [ctx.Process(target=context_server, args=(ports["context"], ready, gc_out))
               for _ in range(args.server_procs)]
    for target in ("echo", "echo+ack"):
        servers += [ctx.Process(target=echo_server, args=(
            ports[target], probe, ready, target == "echo+ack")) for _ in range(args.server_procs)]
    for p in servers:
        p.start()
    stop_updates = threading.Event()
    updater: threading.Thread | None = None
    try:
        for _ in servers:
            ready.get(timeout=180)
        if args.updates_per_s > 0:
            updater = threading.Thread(target=publish_updates, daemon=True, args=(
                args.customers, args.events, args.updates_per_s, stop_updates))
            updater.start()
        n = args.server_procs
        pids = {target: [p.pid for p in servers[i * n:(i + 1) * n] if p.pid]
                for i, target in enumerate(ports)}
        print(f"{n} server process(es) each, {args.client_procs} client "
              f"process(es), {os.cpu_count()} CPUs, response ~{probe} bytes, "
              f"{'cold' if args.cold else 'warm'} view cache, "
              f"{args.updates_per_s:.0f} snapshot updates/s, {args.duration:.0f}s per point, "
              f"max = closed loop with {args.concurrency} calls in flight")
        _run_points(args, ports, pids)
    finally:
        stop_updates.set()
        if updater is not None:
            updater.join(15)
        for p in servers:
            if p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)
        _print_gc(gc_out, args.server_procs)
        for p in servers:
            p.join(10)
        _delete_topics()
    return 0


def _run_points(args: argparse.Namespace, ports: dict[str, int],
                pids: dict[str, list[int]]) -> None:
    """Each offered rate (then the maximum) against the service, the echo and the echo
    that waits for an audit ack, one after the other."""
    print(f"{'offered':>8} | {'context qps':>11} {'p50 ms':>7} {'p99 ms':>7} {'err':>4} "
          f"{'cpu us':>7} | {'echo qps':>8} {'p50':>6} {'p99':>6} {'cpu us':>6} | "
          f"{'echo+ack qps':>12} {'p50':>6} {'p99':>6} {'cpu us':>6} | {'qps/echo':>8}")
    for rate in [float(r) for r in args.rates.split(",") if r] + [0.0]:
        got = {}
        for target, port in ports.items():
            cpu0 = _cpu_s(pids[target])
            r = _measure("context" if target == "context" else "echo", port, rate,
                         args.duration, args.customers, args.client_procs,
                         target == "context" and not args.cold, args.concurrency)
            r.cpu_us = (_cpu_s(pids[target]) - cpu0) / max(r.count, 1) * 1e6
            got[target] = r
        c, e, a = got["context"], got["echo"], got["echo+ack"]
        print(f"{c.offered:>8} | {c.qps:>11.0f} {c.p50_ms:>7.2f} {c.p99_ms:>7.2f} "
              f"{c.errors:>4} {c.cpu_us:>7.0f} | {e.qps:>8.0f} {e.p50_ms:>6.2f} "
              f"{e.p99_ms:>6.2f} {e.cpu_us:>6.0f} | {a.qps:>12.0f} {a.p50_ms:>6.2f} "
              f"{a.p99_ms:>6.2f} {a.cpu_us:>6.0f} | {c.qps / max(e.qps, 1):>8.2f}", flush=True)


def _print_gc(gc_out: Any, procs: int) -> None:
    for _ in range(procs):
        try:
            pid, customers, summary = gc_out.get(timeout=15)
        except Exception:  # noqa: BLE001 - a crashed server reports nothing
            print("gc: a context process did not report")
            continue
        gens = ", ".join(f"gen{g} {n} x, max {wall:.1f} ms wall / {cpu:.1f} ms cpu"
                         for g, (n, wall, cpu) in summary.items())
        print(f"gc while serving (pid {pid}, {customers} customers in the view): {gens}")


def _delete_topics() -> None:
    """The run's topics go away again: leftover partitions cost the broker file handles."""
    from backbone.settings import Settings
    from deploy.stack.topics import delete_prefixed

    delete_prefixed(Settings())  # this run's own prefix (CCB_TOPIC_PREFIX set above)


def _probe_size(events: int) -> int:
    """Size of a serialized context response for one benchmark customer."""
    from backbone.context.v1 import context_pb2 as pb
    from benchmarks.snapshots import snapshot, wire
    from services.context import responses
    from services.context.view import Entry

    entry = Entry.parse("bench-0", wire(snapshot("bench-0", 1, events=events)))
    cached = responses.cached_context(entry, False, pb.TimelineQuery(page_size=50))
    fresh = responses.freshness(entry, caught_up=True, lag=0, served_by="bench-0")
    return len(responses.answer(cached, fresh=fresh, handoffs=[], role=pb.ROLE_AGENT))


if __name__ == "__main__":
    sys.exit(main())
