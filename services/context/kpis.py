"""KPI snapshots from the compacted ``kpis`` topic (key ``channel|scope|window``).

The stream processors own the formulas (docs/kpis.md); this view only keeps the latest
value per key: trailing windows ("15m") and clock-aligned reporting intervals
("30m@<start_ms>"). A record is ``{channel, scope, window, window_start, as_of, values}``
(intervals add ``interval`` and ``window_end``); KPIs are read from ``values`` only, so a
new top-level field can never show up as a KPI (``as_of`` once did), and ``as_of`` is the
snapshot's time (the reader once looked for ``updated_at``, so it was always 0). Values are
numbers or ``{"value", "numerator", "denominator"}``.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from confluent_kafka import Message

from backbone.context.v1 import context_pb2 as pb
from services.context.mapping import CHANNEL_NAMES, channel

log = logging.getLogger(__name__)


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
                self._snapshots[key] = self._snapshot(key, orjson.loads(value))
            except (ValueError, TypeError, AttributeError):
                log.warning("unreadable KPI snapshot %r", key)

    @staticmethod
    def _value(name: str, v: Any) -> pb.KpiValue | None:
        if isinstance(v, dict):
            return pb.KpiValue(name=name, value=float(v.get("value") or 0.0),
                               numerator=float(v.get("numerator") or 0.0),
                               denominator=float(v.get("denominator") or 0.0))
        if isinstance(v, int | float) and not isinstance(v, bool):
            return pb.KpiValue(name=name, value=float(v))
        return None

    @classmethod
    def _snapshot(cls, key: str, data: dict[str, Any]) -> pb.KpiSnapshot:
        parts = (key.split("|") + ["", "", ""])[:3]
        values = [cls._value(name, v) for name, v in sorted((data.get("values") or {}).items())]
        return pb.KpiSnapshot(
            channel=channel(data.get("channel", parts[0])), scope=str(data.get("scope", parts[1])),
            window=str(data.get("window", parts[2])),
            window_start_ms=int(data.get("window_start") or 0),
            updated_at_ms=int(data.get("as_of") or 0), values=[v for v in values if v],
            window_end_ms=int(data.get("window_end") or 0),
            interval=str(data.get("interval") or ""))

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
