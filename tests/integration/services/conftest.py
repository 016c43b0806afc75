"""Fixtures: isolated topics on the real broker, running context-service instances."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from backbone.settings import Settings
from services.context.server import ContextServer
from tests.integration.services.support import FakeClock, SnapshotWriter

ServerFactory = Callable[..., Awaitable[ContextServer]]


@pytest.fixture
def ctx_settings() -> Settings:
    """Unique topic prefix on the running broker; in-process mock registry.

    Deliberately does not use the session ``stack`` fixture, so these tests never start
    or stop shared infrastructure: they only need a reachable broker.
    """
    from deploy.stack.topics import ensure_topics

    settings = Settings(external_kafka=True, topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
                        schema_registry_url=f"mock://ctx-{uuid.uuid4().hex[:8]}",
                        grpc_port=0, handoff_expiry_grace_s=5.0, handoff_find_wait_s=1.0)
    ensure_topics(settings)
    return settings


@pytest.fixture
def writer(ctx_settings: Settings) -> SnapshotWriter:
    return SnapshotWriter(ctx_settings)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def server_factory(ctx_settings: Settings, clock: FakeClock
                         ) -> AsyncIterator[ServerFactory]:
    started: list[ContextServer] = []

    async def make(settings: Settings | None = None, *, wait: bool = True,
                   **kwargs: object) -> ContextServer:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("port", 0)
        kwargs.setdefault("expiry_interval_s", 0.05)
        server = ContextServer(settings or ctx_settings, **kwargs)  # type: ignore[arg-type]
        await server.start()
        started.append(server)
        if wait:
            assert await server.wait_ready(30.0), "view did not catch up"
        return server

    yield make
    for server in reversed(started):
        await server.stop(grace_s=0.5)


@pytest.fixture
async def server(server_factory: ServerFactory) -> ContextServer:
    return await server_factory(instance="ctx-a")
