"""Fixtures for connector tests: servers on port 0 and an independent topic reader."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from backbone.serde import DEAD_LETTER, INTERACTION_EVENT, AvroSerde, registry_client
from backbone.settings import Settings

ServeApp = Callable[[web.Application], Any]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Any]]:
    """Start an aiohttp app on a free port; returns its base URL. Cleaned up after the test."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


def read_topic(settings: Settings, logical: str, *, expect: int | None = None,
               timeout_s: float = 20.0, idle_s: float = 2.0) -> list[dict[str, Any]]:
    """Everything on a topic, decoded, read by a plain confluent-kafka consumer.

    Stops after ``expect`` records (or ``idle_s`` without new ones once at least one
    arrived, when ``expect`` is None), or at ``timeout_s``.
    """
    topic = settings.topic(logical)
    serde = AvroSerde(registry_client(settings),
                      DEAD_LETTER if logical == "dead-letters" else INTERACTION_EVENT)
    consumer = Consumer(settings.consumer_config(f"test-{uuid.uuid4().hex[:8]}"))
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            if expect is not None and len(out) >= expect:
                break
            if expect is None and out and time.monotonic() - last > idle_s:
                break
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            record = serde.deserialize(topic, msg.value())
            record["_key"] = msg.key().decode() if msg.key() else None
            record["_partition"] = msg.partition()
            out.append(record)
            last = time.monotonic()
    finally:
        consumer.close()
    return out


async def aread_topic(settings: Settings, logical: str, **kwargs: Any) -> list[dict[str, Any]]:
    """``read_topic`` off the event loop, for tests whose connector keeps running meanwhile."""
    return await asyncio.to_thread(read_topic, settings, logical, **kwargs)
