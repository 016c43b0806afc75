"""At-least-once for a worker: no input offset is committed before every record produced for
it is in Kafka, and an event that hit a retriable error is never acknowledged.

faust commits an offset once the event is acked (the agent moved on) and the producer was
flushed; it never looks at the delivery futures of records sent with ``producer.send``.
:class:`Deliveries` keeps them and :meth:`Deliveries.check` runs after the flush before each
commit: a failed delivery raises, the commit does not happen, and the caller crashes the
worker so it restarts from the last good offset (outputs are idempotent: the customer state
dedupes by event id, snapshots and KPIs are keyed, compacted values).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from backbone.errors import BackboneError, PublishError

log = logging.getLogger(__name__)
RETRY_ATTEMPTS = 6  # backoff 0.1 .. 3.2 s: ~6 s in all before the worker gives up
RETRY_BASE_S = 0.1
_crashing: set[asyncio.Future[None]] = set()  # keeps scheduled crashes alive


class Deliveries:
    """Delivery futures of the records produced since the last check.

    Bounded: futures that already succeeded are dropped from the head as new ones come, so
    the deque holds what is in flight (the producer's buffer bounds that). A failure is
    sticky: once a record is lost no later commit is safe, until the worker restarts.
    """

    def __init__(self) -> None:
        self._futures: deque[asyncio.Future[Any]] = deque()
        self.failure: BaseException | None = None

    def __len__(self) -> int:
        return len(self._futures)

    def track(self, fut: asyncio.Future[Any]) -> None:
        futures = self._futures
        futures.append(fut)
        while futures and futures[0].done():
            self._settled(futures.popleft())

    def _settled(self, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():
            failure: BaseException | None = asyncio.CancelledError("delivery cancelled")
        else:
            failure = fut.exception()  # retrieved, so asyncio does not warn about it
        if self.failure is None:
            self.failure = failure

    async def check(self) -> None:
        """Wait for every tracked delivery; raise :class:`PublishError` if any failed."""
        futures = self._futures
        while futures:
            fut = futures[0]
            try:
                await fut
            except asyncio.CancelledError:
                if not fut.cancelled():
                    raise  # we are being cancelled, not the delivery: keep it tracked
            except Exception:  # noqa: BLE001, S110 - recorded by _settled below
                pass
            futures.popleft()
            self._settled(fut)
        if self.failure is not None:
            raise PublishError(f"a produced record was not delivered: {self.failure!r}",
                               code="delivery_failed") from self.failure


def hold(event: faust.EventT) -> None:
    """Make faust's ack of ``event`` a no-op, so its offset can never be committed and the
    event is redelivered after the restart (faust acks the current event when its stream
    is closed or the agent moves on, even after a crash)."""
    event.message.acked = True


async def never_ack_on_retry(app: faust.App, event: faust.EventT,
                             step: Callable[[], Awaitable[None]], *,
                             attempts: int = RETRY_ATTEMPTS,
                             base_s: float = RETRY_BASE_S) -> None:
    """Run ``step`` for ``event``; on a retriable :class:`BackboneError` retry it with
    backoff. When the retries are used up (or the agent is cancelled while waiting), the
    event is held unacked and the worker crashes, so it restarts from the last committed
    offset; the agent waits here for the shutdown rather than move on to the next event.
    Non-retriable errors propagate unchanged (the agents dead-letter those themselves)."""
    delay = base_s
    for attempt in range(1, attempts + 1):
        try:
            await step()
            return
        except BackboneError as exc:
            if not exc.retriable:
                raise
            last = exc
            log.warning("retriable error on %s:%s (attempt %d/%d): %s", event.message.topic,
                        event.message.offset, attempt, attempts, exc)
        if attempt < attempts:
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                hold(event)  # a rebalance or stop: the event must come back, and the
                if not app.should_stop:  # agent must not restart past it: restart all
                    crash = asyncio.ensure_future(app.crash(last))
                    _crashing.add(crash)
                    crash.add_done_callback(_crashing.discard)
                raise
            delay *= 2
    hold(event)
    log.error("giving up on %s:%s after %d attempts: crashing the worker",
              event.message.topic, event.message.offset, attempts)
    await app.crash(last)
    await asyncio.Event().wait()  # until the worker's shutdown cancels the agent
