"""The processes benchmarks/context_service.py starts: the context service, the echo
baselines, the loader of the benchmark's customers and the publisher of their updates."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from typing import Any

SERVICE_TOPICS = ("customer-context", "kpis", "handoffs", "audit", "alerts")


def load_customers(n: int, events: int) -> None:
    from confluent_kafka import Producer

    from backbone.settings import Settings
    from backbone.topics import by_name
    from benchmarks.snapshots import snapshot, wire
    from deploy.stack.topics import ensure_topics

    settings = Settings()
    ensure_topics(settings, tuple(by_name(n) for n in SERVICE_TOPICS))
    producer = Producer(settings.producer_config())
    for i in range(n):
        data = snapshot(f"bench-{i}", 1, events=events, phone_hash=f"h:k1:bench{i}")
        producer.produce(settings.topic("customer-context"), key=f"bench-{i}".encode(),
                         value=wire(data))
        producer.poll(0)
    producer.flush(30)


def publish_updates(customers: int, events: int, rate: float, stop: threading.Event) -> int:
    """New versions of random customers at ``rate`` per second until stopped."""
    from confluent_kafka import Producer

    from backbone.settings import Settings
    from benchmarks.snapshots import snapshot, wire

    settings = Settings()
    producer = Producer(settings.producer_config(**{"linger.ms": 20}))
    versions = [1] * customers
    sent, started = 0, time.monotonic()
    while not stop.is_set():
        i = random.randrange(customers)  # noqa: S311
        versions[i] += 1
        data = snapshot(f"bench-{i}", versions[i], events=events, phone_hash=f"h:k1:bench{i}")
        producer.produce(settings.topic("customer-context"), key=f"bench-{i}".encode(),
                         value=wire(data))
        producer.poll(0)
        sent += 1
        delay = started + sent / rate - time.monotonic()
        if delay > 0:
            stop.wait(delay)
    producer.flush(10)
    return sent


def context_server(port: int, ready: Any, gc_out: Any) -> None:
    import logging

    from backbone.settings import Settings
    from services.context.heap import PauseMeter
    from services.context.server import ContextServer

    logging.basicConfig(level=logging.WARNING)

    async def main() -> None:
        server = ContextServer(Settings(), port=port, instance=f"bench-{os.getpid()}",
                               manage_gc=True)
        await server.start()
        if not await server.wait_ready(180):
            raise SystemExit(f"context service did not catch up: {server.feed.error}")
        await asyncio.sleep(0.5)  # the view is frozen for the collector once loaded
        meter = PauseMeter().install()  # collections while serving, not while loading
        ready.put(os.getpid())
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        meter.remove()
        gc_out.put((os.getpid(), len(server.view), meter.summary()))
        await server.stop(1.0)

    asyncio.run(main())


def echo_server(port: int, size: int, ready: Any, ack: bool = False) -> None:
    """A trivial answer of ``size`` bytes; with ``ack``, only after Kafka acknowledged a
    400-byte record on the audit topic (the service's audit producer settings): the floor
    that a fail-closed audit puts under every read."""
    import grpc

    from backbone.kafka import AsyncPublisher
    from backbone.settings import Settings

    payload, record = os.urandom(size), b"a" * 400
    settings = Settings()
    publisher = AsyncPublisher(settings, client_id=f"bench-echo-{os.getpid()}",
                               **{"linger.ms": 2})
    topic = settings.topic("audit")

    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if ack:
            await publisher.publish(topic, "bench", record)
        return payload

    async def main() -> None:
        if ack:
            await publisher.start()
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
        if ack:
            await publisher.stop()

    asyncio.run(main())
