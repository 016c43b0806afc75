"""Garbage-collector settings for the context service, and a pause meter.

The view holds every customer; the collector's full passes walk every tracked object, so
the view keeps few (view.py stores snapshot bytes) and what was loaded at start-up is
frozen once the view caught up (``gc.freeze``: never walked again). Each gRPC call leaves
cyclic garbage (grpc's handler lookup), so young collections run all the time; their
pause grows with the young generation, so the thresholds stay small: at 20k customers and
1,000 reads/s, (10000, 20, 10) made 14 ms young and 26 ms middle pauses, (700, 10, 10) 1.3
and 2 ms (benchmarks/README.md).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Any

THRESHOLDS = (700, 10, 10)  # pinned: CPython's defaults, measured best here


def tune() -> None:
    gc.set_threshold(*THRESHOLDS)


def freeze() -> int:
    """Collect once, then move every object alive now out of the collector's sight."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@dataclass
class PauseMeter:
    """Every collection's duration, from ``gc.callbacks`` (start/stop of each pass): wall
    time (what a caller waits) and this thread's CPU time (the collector's own work; wall
    minus CPU is the process being descheduled on a busy machine)."""

    pauses: dict[int, list[tuple[float, float]]] = field(
        default_factory=lambda: {0: [], 1: [], 2: []})
    _started: tuple[float, float] = (0.0, 0.0)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = (time.perf_counter(), time.thread_time())
        else:
            wall, cpu = self._started
            self.pauses[info["generation"]].append(
                ((time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000))

    def install(self) -> PauseMeter:
        gc.callbacks.append(self)
        return self

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)

    def summary(self) -> dict[int, tuple[int, float, float]]:
        """generation -> (collections, longest wall ms, longest CPU ms)."""
        return {gen: (len(p), max((w for w, _ in p), default=0.0),
                      max((c for _, c in p), default=0.0)) for gen, p in self.pauses.items()}
