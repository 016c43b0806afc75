"""Flush before commit: no input offset is committed before its outputs are in Kafka.

faust flushes its producer right before it commits offsets (``Consumer._commit_offsets``).
:class:`GuardedProducer` is faust's aiokafka producer whose ``flush`` first publishes the
stages' coalesced outputs (snapshots, KPI values), then flushes, then checks every
tracked delivery. :class:`ProcessorsApp` is a faust App that builds that producer, so
the guard is part of the app, not a patch applied to it afterwards.

A lost record raises inside ``_commit_offsets`` before its ``_commit``: the offsets are not
committed. The whole worker crashes (``app.crash`` marks the worker, its root service, as
crashed, so it stops and exits non-zero and its supervisor restarts it); the failure is
sticky, so the commit faust tries while stopping fails the same way and the restart
resumes from the last good offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.transport.drivers.aiokafka import Producer

from backbone.errors import PublishError
from stream_processors.deliveries import Deliveries

log = logging.getLogger(__name__)


class CommitGuard:
    """What must happen before a commit: ``publish`` (the coalesced outputs, one batch at a
    time under ``lock``, shared with the timers) and then the deliveries check."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.publish: list[Callable[[], Awaitable[None]]] = []
        self.deliveries: Deliveries | None = None
        self.app: faust.App | None = None

    async def publish_all(self) -> None:
        async with self.lock:
            for step in self.publish:
                await step()

    async def run(self, flush: Callable[[], Awaitable[None]]) -> None:
        try:
            await self.publish_all()
            await flush()
            if self.deliveries is not None:
                await self.deliveries.check()
        except PublishError as exc:
            log.critical("not committing: %s; crashing the worker", exc)
            if self.app is not None and not self.app.crashed:
                await self.app.crash(exc)
            raise


class GuardedProducer(Producer):
    guard: CommitGuard | None = None

    async def flush(self) -> None:
        if self.guard is None:
            await super().flush()
        else:
            await self.guard.run(super().flush)


class ProcessorsApp(faust.App):
    """faust's App with a :class:`GuardedProducer` (guarded by ``commit_guard``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commit_guard = CommitGuard()
        self.commit_guard.app = self

    def _new_producer(self) -> Any:
        transport = self._new_producer_transport()
        producer = GuardedProducer(transport, loop=self.loop, beacon=self.beacon)
        producer.guard = self.commit_guard
        return producer
