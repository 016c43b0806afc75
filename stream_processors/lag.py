"""Consumer lag and rebalances of this worker, for the SLO alerts (deploy/prometheus).

Lag is measured from the worker's own consumer: partition end (highwater) minus the fetch
position, per assigned source partition, so it is what delays freshness right now.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge

CONSUMER_LAG = Gauge(
    "ccb_consumer_lag_messages",
    "Records between this worker's position and the end of each assigned partition.",
    ["group", "topic", "partition"],
)
REBALANCES = Counter(
    "ccb_consumer_rebalances_total", "Partition assignments this worker received.", ["group"],
)


async def observe(app: Any, group: str, topics: frozenset[str]) -> None:
    """Update the lag gauges for the assigned partitions of ``topics``; drop stale ones."""
    consumer = app.consumer
    seen: set[tuple[str, str]] = set()
    for tp in consumer.assignment():
        if tp.topic not in topics:
            continue
        position = await consumer.position(tp)
        highwater = consumer.highwater(tp)
        if position is None or highwater is None:
            continue
        CONSUMER_LAG.labels(group, tp.topic, str(tp.partition)).set(max(0, highwater - position))
        seen.add((tp.topic, str(tp.partition)))
    for labels in list(CONSUMER_LAG._metrics):  # noqa: SLF001 - forget revoked partitions
        if labels[0] == group and (labels[1], labels[2]) not in seen:
            CONSUMER_LAG.remove(*labels)
