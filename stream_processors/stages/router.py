"""The router stage: an interaction event (or a handoff) in, identity and customer commands
out. It keeps a short memory per interaction (``routing.remember``) in a table keyed like
its source topic, and expires entries MEMORY_TTL_MS of event time after their last change.
"""

from __future__ import annotations

from collections import deque
from collections.abc import MutableMapping
from typing import Any

from backbone.errors import BackboneError
from backbone.topics import PARTITIONS
from stream_processors import erasures, gauges, routing
from stream_processors.codec import Codecs
from stream_processors.outputs import Sink, Source
from stream_processors.topology import partition_of


class RouterStage:
    def __init__(self, memory: MutableMapping[bytes, Any], codecs: Codecs,
                 erased: erasures.ErasureLog, sink: Sink, *, partitions: int = PARTITIONS) -> None:
        self.memory = memory
        self.partitions = partitions
        self.codecs = codecs
        self.erased = erased
        self.sink = sink
        self._fifo: dict[int, deque[tuple[int, bytes]]] = {}  # per partition, by time
        self._watermark: dict[int, int] = {}

    def recovered(self) -> None:
        """The memory table was restored: rebuild the expiry order from it."""
        self._fifo.clear()
        for key, value in sorted(self.memory.items(), key=lambda kv: int(kv[1].get("t", 0))):
            self._fifo.setdefault(partition_of(key, self.partitions), deque()).append((int(value["t"]), key))

    def remember(self, partition: int, record: dict[str, Any],
                 memory: dict[str, Any] | None, outs: list[routing.Out]) -> None:
        """Store the interaction's new memory and expire old entries of this partition
        (inside the event's context: the changelog partition is the source partition)."""
        key = str(record["interaction_id"]).encode()
        new = routing.remember(record, memory, outs)
        fifo = self._fifo.setdefault(partition, deque())
        if new is not memory and new is not None:
            self.memory[key] = new
            fifo.append((int(new["t"]), key))
        wm = self._watermark[partition] = max(self._watermark.get(partition, 0),
                                              int(record["occurred_at"]))
        horizon = wm - routing.MEMORY_TTL_MS
        while fifo and fifo[0][0] < horizon:
            t, old = fifo.popleft()
            current = self.memory.get(old)
            if current is not None and int(current.get("t", 0)) <= t:
                del self.memory[old]

    def _unerased(self, stage: str, outs: list[routing.Out]) -> list[routing.Out]:
        kept, dropped = routing.screen(outs, self.erased)
        if dropped:
            gauges.processed(stage, "erased").inc(dropped)
        return kept

    async def plan(self, source: Source, key: bytes | None,
                   stage: str = "router") -> list[routing.Out]:
        """Decode the event and decide its commands (and update the memory); poison is
        dead-lettered and gives no command. Retriable errors propagate: the caller retries
        this same record and never acknowledges it meanwhile."""
        if not self.erased.ready.is_set():
            await self.erased.ready.wait()
        try:  # a registry outage waits and retries this message inside (codec.py)
            record = await self.codecs.decode_event(source.topic, source.value)
        except BackboneError as exc:
            if exc.retriable:
                raise  # not raised by decode_event; never dead-letter good data
            await self.sink.dead(source, stage, exc.code, exc)
            return []
        try:
            if stage == "handoffs":
                return await self._handoff(source, key, record)
            return self.route(source.partition, record)
        except (BackboneError, KeyError, TypeError, ValueError) as exc:
            await self.sink.dead(source, stage, getattr(exc, "code", "unroutable"), exc)
            return []

    def route(self, partition: int, record: dict[str, Any]) -> list[routing.Out]:
        """The commands of one decoded interaction event (and its memory updated)."""
        ikey = str(record["interaction_id"]).encode()
        memory = self.memory.get(ikey)
        planned = routing.plan(record, memory)
        self.remember(partition, record, memory, planned)
        return self._unerased("router", planned)

    async def _handoff(self, source: Source, key: bytes | None,
                       record: dict[str, Any]) -> list[routing.Out]:
        cid = (record.get("attributes") or {}).get("customer_id") or (key or b"").decode()
        if not cid:
            await self.sink.dead(source, "handoffs", "no_customer",
                                 ValueError("handoff without customer id"))
            return []
        return self._unerased("handoffs", [routing.Out(routing.CUSTOMER, cid, {
            "kind": "event", "event": record, "identities": []})])
