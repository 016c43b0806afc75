"""Consumer lag and rebalances of this worker, for the SLO alerts (deploy/prometheus).

Lag is measured from the worker's own consumer: partition end (highwater) minus the fetch
position, per assigned source partition, so it is what delays freshness right now.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge

CONSUMER_LAG = Gauge(
    "ccb_consumer_lag_messages",
    "Records between this worker's position and the end of each assigned partition.",
    ["group", "topic", "partition"],
)
STALLED = Gauge(
    "ccb_consumer_stalled_partitions",
    "Assigned source partitions with lag whose position has not moved for worker_stall_s.",
    ["group"],
)
log = logging.getLogger(__name__)
REBALANCES = Counter(
    "ccb_consumer_rebalances_total", "Partition assignments this worker received.", ["group"],
)


class StallWatch:
    """Partitions that have lag while their fetch position stays put for ``stall_s``.

    A consumer that stopped fetching one partition (seen once after a restart: lag 1,971
    for 3 minutes on a partition never committed before) heals only by a restart, so
    ``/healthz`` reports it. Positions are forgotten on every rebalance (``reset``), and
    ``paused()`` (a message waiting for the schema registry) holds the clock."""

    def __init__(self, stall_s: float, *, clock: Callable[[], float] = time.monotonic,
                 paused: Callable[[], bool] = lambda: False) -> None:
        self.stall_s = stall_s
        self._clock = clock
        self._paused = paused
        self._since: dict[tuple[str, int], tuple[int, float]] = {}  # tp -> (position, since)
        self.stalled: list[tuple[str, int]] = []

    def reset(self) -> None:
        self._since.clear()
        self.stalled = []

    def see(self, observed: dict[tuple[str, int], tuple[int, int]]) -> list[tuple[str, int]]:
        """``observed``: tp -> (position, lag) of every assigned source partition."""
        now = self._clock()
        if self._paused():
            self._since = {tp: (pos, now) for tp, (pos, _) in observed.items()}
            self.stalled = []
            return []
        stalled = []
        for tp, (pos, lag) in observed.items():
            before = self._since.get(tp)
            if lag <= 0 or before is None or before[0] != pos:
                self._since[tp] = (pos, now)
            elif now - before[1] >= self.stall_s:
                stalled.append(tp)
        for tp in [tp for tp in self._since if tp not in observed]:
            del self._since[tp]
        if stalled and stalled != self.stalled:
            log.error("consumer stalled on %s: lag and no progress for %.0f s; /healthz "
                      "reports it so the worker is restarted", stalled, self.stall_s)
        self.stalled = stalled
        return stalled


async def observe(app: Any, group: str, topics: frozenset[str],
                  watch: StallWatch | None = None) -> None:
    """Update the lag gauges for the assigned partitions of ``topics``; drop stale ones;
    feed ``watch`` the positions."""
    consumer = app.consumer
    seen: set[tuple[str, str]] = set()
    observed: dict[tuple[str, int], tuple[int, int]] = {}
    for tp in consumer.assignment():
        if tp.topic not in topics:
            continue
        position = await consumer.position(tp)
        highwater = consumer.highwater(tp)
        if position is None or highwater is None:
            continue
        CONSUMER_LAG.labels(group, tp.topic, str(tp.partition)).set(max(0, highwater - position))
        seen.add((tp.topic, str(tp.partition)))
        observed[(tp.topic, tp.partition)] = (position, highwater - position)
    for labels in list(CONSUMER_LAG._metrics):  # noqa: SLF001 - forget revoked partitions
        if labels[0] == group and (labels[1], labels[2]) not in seen:
            CONSUMER_LAG.remove(*labels)
    if watch is not None:
        stalled = watch.see(observed)
        STALLED.labels(group).set(len(stalled))
        if stalled:
            resume_stalled(consumer, stalled)


def resume_stalled(consumer: Any, stalled: list[tuple[str, int]]) -> None:
    """Put stalled partitions back among those faust fetches. faust drops a partition from
    its active set while that partition's stream buffer is full and re-adds it when the
    buffer drains; a rebalance in between can leave it out for good (seen with 2 workers
    on 12 partitions: three partitions stopped at offset 15 while the rest finished).
    Resuming a partition that is fetched anyway changes nothing."""
    wanted = set(stalled)
    tps = [tp for tp in consumer.assignment() if (tp.topic, tp.partition) in wanted]
    log.warning("resuming fetches of stalled partitions %s", sorted(wanted))
    consumer.resume_partitions(tps)
    for tp in tps:
        consumer.on_buffer_drop(tp)
