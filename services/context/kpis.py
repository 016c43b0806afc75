"""KPI snapshots from the compacted ``kpis`` topic (key ``channel|scope|window``).

The stream processors own the formulas (docs/kpis.md); this view only keeps the latest
value per key: trailing windows ("15m") and clock-aligned reporting intervals
("30m@<start_ms>"). Values may be plain numbers or ``{"value", "numerator", "denominator"}``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from confluent_kafka import Message

from backbone.context.v1 import context_pb2 as pb
from services.context.mapping import CHANNEL_NAMES, channel, ms

log = logging.getLogger(__name__)
META = frozenset({"channel", "scope", "window", "window_start", "window_end", "interval",
                  "updated_at", "as_of", "values"})


class KpiView:
    def __init__(self) -> None:
        self._snapshots: dict[str, pb.KpiSnapshot] = {}

    def apply_batch(self, messages: list[Message]) -> None:
        for msg in messages:
            key = (msg.key() or b"").decode("utf-8", "replace")
            value = msg.value()
            if not value:
                self._snapshots.pop(key, None)
                continue
            try:
                self._snapshots[key] = self._snapshot(key, json.loads(value))
            except (ValueError, TypeError, AttributeError):
                log.warning("unreadable KPI snapshot %r", key)

    @staticmethod
    def _snapshot(key: str, data: dict[str, Any]) -> pb.KpiSnapshot:
        parts = (key.split("|") + ["", "", ""])[:3]
        values = dict(data.get("values") or {})
        values.update({k: v for k, v in data.items()
                       if k not in META and isinstance(v, int | float | dict)})
        out = []
        for name, v in sorted(values.items()):
            if isinstance(v, dict):
                out.append(pb.KpiValue(name=name, value=float(v.get("value") or 0.0),
                                       numerator=float(v.get("numerator") or 0.0),
                                       denominator=float(v.get("denominator") or 0.0)))
            elif isinstance(v, int | float) and not isinstance(v, bool):
                out.append(pb.KpiValue(name=name, value=float(v)))
        return pb.KpiSnapshot(
            channel=channel(data.get("channel", parts[0])), scope=str(data.get("scope", parts[1])),
            window=str(data.get("window", parts[2])), window_start_ms=ms(data.get("window_start")),
            updated_at_ms=ms(data.get("as_of", data.get("updated_at"))), values=out,
            window_end_ms=ms(data.get("window_end")), interval=str(data.get("interval") or ""))

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
