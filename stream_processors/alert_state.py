"""When an early warning fires and clears: a condition must hold for ``for_min`` before it
fires (counts such as overdue complaints fire at once), and a firing alert clears only
once its value is back past the hysteresis band, or there is no data any more.

State per (``channel|scope``, alert) lives in memory: after a restart the first
evaluation fires what is breached again (the wallboard and Alertmanager key alerts by
name, channel and scope, so a repeated "firing" changes nothing there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge

from backbone import alert_record
from stream_processors.alerts import AlertConfig, Reading
from stream_processors.kpis import MINUTE_MS

ACTIVE = Gauge("ccb_alert_active", "1 while an early warning is firing (docs/alerts.md).",
               ["alert", "channel", "scope", "severity"])
TRANSITIONS = Counter("ccb_alert_transitions_total",
                      "Early-warning transitions written to ccb.alerts.", ["alert", "state"])


@dataclass(slots=True)
class Track:
    since: int           # when the condition started (pending) or the alert fired
    firing: bool = False
    severity: str = "warning"


class AlertTracker:
    def __init__(self, cfg: AlertConfig) -> None:
        self.cfg = cfg
        self.tracks: dict[tuple[str, str], Track] = {}

    def firing(self) -> list[tuple[str, str]]:
        return sorted(k for k, t in self.tracks.items() if t.firing)

    def step(self, scope_key: str, readings: Mapping[str, Reading],
             now: int) -> list[dict[str, Any]]:
        """The transitions (alert records) of one scope evaluated at ``now``."""
        channel, scope = scope_key.split("|", 1)
        out: list[dict[str, Any]] = []
        names = set(readings) | {n for (s, n) in self.tracks if s == scope_key}
        for name in sorted(names):
            reading = readings.get(name)
            track = self.tracks.get((scope_key, name))
            if reading is not None and reading.breach:
                if track is None:
                    track = self.tracks[(scope_key, name)] = Track(now)
                hold = 0 if reading.immediate else int(self.cfg.for_min * MINUTE_MS)
                if not track.firing and now - track.since >= hold:
                    track.firing, track.severity = True, reading.severity
                    out.append(self._record(name, channel, scope, "firing", now,
                                            track.since, reading))
                continue
            if track is None:
                continue
            if not track.firing:  # pending, the condition went away before it fired
                del self.tracks[(scope_key, name)]
            elif reading is None or reading.recovered:
                del self.tracks[(scope_key, name)]
                out.append(self._record(name, channel, scope, "resolved", now, track.since,
                                        reading, track.severity))
        return out

    def _record(self, name: str, channel: str, scope: str, state: str, now: int, since: int,
                reading: Reading | None, severity: str | None = None) -> dict[str, Any]:
        sev = severity or (reading.severity if reading else "warning")
        gauge = ACTIVE.labels(name, channel, scope, sev)
        gauge.set(1 if state == "firing" else 0)
        TRANSITIONS.labels(name, state).inc()
        message = reading.message if reading is not None else "no longer applies"
        if state == "resolved" and reading is not None:
            message = "no data: nothing to judge (a quiet queue)" if reading.value is None \
                else f"back within its threshold: {reading.value:g} (threshold " \
                     f"{reading.threshold:g})"
        return alert_record.build(
            name, channel, scope, state, at=now, since=since, severity=sev,
            value=None if reading is None else reading.value,
            threshold=float(reading.threshold) if reading is not None else 0.0,
            message=message)
