"""KPI snapshots from the compacted ``kpis`` topic (key ``channel|scope|window``).

The stream processors own the formulas (docs/kpis.md); this view only keeps the latest
record per key: trailing windows ("15m") and clock-aligned reporting intervals
("30m@<start_ms>"). Records follow schemas/json/kpi/v1.json (backbone/kpi_record.py);
one that does not is skipped, counted and logged, and the key keeps its last good
snapshot. An empty value (a tombstone) deletes the key.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Message

from backbone import kpi_record
from backbone.context.v1 import context_pb2 as pb
from backbone.errors import ValidationError
from services.context.mapping import CHANNEL_NAMES, channel

log = logging.getLogger(__name__)


class KpiView:
    def __init__(self) -> None:
        self._snapshots: dict[str, pb.KpiSnapshot] = {}
        self.rejected = 0

    def apply_batch(self, messages: list[Message]) -> None:
        for msg in messages:
            key = (msg.key() or b"").decode("utf-8", "replace")
            value = msg.value()
            if not value:
                self._snapshots.pop(key, None)
                continue
            try:
                record = kpi_record.parse(value)
            except ValidationError as exc:
                self.rejected += 1
                log.warning("KPI record %r at %s[%s]@%s skipped: %s", key, msg.topic(),
                            msg.partition(), msg.offset(), exc)
                continue
            self._snapshots[key] = self._snapshot(record)

    @staticmethod
    def _snapshot(record: dict[str, Any]) -> pb.KpiSnapshot:
        return pb.KpiSnapshot(
            channel=channel(record["channel"]), scope=record["scope"], window=record["window"],
            window_start_ms=record["window_start"], updated_at_ms=record["as_of"],
            values=[pb.KpiValue(name=name, value=float(v))
                    for name, v in sorted(record["values"].items())],
            window_end_ms=record.get("window_end", 0), interval=record.get("interval", ""))

    def query(self, channels: set[int], scope: str, window: str) -> list[pb.KpiSnapshot]:
        """Trailing windows (all of them, or the one named); intervals only by their name."""
        wanted = {c for c in channels if c in CHANNEL_NAMES}
        return [s for _, s in sorted(self._snapshots.items())
                if (not wanted or s.channel in wanted) and (not scope or s.scope == scope)
                and (s.window == window if window else not s.interval)]

    def intervals(self, channels: set[int], scope: str, interval: str, start: int,
                  end: int) -> list[pb.KpiSnapshot]:
        """Reporting intervals of one size starting in ``[start, end)``."""
        wanted = {c for c in channels if c in CHANNEL_NAMES}
        found = [s for s in self._snapshots.values()
                 if s.interval == interval and start <= s.window_start_ms < end
                 and (not wanted or s.channel in wanted) and (not scope or s.scope == scope)]
        return sorted(found, key=lambda s: (s.channel, s.scope, s.window_start_ms))
