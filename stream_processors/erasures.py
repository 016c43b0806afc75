"""The erasure log read back: which customers and identifiers were erased, and when (the
server's receive time), so a replay from empty state keeps them deleted (BRIEF §3, §5).

``erasures`` is compacted and kept forever, keyed by customer id (``c:``/``p:``) or, for an
identifier, by a keyed hash of it (``e:``, :func:`identity.erased_identifier_id`): the log
that outlives the data never names a deleted identifier. ``run_worker`` reads the *whole*
topic (all partitions, no consumer group) into an in-memory :class:`ErasureLog` before the
faust app starts; the worker adds what it writes itself, and the stages that route, link
and hold customers consult it.
Why not a faust table: a partitioned table only holds the partitions of its own worker,
while a route or link for customer C is decided on the partition of an identifier, not
of C; a ``GlobalTable`` would need its own changelog beside ``erasures``. The log is small
(one entry per erased customer or identifier) and read-only for the stages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from backbone.topics import ERASURES
from stream_processors import identity as ident
from stream_processors.codec import loads

log = logging.getLogger(__name__)


def erasure_time(event: dict[str, Any]) -> int:
    """When an erasure took effect: the connector's receive time, never the client's
    ``occurred_at`` (a client clock could otherwise back-date or forward-date a deletion)."""
    return int(event.get("ingested_at") or event["occurred_at"])


def identifier_record(key: str, customer_id: str | None, at: int,
                      event_id: str | None) -> tuple[bytes, dict[str, Any]]:
    """The ``erasures`` record of an erased identifier ``TYPE:value``."""
    return (ident.erased_identifier_id(key).encode(),
            {"identifier_type": key.split(":", 1)[0], "customer_id": customer_id,
             "erased_at": at, "event_id": event_id})


class ErasureLog:
    """Key (customer id or ``e:`` identifier hash) -> latest erasure time."""

    def __init__(self) -> None:
        self._at: dict[str, int] = {}
        self.ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._at)

    def note(self, key: str, value: Mapping[str, Any] | None) -> None:
        if value is None:  # a deleted erasure record (an operator's decision): forget it
            self._at.pop(key, None)
            return
        at = int(value["erased_at"])
        if at > self._at.get(key, -1):
            self._at[key] = at

    def customer_floor(self, customer_id: str) -> int | None:
        return self._at.get(customer_id) if self._at else None

    def customer(self, customer_id: str, at: int) -> bool:
        """Customer ``customer_id`` was erased at or after ``at``."""
        floor = self._at.get(customer_id) if self._at else None
        return floor is not None and at <= floor

    def identifier(self, key: str, at: int) -> bool:
        """Identifier ``TYPE:value`` was erased at or after ``at``."""
        if not self._at:
            return False
        floor = self._at.get(ident.erased_identifier_id(key))
        return floor is not None and at <= floor


async def follow(erased: ErasureLog, bootstrap: str, topic: str, auth: Mapping[str, Any],
                 partitions: int = ERASURES.partitions, poll_ms: int = 500,
                 follow_after_load: bool = False) -> None:
    """Read ``topic`` from the beginning to its end offsets and set ``erased.ready``;
    with ``follow_after_load`` keep reading until cancelled."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                **dict(auth))
    await consumer.start()
    try:
        if topic not in await consumer.topics():
            raise RuntimeError(f"erasure log {topic!r} does not exist")
        # Every partition, assigned by hand (no group: nothing committed, nothing to wait
        # for); the partition count is the catalogue's.
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while not erased.ready.is_set():
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                erased.ready.set()
                log.info("erasure log loaded: %d entries", len(erased))
                break
            _apply(erased, await consumer.getmany(timeout_ms=poll_ms))
        while follow_after_load:
            _apply(erased, await consumer.getmany(timeout_ms=poll_ms))
    finally:
        await consumer.stop()


def _apply(erased: ErasureLog, batch: Mapping[Any, list[Any]]) -> None:
    for records in batch.values():
        for msg in records:
            if msg.key is None:
                continue
            try:
                value = loads(msg.value) if msg.value is not None else None
            except ValueError:
                log.warning("unreadable erasure record at %s:%s", msg.partition, msg.offset)
                continue
            erased.note(msg.key.decode(), value)


async def keep_following(erased: ErasureLog, bootstrap: str, topic: str,
                         auth: Mapping[str, Any], *, max_backoff_s: float = 10.0) -> None:
    """:func:`follow` with ``follow_after_load`` until cancelled, reconnecting with backoff.

    Fail closed: while the log was never loaded the agents stay blocked (they wait for
    ``erased.ready``) rather than resurrect erased data. Once loaded, a lost connection
    only delays other workers' erasures; re-reading from the beginning is idempotent
    (:meth:`ErasureLog.note` keeps the latest time) and the log is small."""
    delay = 0.5
    while True:
        try:
            await follow(erased, bootstrap, topic, auth, follow_after_load=True)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - any failure: log, back off, read again
            log.exception("erasure log reader failed (loaded: %s); retrying in %.1f s",
                          erased.ready.is_set(), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_backoff_s)
