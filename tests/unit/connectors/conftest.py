"""Connector apps served in-process over HTTP, with a recording Kafka stand-in (no broker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from backbone.settings import Settings
from connectors.base import Pipeline


class RecordingPublisher:
    """Acknowledges every record at once and keeps it, decoded on demand."""

    healthy = True

    def __init__(self) -> None:
        self.records: list[tuple[str, Any, bytes]] = []
        self.pipeline: Pipeline | None = None

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def publish(self, topic: str, key: Any, value: bytes,
                headers: Any = None) -> asyncio.Future[int]:
        self.records.append((topic, key, value))
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        fut.set_result(len(self.records))
        return fut

    def values(self, topic: str) -> list[bytes]:
        return [value for t, _, value in self.records if t == topic]

    def events(self) -> list[dict[str, Any]]:
        assert self.pipeline is not None
        p = self.pipeline
        return [p._events.deserialize(p.topic, v) for v in self.values(p.topic)]

    def dead_letters(self) -> list[dict[str, Any]]:
        assert self.pipeline is not None
        p = self.pipeline
        return [p._dead.deserialize(p.dead_topic, v) for v in self.values(p.dead_topic)]


Served = tuple[TestClient, RecordingPublisher]


@pytest.fixture
async def served() -> AsyncIterator[Callable[..., Any]]:
    """``await served(create_app, settings, name)``: a test client on the app and its
    recording publisher; closed after the test."""
    clients: list[TestClient] = []

    async def start(create_app: Callable[..., web.Application], settings: Settings,
                    name: str) -> Served:
        kafka = RecordingPublisher()
        pipeline = Pipeline(settings, name, publisher=kafka)  # type: ignore[arg-type]
        kafka.pipeline = pipeline
        client = TestClient(TestServer(create_app(settings, pipeline=pipeline)))
        await client.start_server()
        clients.append(client)
        return client, kafka

    yield start
    for client in clients:
        await client.close()
