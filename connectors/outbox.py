"""Events handed to Kafka in file order, re-sent in place until acknowledged (queue_log)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from backbone.errors import BackpressureError
from connectors import metrics as m
from connectors.base import Pipeline
from connectors.records import Prepared

log = logging.getLogger(__name__)


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep up to ``seconds``, waking at once when ``stop`` is set (shutdown is not delayed)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class Outbox:
    """Events handed to Kafka, oldest first, each with the file offset of its line.

    PhoneConnector's send/settle pattern, plus what a checkpoint needs: an event Kafka
    failed is handed over again *in place*, so the oldest entry is always the oldest
    unacknowledged line. Futures are never awaited directly (a cancelled wait would cancel
    the delivery future).
    """

    def __init__(self, pipeline: Pipeline, on_ack: Callable[[asyncio.Future[int]], None],
                 window: int = 5_000):
        self.pipeline = pipeline
        self.window = window
        self.pending: deque[tuple[Prepared, asyncio.Future[int], int]] = deque()
        self._on_ack = on_ack
        self._refused = m.REFUSED.labels(pipeline.name)

    @property
    def oldest(self) -> int | None:
        return self.pending[0][2] if self.pending else None

    async def _hand_over(self, event: Prepared,
                         stop: asyncio.Event) -> asyncio.Future[int] | None:
        """Kafka has the event (future returned), or ``stop`` came while it was refused."""
        delay = 0.05
        while True:
            try:
                fut = self.pipeline.send(event)
            except BackpressureError:  # Kafka down or full: wait, keep the event
                self._refused.inc()
                if stop.is_set():
                    return None
                await pause(stop, delay)
                delay = min(delay * 2, 2.0)
                continue
            fut.add_done_callback(self._on_ack)
            return fut

    async def send(self, event: Prepared, offset: int, stop: asyncio.Event) -> bool:
        fut = await self._hand_over(event, stop)
        if fut is None:
            return False
        self.pending.append((event, fut, offset))
        return True

    async def settle(self, stop: asyncio.Event, timeout_s: float | None = 0.0) -> bool:
        """Forget acknowledged events from the oldest on, re-sending failed ones; waits up to
        ``timeout_s`` for the oldest. False when a failed one could not be re-sent (stop)."""
        if self.pending and timeout_s != 0.0:
            await asyncio.wait((self.pending[0][1],), timeout=timeout_s)
        while self.pending and self.pending[0][1].done():
            event, fut, offset = self.pending[0]
            if fut.cancelled() or fut.exception() is not None:
                log.warning("%s: re-sending %s after %s", self.pipeline.name, event.event_id,
                            "cancellation" if fut.cancelled() else fut.exception())
                again = await self._hand_over(event, stop)
                if again is None:
                    return False
                self.pending[0] = (event, again, offset)
            else:
                self.pending.popleft()
        return True

    async def drain(self, stop: asyncio.Event) -> bool:
        """Wait until Kafka acknowledged everything; False when ``stop`` came first."""
        while self.pending:
            if stop.is_set() or not await self.settle(stop, 0.5):
                return False
        return True
