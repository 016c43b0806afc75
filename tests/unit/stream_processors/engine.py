"""The worker's stages (``stream_processors.stages``) run in memory: the same objects the
faust app wires, with dict tables and an in-memory sink whose records are delivered
per key in FIFO order, as Kafka partitions give, so the whole pipeline runs in unit tests
without a broker. Only the Avro decode of ``interactions`` is skipped (events are dicts)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from stream_processors import customer as customer_rules
from stream_processors import erasures, kpis, windows
from stream_processors.codec import dumps, loads
from stream_processors.outputs import ENVELOPE_VERSION, Source, command_topic, commands
from stream_processors.stages.customer import CustomerStage
from stream_processors.stages.resolver import ResolverStage
from stream_processors.stages.router import RouterStage
from stream_processors.topology import (
    CUSTOMER_COMMANDS,
    CUSTOMER_CONTEXT,
    ERASURES,
    IDENTITY_COMMANDS,
    IDENTITY_EVENTS,
    partition_of,
)


class MemorySink:
    def __init__(self) -> None:
        self.queue: deque[tuple[str, bytes, bytes | None]] = deque()
        self.dead_letters: list[tuple[str, str]] = []

    async def emit(self, name: str, key: bytes, value: bytes | None) -> None:
        self.queue.append((name, key, value))

    async def command(self, out: Any) -> None:
        """One envelope per command: the worker's format, without its batching."""
        self.queue.append((command_topic(out), out.key.encode(),
                           dumps({"v": ENVELOPE_VERSION, "c": [[out.key, out.value]]})))

    async def dead(self, source: Source, stage: str, reason: str, exc: Exception) -> None:
        self.dead_letters.append((stage, reason))


class DictStore(dict):  # type: ignore[type-arg]
    """The customer stage's store without a changelog (tables.StateStore)."""

    def set(self, partition: int, key: bytes, value: Any) -> None:
        self[key] = value

    def delete(self, partition: int, key: bytes) -> None:
        self.pop(key, None)


def _str_keys(table: dict[bytes, Any]) -> dict[str, Any]:
    return {k.decode(): v for k, v in table.items()}


class Engine:
    def __init__(self, bounds: customer_rules.Bounds | None = None,
                 cfg: kpis.KpiConfig | None = None,
                 erased: erasures.ErasureLog | None = None) -> None:
        self.bounds = bounds or customer_rules.Bounds()
        self.cfg = cfg or kpis.KpiConfig()
        # The erasure log as the worker reads it back (loaded: the worker starts after it).
        self.erased = erased if erased is not None else erasures.ErasureLog()
        self.erased.ready.set()
        self.sink = MemorySink()
        self._identities: dict[bytes, Any] = {}
        self._customers = DictStore()
        self.memory: dict[bytes, Any] = {}
        self.router = RouterStage(self.memory, None, self.erased, self.sink)  # type: ignore[arg-type]  # no Avro here
        self.resolver = ResolverStage(self._identities, self.erased, self.sink)
        self.customer = CustomerStage(self._customers, self.erased, self.sink,
                                      bounds=self.bounds, cfg=self.cfg,
                                      journey_window_ms=72 * 3_600_000, clock=lambda: 0.0)
        self.context: dict[str, Any] = {}
        self.identity_events: list[dict[str, Any]] = []
        self.erasures: list[dict[str, Any]] = []  # customer erasures
        self.erasure_log: dict[str, dict[str, Any]] = {}  # every record, compacted
        self._offset = 0

    @property
    def identities(self) -> dict[str, Any]:
        return _str_keys(self._identities)

    @property
    def customers(self) -> dict[str, Any]:
        return _str_keys(self._customers)

    def feed(self, events: list[dict[str, Any]]) -> None:
        asyncio.run(self._feed(events))

    async def _feed(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            for out in self.router.route(partition_of(str(ev["interaction_id"]).encode()), ev):
                await self.sink.command(out)
        await self._drain()

    async def _drain(self) -> None:
        while self.sink.queue:
            while self.sink.queue:
                await self._deliver(*self.sink.queue.popleft())
            await self.customer.flush_context()  # the timer / commit guard does this

    async def _deliver(self, name: str, key: bytes, value: bytes | None) -> None:
        self._offset += 1
        source = Source(name, partition_of(key), self._offset, value)
        if name == IDENTITY_COMMANDS:
            for ckey, cmd in commands(key, value):
                res = await self.resolver.decide(ckey, cmd)
                await self.resolver.publish(ckey, res)
        elif name == CUSTOMER_COMMANDS:
            for ckey, cmd in commands(key, value):
                applied = await self.customer.apply(source.partition, ckey, cmd)
                await self.customer.publish(ckey, applied)
        elif name == CUSTOMER_CONTEXT:
            self.context[key.decode()] = loads(value) if value is not None else None
        elif name == IDENTITY_EVENTS:
            self.identity_events.append(loads(value or b""))
        elif name == ERASURES:
            rec = loads(value or b"")
            self.erasure_log[key.decode()] = rec
            if "erased_at" in rec and key.startswith((b"c:", b"p:")):
                self.erasures.append(rec)

    def kpi_values(self) -> dict[str, dict[str, Any]]:
        """'channel|scope|window' -> values, as the KPI agent would publish them."""
        part = kpis.PartitionCounters()
        wm = 0
        for st in self._customers.values():
            part.apply({}, kpis.facts(st, self.cfg))
            wm = max(wm, st.get("now", 0))
        out: dict[str, dict[str, Any]] = {}
        for scope in part.dirty:
            values = windows.compute([part.scope_partial(scope, 0)], wm, self.cfg)
            for window, vals in values.items():
                out[f"{scope}|{window}"] = vals
            for window, rec in windows.intervals([part.scope_partial(scope, 0)], 0,
                                                 self.cfg).items():
                out[f"{scope}|{window}"] = rec["values"]
        return out
