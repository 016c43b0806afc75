"""The KPI stage: partials in (the whole counters of one source partition for one
``channel|scope``), KPI values per trailing window and per clock interval, and alert
transitions out.

The view (latest partial per source partition, per scope) is kept in memory, not in a
table: every owner of customer partitions re-sends all of its scopes after each
rebalance/recovery (``CustomerStage.rebuild`` marks them dirty), so the view is rebuilt
from the log. As a table it cost a changelog write of every scope's full view per partial.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backbone import alert_record, kpi_record
from backbone.models import now_ms
from stream_processors import alerts as alert_rules
from stream_processors import gauges, kpis, windows
from stream_processors.alert_state import AlertTracker
from stream_processors.codec import dumps, loads
from stream_processors.outputs import Sink
from stream_processors.topology import ALERTS, KPIS

INTERVAL_CACHE_MAX = 50_000


class KpiStage:
    def __init__(self, sink: Sink, cfg: kpis.KpiConfig,
                 alerts: alert_rules.AlertConfig | None = None,
                 clock: Callable[[], int] = now_ms) -> None:
        self.sink = sink
        self.cfg = cfg
        self.clock = clock  # alerts judge the time that passes, not only new traffic
        self.alerts = AlertTracker(alerts or alert_rules.AlertConfig())
        self.view: dict[bytes, dict[str, Any]] = {}
        self.dirty: set[bytes] = set()
        # Last published values per interval key, and each key's start (to forget old ones).
        self.interval_cache: dict[bytes, tuple[int, dict[str, Any]]] = {}
        self._published: dict[str, set[bytes]] = {}  # scope -> its interval keys in the cache

    def take(self, key: bytes, value: bytes) -> None:
        msg = loads(value)
        self.view.setdefault(key, {})[f"p{msg['p']}"] = {"wm": msg["wm"], "b": msg["b"]}
        self.dirty.add(key)

    async def flush(self) -> None:
        """Values, intervals and alerts of every scope dirtied since the last flush."""
        if not self.dirty:
            return
        scopes = sorted(self.dirty)
        self.dirty.clear()
        self._forget_old_intervals()
        for kb in scopes:
            view = self.view.get(kb)
            if view:
                await self._scope(kb, [v for k, v in view.items() if k.startswith("p")])

    def _forget_old_intervals(self) -> None:
        cache = self.interval_cache
        if len(cache) > INTERVAL_CACHE_MAX:  # intervals older than yesterday are final
            horizon = min(start for start, _ in cache.values()) + kpis.DAY_MS
            for key in [k for k, (start, _) in cache.items() if start < horizon]:
                del cache[key]
                self._published.get(key.decode().rsplit("|", 1)[0], set()).discard(key)

    async def _scope(self, kb: bytes, parts: list[dict[str, Any]]) -> None:
        scope_key = kb.decode()
        cfg = self.cfg
        now = max(v["wm"] for v in parts)
        buckets = [v["b"] for v in parts]
        values = windows.compute(buckets, now, cfg)
        channel, scope = scope_key.split("|", 1)
        starts = windows.window_starts(now, cfg)
        for window, vals in values.items():
            await self.sink.emit(KPIS, kpi_record.key(channel, scope, window),
                                 dumps(kpi_record.window_record(
                                     channel, scope, window, window_start=starts[window],
                                     as_of=now, values=vals)))
            gauges.publish(channel, scope, window, vals)
        # Clock-aligned intervals of today and yesterday: only those that changed.
        since = windows.business_day_start(now, cfg, days_back=1)
        published = self._published.setdefault(scope_key, set())
        current = set()
        for window, rec in windows.intervals(buckets, since, cfg).items():
            ikey = kpi_record.key(channel, scope, window)
            current.add(ikey)
            if (self.interval_cache.get(ikey) or (0, None))[1] == rec["values"]:
                continue
            self.interval_cache[ikey] = (rec["window_start"], rec["values"])
            published.add(ikey)
            await self.sink.emit(KPIS, ikey, dumps(kpi_record.interval_record(
                channel, scope, rec["interval"], window_start=rec["window_start"],
                window_end=rec["window_end"], as_of=now, values=rec["values"])))
        # An interval whose data has all moved away (a wrap-up's contact claimed by its
        # call, two customers merged) has nothing left to report: its record is deleted.
        for ikey in published - current:
            start, _ = self.interval_cache.pop(ikey, (0, None))
            published.discard(ikey)
            if start >= since:
                await self.sink.emit(KPIS, ikey, None)
        await self._alerts(scope_key, buckets, max(now, self.clock()))

    async def evaluate_alerts(self) -> None:
        """Every scope's early warnings at the clock's time (the timer): a quiet queue
        gets no partials, yet its alerts must still fire or clear as time passes."""
        now = self.clock()
        for kb, view in list(self.view.items()):
            await self._alerts(kb.decode(), [v["b"] for k, v in view.items()
                                             if k.startswith("p")], now)

    async def _alerts(self, scope_key: str, buckets: list[dict[str, Any]], now: int) -> None:
        channel, scope = scope_key.split("|", 1)
        readings = alert_rules.evaluate(channel, scope, buckets, now, self.alerts.cfg)
        for record in self.alerts.step(scope_key, readings, now):
            await self.sink.emit(ALERTS, alert_record.key(record["alert"], channel, scope),
                                 dumps(record))
