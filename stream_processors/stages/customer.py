"""The customer stage: customer commands in (keyed by customer id), the customer state in its
table, coalesced context snapshots and KPI partials out.

Derived outputs are computed per dirty key, not per command: a customer touched by five
commands within a flush interval gets one snapshot and one KPI-facts computation. The
partition counters (sums of every customer's KPI facts) are a cache of the table, rebuilt
after each recovery.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

from backbone.topics import PARTITIONS
from stream_processors import customer as rules
from stream_processors import erasures, gauges, kpis, snapshot
from stream_processors import identity as ident
from stream_processors.codec import dumps
from stream_processors.outputs import Sink
from stream_processors.tables import StateStore
from stream_processors.topology import CUSTOMER_CONTEXT, ERASURES, KPI_PARTIALS, partition_of

_NO_CONTEXT = (ident.UNATTRIBUTED_PREFIX, ident.AMBIGUOUS_PREFIX)


class CustomerStage:
    def __init__(self, customers: StateStore, erased: erasures.ErasureLog,
                 sink: Sink, *, bounds: rules.Bounds, cfg: kpis.KpiConfig,
                 journey_window_ms: int, partitions: int = PARTITIONS,
                 clock: Callable[[], float] = time.time) -> None:
        self.partitions = partitions
        self.customers = customers
        self.erased = erased
        self.sink = sink
        self.bounds = bounds
        self.cfg = cfg
        self.journey_window_ms = journey_window_ms
        self.clock = clock
        # Invariant after ``refresh_facts``: counters[p] == sum of facts of p's customers.
        self.counters: dict[int, kpis.PartitionCounters] = {}
        self.facts: dict[bytes, kpis.Facts] = {}
        self.dirty_facts: dict[bytes, int] = {}  # key -> its source partition
        # key -> (customer id, state, tombstone): the latest snapshot to publish
        self.pending_context: dict[bytes, tuple[str, dict[str, Any] | None, bool]] = {}
        self.rebuild_needed = True

    async def apply(self, partition: int, key: bytes, cmd: dict[str, Any]) -> rules.Applied:
        """Apply one command to its customer's state (stored at once, so a retried emit
        below cannot apply it twice); ``partition``: the record's, which holds the key."""
        cid = key.decode()
        if not self.erased.ready.is_set():
            await self.erased.ready.wait()
        old = self.customers.get(key)
        floor = self.erased.customer_floor(cid) if old is None else None
        applied = rules.apply(  # a rebuild without the row: start erased
            cid, old if floor is None else rules.erased_marker(floor), cmd, self.bounds)
        if applied.changed:
            if applied.state is not None:
                self.customers.set(partition, key, applied.state)
            else:
                self.customers.delete(partition, key)
            self.dirty_facts[key] = partition
        # Re-publish on duplicates too: a replay after a crash may be the only chance to
        # publish a snapshot whose state reached the changelog before the crash.
        if (applied.changed or applied.dropped == "duplicate") and not cid.startswith(_NO_CONTEXT):
            self.pending_context[key] = (cid, applied.state, applied.tombstone)
        gauges.processed("customer", applied.dropped or "ok").inc()
        return applied

    async def publish(self, key: bytes, applied: rules.Applied) -> None:
        """The commands and erasure record a state change sends on (idempotent)."""
        for out in applied.outs:
            await self.sink.command(out)
        if applied.erasure is not None:
            self.erased.note(key.decode(), applied.erasure)
            await self.sink.emit(ERASURES, key, dumps(applied.erasure))

    async def flush_context(self) -> None:
        """Publish the latest snapshot (or tombstone) of every customer changed since the
        last flush. Taken as a whole before awaiting: the agent may add keys meanwhile."""
        if not self.pending_context:
            return
        batch = list(self.pending_context.items())
        self.pending_context.clear()
        now = int(self.clock() * 1000)
        for kb, (cid, state, tombstone) in batch:
            if tombstone or state is None or "ev" not in state or state.get("erased_at"):
                await self.sink.emit(CUSTOMER_CONTEXT, kb, None)
                continue
            snap = snapshot.build(cid, state, updated_at=now,
                                  journey_window_ms=self.journey_window_ms)
            await self.sink.emit(CUSTOMER_CONTEXT, kb, dumps(snap))

    def _counted(self, partition: int, key: bytes, state: dict[str, Any] | None) -> None:
        part = self.counters.setdefault(partition, kpis.PartitionCounters())
        new = kpis.facts(state, self.cfg)
        part.apply(self.facts.get(key) or {}, new)
        if new:
            self.facts[key] = new
        else:
            self.facts.pop(key, None)
        if state:
            part.watermark = max(part.watermark, state.get("now", 0))

    def refresh_facts(self) -> None:
        """KPI facts of every customer changed since the last refresh, once each."""
        dirty, self.dirty_facts = self.dirty_facts, {}
        for key, partition in dirty.items():
            self._counted(partition, key, self.customers.get(key))

    def rebuild(self) -> None:
        """Recompute the counters from the (just recovered, complete) table."""
        self.counters.clear()
        self.facts.clear()
        self.dirty_facts.clear()
        for key, state in self.customers.items():
            self._counted(partition_of(key, self.partitions), key, state)
        self.rebuild_needed = False

    async def publish_partials(self, assigned: Collection[int]) -> None:
        """Every dirty scope of each assigned partition: its whole counters (idempotent)."""
        self.refresh_facts()
        for p, part in list(self.counters.items()):
            if p not in assigned:
                continue
            horizon = part.watermark - 2 * kpis.DAY_MS
            # Take the dirty set before awaiting: the agent may dirty scopes meanwhile.
            scopes, part.dirty = sorted(part.dirty), set()
            for scope in scopes:
                await self.sink.emit(KPI_PARTIALS, scope.encode(), dumps({
                    "p": p, "wm": part.watermark, "b": part.scope_partial(scope, horizon)}))
