"""One Kafka consumer thread that replays the service's input topics into memory.

Every instance reads *all* partitions (manual assignment, no consumer group), so there is
no consumer-group rebalance on the serving side and any instance can answer for any
customer. ``caught_up`` turns true once every partition was read to its end at start-up;
until then the service refuses reads instead of answering from a half-loaded view.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from backbone import metrics
from backbone.settings import Settings

log = logging.getLogger(__name__)

# Called in the consumer thread with a batch of records of one topic.
BatchHandler = Callable[[list[Message]], None]


@dataclass(frozen=True, slots=True)
class Source:
    """A topic to replay: from the beginning, or from ``since_ms`` (bounded-history topics)."""

    topic: str
    handler: BatchHandler
    since_ms: int | None = None


class TopicFeed:
    """Consumes the sources in a daemon thread; handlers run in that thread."""

    def __init__(self, settings: Settings, sources: list[Source], *, client_id: str):
        self._settings = settings
        self._sources = {s.topic: s for s in sources}
        self._client_id = client_id
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._at_end: dict[tuple[str, int], bool] = {}
        self._caught_up = threading.Event()
        self._ready: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.lag: dict[str, int] = {}
        self.error: str | None = None

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    def lag_messages(self) -> int:
        return sum(self.lag.values())

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self._client_id}-feed",
                                        daemon=True)
        self._thread.start()

    async def wait_caught_up(self, timeout_s: float) -> bool:
        if self._ready is None:
            return False
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10.0)
            self._thread = None

    # -- consumer thread -------------------------------------------------------------
    def _consumer(self) -> Consumer:
        conf = self._settings.consumer_config(
            f"{self._client_id}-view",  # never used for commits: offsets are not stored
            **{"client.id": self._client_id, "enable.partition.eof": True,
               "fetch.wait.max.ms": 10, "fetch.error.backoff.ms": 50,
               "topic.metadata.refresh.interval.ms": 10_000})
        return Consumer(conf)

    def _assignment(self, consumer: Consumer) -> list[TopicPartition]:
        assignment: list[TopicPartition] = []
        meta = consumer.list_topics(timeout=2)
        for topic, source in self._sources.items():
            if topic not in meta.topics or meta.topics[topic].error is not None:
                raise RuntimeError(f"topic {topic} does not exist")
            parts = sorted(meta.topics[topic].partitions)
            if source.since_ms is None:
                tps = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts]
            else:
                query = [TopicPartition(topic, p, source.since_ms) for p in parts]
                tps = [TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else -1)
                       for tp in consumer.offsets_for_times(query, timeout=5)]
            assignment.extend(tps)
            for p in parts:
                self._at_end[(topic, p)] = False
        return assignment

    def _run(self) -> None:
        """Consume until stopped; a failed consumer is rebuilt (fresh topics have no
        leader for a moment; a broker restart drops connections)."""
        backoff = 0.1
        while not self._stop.is_set():
            try:
                self._consume()
                return
            except Exception as exc:
                self.error = str(exc)
                log.warning("context feed failed (%s); retrying in %.1fs", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _consume(self) -> None:
        consumer = self._consumer()
        try:
            consumer.assign(self._assignment(consumer))
            last_lag = 0.0
            while not self._stop.is_set():
                messages = consumer.consume(num_messages=1000, timeout=0.05)
                batches: dict[str, list[Message]] = {}
                for msg in messages:
                    err = msg.error()
                    topic, partition = msg.topic() or "", msg.partition() or 0
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            self._at_end[(topic, partition)] = True
                        else:
                            self.error = err.str()
                            log.warning("context feed: %s", err.str())
                        continue
                    batches.setdefault(topic, []).append(msg)
                for topic, batch in batches.items():
                    try:
                        self._sources[topic].handler(batch)
                    except Exception:
                        log.exception("context feed handler for %s failed", topic)
                if not self._caught_up.is_set() and all(self._at_end.values()):
                    self._caught_up.set()
                    if self._loop is not None and self._ready is not None:
                        self._loop.call_soon_threadsafe(self._ready.set)
                    log.info("context feed caught up")
                if time.monotonic() - last_lag > 1.0:
                    last_lag = time.monotonic()
                    self._measure_lag(consumer)
        finally:
            consumer.close()

    def _measure_lag(self, consumer: Consumer) -> None:
        """Best effort: a slow broker answer only delays the lag figure, never the feed."""
        try:
            self._measure_lag_now(consumer)
        except KafkaException as exc:
            log.debug("lag measurement skipped: %s", exc)

    def _measure_lag_now(self, consumer: Consumer) -> None:
        lag: dict[str, int] = {}
        for tp in consumer.position(consumer.assignment()):
            low, high = consumer.get_watermark_offsets(tp, cached=True)
            pos = tp.offset if tp.offset >= 0 else low
            lag[tp.topic] = lag.get(tp.topic, 0) + max(high - pos, 0)
        self.lag = lag
        for topic, value in lag.items():
            metrics.GRPC_VIEW_LAG.labels(topic).set(value)
