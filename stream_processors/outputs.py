"""Where the stages' records go: :class:`Outputs` hands them to faust's producer directly
and keeps every delivery future for the commit guard; :class:`Source` is the input record
a dead letter points back to. The stages only see the :class:`Sink` protocol, so the
unit-test engine runs them with an in-memory sink and the same code as the worker."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from faust.exceptions import ProducerSendError

from backbone.errors import BackboneError, PublishError
from backbone.metrics import DEAD_LETTERS
from stream_processors import gauges, routing
from stream_processors.codec import Codecs, dumps
from stream_processors.deliveries import Deliveries
from stream_processors.topology import CUSTOMER_COMMANDS, IDENTITY_COMMANDS
from stream_processors.topology import DEAD_LETTERS as DEAD_TOPIC

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Source:
    """The input record being handled (for dead letters and table partitions)."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


class Sink(Protocol):
    async def emit(self, name: str, key: bytes, value: bytes | None) -> None:
        """Produce ``value`` under ``key`` to the logical output topic ``name``."""

    async def dead(self, source: Source, stage: str, reason: str, exc: Exception) -> None:
        """Dead-letter the input record ``source``."""


async def send(sink: Sink, out: routing.Out) -> None:
    """A command for the identity or the customer stage."""
    name = IDENTITY_COMMANDS if out.stage == routing.IDENTITY else CUSTOMER_COMMANDS
    await sink.emit(name, out.key.encode(), dumps(out.value))


def count_dead(stage: str, reason: str) -> None:
    gauges.PROCESSED.labels(stage, f"dead_letter:{reason}").inc()
    DEAD_LETTERS.labels(f"processor.{stage}", reason).inc()  # the shared SLO series


class Outputs:
    """faust's producer without its Topic.send machinery (futures, schema lookup,
    attachments), which cost more than the rest of a command's processing."""

    def __init__(self, producer: Any, names: dict[str, str], codecs: Codecs) -> None:
        self._producer = producer
        self._names = names
        self._codecs = codecs
        self.deliveries = Deliveries()

    async def emit(self, name: str, key: bytes, value: bytes | None) -> None:
        topic = self._names[name]
        try:
            fut = await self._producer.send(topic, key, value, None, None, None)
        except ProducerSendError as exc:  # not taken by the producer: retry the event
            raise PublishError(f"cannot produce to {topic}: {exc}") from exc
        self.deliveries.track(fut)  # checked before every commit (at-least-once)

    async def dead(self, source: Source, stage: str, reason: str, exc: Exception) -> None:
        count_dead(stage, reason)
        topic = self._names[DEAD_TOPIC]
        try:
            value = await self._codecs.dead_letter(  # waits out a registry outage (codec.py)
                topic, source=f"processor.{stage}", reason=reason, raw=source.value,
                detail=str(exc), topic=source.topic, partition=source.partition,
                offset=source.offset)
        except BackboneError:
            log.exception("cannot encode dead letter for %s:%s", source.topic, source.offset)
            return
        await self.emit(DEAD_TOPIC, f"processor.{stage}".encode(), value)
