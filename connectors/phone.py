"""The phone connector: an AMI session mapped to call events, published with backpressure.

There is nobody to acknowledge on AMI, so "lose nothing" means: an event read from the
socket is retried until Kafka has it, and when ``window`` events await Kafka or Kafka is
unreachable (the publisher's health) we stop reading (TCP backpressure; Asterisk
buffers, then drops a slow manager session — size its ``writetimeout`` accordingly).
Reconnects back off (see :mod:`connectors.ami`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from backbone.errors import BackpressureError, PublishError, ValidationError
from backbone.settings import Settings
from connectors import metrics as m
from connectors.ami import AmiClient, Frame
from connectors.base import Pipeline
from connectors.calls import CallMapper
from connectors.records import Prepared

log = logging.getLogger(__name__)
NAME = "phone"


class PhoneConnector:
    """Built without I/O; ``run(stop)`` connects and feeds Kafka until ``stop`` is set."""

    def __init__(self, settings: Settings, *, pipeline: Pipeline | None = None,
                 window: int = 5_000, host: str | None = None, port: int | None = None):
        self.pipeline = pipeline or Pipeline(settings, NAME)
        self.mapper = CallMapper(self.pipeline)
        self.window = window
        self._pending: deque[tuple[Prepared, asyncio.Future[int]]] = deque()
        self.acked: int = 0
        self.client = AmiClient(host or settings.ami_host, port or settings.ami_port,
                                settings.ami_username, settings.ami_secret.get_secret_value(),
                                self.handle, ready=lambda: self.pipeline.ready)
        # Read at scrape time: no gauge update per event.
        m.IN_FLIGHT.labels(NAME).set_function(lambda: len(self._pending))
        self._published = m.PUBLISHED.labels(NAME)
        self._unmapped = m.IGNORED.labels(NAME, "unmapped")
        self._refused = m.REFUSED.labels(NAME)

    async def handle(self, frame: Frame) -> None:
        self.pipeline.received()
        # Abandons past their grace time first, apart from this frame's own events: a
        # frame that fails validation must not take the held abandons down with it.
        expired = self.mapper.expire()
        try:
            events = self.mapper.map(frame)
        except ValidationError as exc:
            raw = "".join(f"{k}: {v}\r\n" for k, v in frame.items()).encode()
            await self.pipeline.reject(exc, raw, attributes={"event": frame.get("Event", "")})
            events = []
        else:
            if not events:
                self._unmapped.inc()
        if expired:
            events = expired + events
        for event in events:
            try:  # the common case without a coroutine per event; _send handles refusals
                fut = self.pipeline.send(event)
            except BackpressureError:
                self._refused.inc()
                await self._send(event)  # waits and retries until Kafka takes it
                continue
            fut.add_done_callback(self._on_ack)
            self._pending.append((event, fut))
        while len(self._pending) >= self.window:  # stop reading until Kafka catches up
            await self._settle_oldest()

    async def _send(self, event: Prepared) -> None:
        delay = 0.05
        while True:
            try:
                fut = self.pipeline.send(event)
                fut.add_done_callback(self._on_ack)
                self._pending.append((event, fut))
                return
            except BackpressureError:  # Kafka down or full: wait, keep the event
                self._refused.inc()
                if self._pending:
                    await self._settle_oldest()
                else:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)

    def _on_ack(self, fut: asyncio.Future[int]) -> None:
        """Count acknowledgements as they come, not when the window is settled."""
        if not fut.cancelled() and fut.exception() is None:
            self.acked += 1
            self._published.inc()

    async def _settle_oldest(self) -> None:
        event, fut = self._pending[0]
        try:
            await fut
            self._pending.popleft()
        except PublishError as exc:  # delivery failed for good: hand it over again
            log.warning("phone: re-sending %s after %s", event.event_id, exc)
            self._pending.popleft()
            await asyncio.sleep(0.2)
            await self._send(event)

    async def drain(self) -> None:
        while self._pending:
            await self._settle_oldest()

    async def _expire_abandons(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            for event in self.mapper.expire():  # never raises: see CallMapper.expire
                await self._send(event)

    async def run(self, stop: asyncio.Event, *, manage_pipeline: bool = True) -> None:
        if manage_pipeline:
            await self.pipeline.start()
        else:  # a shared producer started elsewhere: our schema ids still need resolving
            await self.pipeline.load_schemas()
        expiry = asyncio.create_task(self._expire_abandons(stop))
        try:
            await self.client.run(stop)
        finally:
            await expiry
            await self.drain()
            if manage_pipeline:
                await self.pipeline.stop()
