"""Where the stages' records go: :class:`Outputs` hands them to faust's producer directly
and keeps every delivery future for the commit guard; :class:`Source` is the input record
a dead letter points back to. The stages only see the :class:`Sink` protocol, so the
unit-test engine runs them with an in-memory sink and the same code as the worker.

Commands between stages travel in *envelopes*: one record per destination partition
holding every command for that partition since the last flush (``{"v": 1, "c": [[key,
command], ...]}``, written to the partition of its keys). faust's per-message machinery
then runs once per envelope instead of once per command, and the receiving agent still
handles one record at a time, so its table writes land in that record's partition. A
plain command (the key is the record's key) is still read, for records written before.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from faust.exceptions import ProducerSendError

from backbone.errors import BackboneError, PublishError
from backbone.metrics import DEAD_LETTERS
from backbone.topics import PARTITIONS
from stream_processors import gauges, routing
from stream_processors.codec import Codecs, dumps, loads
from stream_processors.deliveries import Deliveries
from stream_processors.topology import CUSTOMER_COMMANDS, IDENTITY_COMMANDS, partition_of
from stream_processors.topology import DEAD_LETTERS as DEAD_TOPIC

log = logging.getLogger(__name__)
ENVELOPE_VERSION = 1
ENVELOPE_KEY = b"envelope"
ENVELOPE_MAX = 500  # commands buffered before a flush whatever the timer says


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

    async def command(self, out: routing.Out) -> None:
        """A command for the identity or the customer stage (may be buffered)."""

    async def dead(self, source: Source, stage: str, reason: str, exc: Exception) -> None:
        """Dead-letter the input record ``source``."""


def command_topic(out: routing.Out) -> str:
    return IDENTITY_COMMANDS if out.stage == routing.IDENTITY else CUSTOMER_COMMANDS


def commands(key: bytes | None, value: bytes | None) -> list[tuple[bytes, dict[str, Any]]]:
    """The (key, command) pairs of a command-topic record: an envelope or one command.
    Raises ``ValueError`` for anything else (the agent dead-letters the record)."""
    msg = loads(value or b"")
    if not isinstance(msg, dict):
        raise ValueError("a command record is a JSON object")  # noqa: TRY004 - dead-lettered as such
    if "kind" in msg:
        if not key:
            raise ValueError("a single command needs its key")
        return [(key, msg)]
    if msg.get("v") != ENVELOPE_VERSION or not isinstance(msg.get("c"), list):
        raise ValueError(f"unknown command envelope version {msg.get('v')!r}")
    return [(str(k).encode(), cmd) for k, cmd in msg["c"]]


def count_dead(stage: str, reason: str) -> None:
    gauges.PROCESSED.labels(stage, f"dead_letter:{reason}").inc()
    DEAD_LETTERS.labels(f"processor.{stage}", reason).inc()  # the shared SLO series


class Outputs:
    """faust's producer without its Topic.send machinery (futures, schema lookup,
    attachments), which cost more than the rest of a command's processing."""

    def __init__(self, producer: Any, names: dict[str, str], codecs: Codecs, *,
                 partitions: int = PARTITIONS) -> None:
        self._producer = producer
        self.partitions = partitions
        self._names = names
        self._codecs = codecs
        self.deliveries = Deliveries()
        # (topic name, partition) -> commands not yet sent, in order
        self._pending: dict[tuple[str, int], list[list[Any]]] = {}
        self._pending_n = 0
        self._flushing = asyncio.Lock()
        self.envelopes = 0  # sent, for the benchmarks

    async def emit(self, name: str, key: bytes, value: bytes | None) -> None:
        await self._send(self._names[name], key, value, None)

    async def _send(self, topic: str, key: bytes, value: bytes | None,
                    partition: int | None) -> asyncio.Future[Any]:
        try:
            fut = await self._producer.send(topic, key, value, partition, None, None)
        except ProducerSendError as exc:  # not taken by the producer: retry the event
            raise PublishError(f"cannot produce to {topic}: {exc}") from exc
        self.deliveries.track(fut)  # checked before every commit (at-least-once)
        return fut

    async def changelog(self, table: Any, key: bytes, value: bytes | None,
                        partition: int) -> None:
        """A changelog record of ``table`` written by the stage itself (tables.py); once
        acknowledged, its offset is the table store's persisted offset, as for faust's own
        changelog writes (RocksDB recovery resumes after it)."""
        fut = await self._send(table.changelog_topic.get_topic_name(), key, value, partition)

        def persisted(done: asyncio.Future[Any]) -> None:
            if not done.cancelled() and done.exception() is None:
                meta = done.result()
                table.data.set_persisted_offset(meta.topic_partition, meta.offset)
        fut.add_done_callback(persisted)

    async def command(self, out: routing.Out) -> None:
        dest = (command_topic(out), partition_of(out.key.encode(), self.partitions))
        self._pending.setdefault(dest, []).append([out.key, out.value])
        self._pending_n += 1
        if self._pending_n >= ENVELOPE_MAX:
            await self.flush_commands()

    async def flush_commands(self) -> None:
        """One envelope per destination partition. Runs on a short timer, when the buffer
        is full and before every commit (the commit guard), so no committed input has an
        unsent command; a destination that fails keeps its commands, in order, for the
        next flush (and the commit guard fails the commit)."""
        async with self._flushing:
            for dest in list(self._pending):
                cmds = self._pending.pop(dest)
                self._pending_n -= len(cmds)
                try:
                    await self._send(self._names[dest[0]], ENVELOPE_KEY,
                                     dumps({"v": ENVELOPE_VERSION, "c": cmds}), dest[1])
                except BaseException:
                    self._pending[dest] = cmds + self._pending.get(dest, [])
                    self._pending_n += len(cmds)
                    raise
                self.envelopes += 1

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
