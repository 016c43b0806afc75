"""An in-memory stand-in for the three processor stages, with per-key FIFO queues like
Kafka partitions give, so the whole pipeline runs in unit tests without a broker."""

from __future__ import annotations

from collections import deque
from typing import Any

from stream_processors import customer as customer_rules
from stream_processors import erasures, kpis, resolver, routing, snapshot, windows
from stream_processors import identity as ident


class Engine:
    def __init__(self, bounds: customer_rules.Bounds | None = None,
                 cfg: kpis.KpiConfig | None = None,
                 erased: erasures.ErasureLog | None = None) -> None:
        self.bounds = bounds or customer_rules.Bounds()
        self.cfg = cfg or kpis.KpiConfig()
        self.identities: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.context: dict[str, Any] = {}
        self.identity_events: list[dict[str, Any]] = []
        self.erasures: list[dict[str, Any]] = []  # customer erasures
        # The erasure log as the worker reads it back (``None``: run without it, as before).
        self.erased = erased
        self.erasure_log: dict[str, dict[str, Any]] = {}  # every record, compacted
        self.queue: deque[routing.Out] = deque()
        self.interactions: dict[str, dict[str, Any] | None] = {}

    def feed(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            memory = self.interactions.get(ev["interaction_id"])
            self.queue.extend(routing.screen(routing.plan(ev, memory), self.erased)[0])
            self.interactions[ev["interaction_id"]] = routing.remember(ev, memory)
        self.drain()

    def drain(self) -> None:
        while self.queue:
            out = self.queue.popleft()
            if out.stage == routing.IDENTITY:
                rec = ident.IdentityRecord.from_dict(self.identities.get(out.key))
                res = resolver.handle(rec, out.key, out.value, self.erased)
                for key, value in res.erasures:
                    self._log(key.decode(), value)
                self.identities[out.key] = rec.to_dict()
                self.identity_events.extend(res.identity_events)
                self.queue.extend(res.outs)
            else:
                state = self.customers.get(out.key)
                floor = self.erased.customer_floor(out.key) if self.erased and state is None \
                    else None
                if floor is not None:
                    state = customer_rules.erased_marker(floor)
                applied = customer_rules.apply(out.key, state, out.value, self.bounds)
                if applied.state is not None:
                    self.customers[out.key] = applied.state
                elif applied.changed:
                    self.customers.pop(out.key, None)
                if applied.erasure:
                    self.erasures.append(applied.erasure)
                    self._log(out.key, applied.erasure)
                self.queue.extend(applied.outs)
                if applied.changed and applied.state is not None \
                        and not out.key.startswith(("i:", "a:")):
                    st = applied.state
                    if applied.tombstone or st is None or "ev" not in st or st.get("erased_at"):
                        self.context[out.key] = None
                    else:
                        self.context[out.key] = snapshot.build(out.key, st, updated_at=0,
                                                               journey_window_ms=72 * 3_600_000)

    def _log(self, key: str, value: dict[str, Any]) -> None:
        self.erasure_log[key] = value
        if self.erased is not None:
            self.erased.note(key, value)

    def kpi_values(self) -> dict[str, dict[str, Any]]:
        """'channel|scope|window' -> values, as the KPI agent would publish them."""
        part = kpis.PartitionCounters()
        wm = 0
        for st in self.customers.values():
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
