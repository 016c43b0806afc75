"""A rebuild from empty state keeps erasures: the reference log (an erased customer, C500,
and an unsubscribed WeChat OpenID, o-f) runs through a worker; then every record of its
``interactions``, ``handoffs`` and ``erasures`` is copied, partition by partition, under a
fresh topic prefix and a fresh worker (new app id and consumer group, no tables) rebuilds
everything from offset 0. The erased customer and identifiers stay erased."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from backbone.settings import Settings
from stream_processors.app import partition_of
from stream_processors.identity import erased_identifier_id
from stream_processors.identity import known_customer_id as C
from stream_processors.identity import provisional_id as P
from tests.integration.stream_processors import harness as h
from tests.unit.stream_processors import reference as ref

ERASED_EVENTS = set(ref.ids(ref.E_BIND, ref.E_MSG, ref.E_LATE_MSG, ref.F_SUB, ref.F_MSG))
ERASED_IDS = {"WECHAT_OPENID:o-e", "WECHAT_OPENID:o-f", "CUSTOMER_NUMBER:C500"}
ERASED_CUSTOMERS = {C("C500"), P("WECHAT_OPENID:o-f"), P("WECHAT_OPENID:o-e")}


def _records(settings: Settings, topic: str) -> list[tuple[int, bytes | None, bytes | None]]:
    """Every record of a topic with its partition, in offset order per partition."""
    name = settings.topic(topic)
    consumer = Consumer(settings.consumer_config(f"copy-{name}"))
    try:
        md = consumer.list_topics(name, timeout=10).topics[name]
        ends = {}
        for p in md.partitions:
            lo, hi = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)
            if hi > lo:
                ends[p] = hi
        consumer.assign([TopicPartition(name, p, 0) for p in ends])
        out: list[tuple[int, bytes | None, bytes | None]] = []
        done: set[int] = set()
        while len(done) < len(ends):
            for msg in consumer.consume(1000, 1.0):
                if msg.error():
                    continue
                out.append((msg.partition(), msg.key(), msg.value()))
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
        return out
    finally:
        consumer.close()


def _copy(records: list[tuple[int, bytes | None, bytes | None]], settings: Settings,
          topic: str) -> None:
    producer = Producer(settings.producer_config())
    for partition, key, value in records:
        producer.produce(settings.topic(topic), key=key, value=value, partition=partition)
    assert producer.flush(30) == 0


def _resurrected(settings: Settings, *, audit: bool = True) -> list[str]:
    """What of the erased data is visible; ``audit``: also links in the identity log (the
    first run linked them legitimately before the erasure; a rebuild must not)."""
    problems = []
    for key, snap in h.latest(settings, "customer-context").items():
        if snap is None:
            continue
        if key in ERASED_CUSTOMERS:
            problems.append(f"context of {key}")
        if ERASED_EVENTS & {e["event_id"] for e in snap["timeline"]}:
            problems.append(f"erased events in the timeline of {key}")
        if {f"{i['type']}:{i['value']}" for i in snap["identities"]} & ERASED_IDS:
            problems.append(f"erased identifiers on {key}")
    for _, value in h.read_all(settings, "identity-events") if audit else ():
        rec: dict[str, Any] = orjson.loads(value) if value else {}
        if rec.get("type") in ("linked", "shared", "merge", "conflict") and (
                rec["identifier"] in ERASED_IDS or rec.get("customer_id") == C("C500")):
            problems.append(f"{rec['type']} {rec['identifier']} -> {rec.get('customer_id')}")
    return problems


def _first_run(settings_factory: Callable[..., Settings],
               worker_factory: Callable[..., h.WorkerProcess]) -> Settings:
    """The reference log through a worker, phase by phase; its topics are the source."""
    first = settings_factory(kpi_publish_interval_s=0.5)
    worker = worker_factory(first, "first")
    worker.start()
    for phase in ref.PHASES:
        h.produce(first, phase)
        h.wait_idle(first, worker=worker)
    worker.stop()
    return first


def test_replay_from_empty_state_keeps_erased_customer_and_identifier(
        settings_factory: Callable[..., Settings],
        worker_factory: Callable[..., h.WorkerProcess]) -> None:
    first = _first_run(settings_factory, worker_factory)
    assert _resurrected(first, audit=False) == []
    log = h.latest(first, "erasures")
    # customers by id; identifiers by keyed hash only (the log is kept forever)
    assert set(log) == {C("C500"), P("WECHAT_OPENID:o-f")} | {
        erased_identifier_id(k) for k in ERASED_IDS}
    assert log[C("C500")]["erased_at"] == ref.E_ERASE["ingested_at"]  # server time

    # The rebuild reads the partitions independently, so it may see the erasure request
    # before the customer's earlier events: force that order (the erasure request's
    # partition first, the rest once it is processed).
    rebuild = settings_factory(kpi_publish_interval_s=0.5)
    _copy(_records(first, "erasures"), rebuild, "erasures")
    interactions = _records(first, "interactions")
    early = {partition_of(ref.E_ERASE["interaction_id"].encode())}
    assert partition_of(ref.E_BIND["interaction_id"].encode()) not in early
    _copy([r for r in interactions if r[0] in early], rebuild, "interactions")
    fresh = worker_factory(rebuild, "rebuild")
    fresh.start()
    h.wait_idle(rebuild, worker=fresh)
    _copy([r for r in interactions if r[0] not in early], rebuild, "interactions")
    _copy(_records(first, "handoffs"), rebuild, "handoffs")
    h.wait_idle(rebuild, worker=fresh)

    assert _resurrected(rebuild) == []
    context = h.latest(rebuild, "customer-context")
    assert context.get(C("C100")) is not None  # the rest was rebuilt
    assert [e["event_id"] for e in context[C("C400")]["timeline"]] == \
        ref.EXPECTED_TIMELINES[C("C400")]
    assert set(h.latest(rebuild, "erasures")) >= set(log)
    assert fresh.alive()


def test_running_worker_takes_in_erasures_another_worker_wrote(
        settings_factory: Callable[..., Settings],
        worker_factory: Callable[..., h.WorkerProcess]) -> None:
    """Erasures written while a worker runs (by another worker, whose partitions held the
    erasure request) reach it: the erasure request's own partition is never given to this
    worker, so the followed log is the only way it can know."""
    first = _first_run(settings_factory, worker_factory)

    running = settings_factory(kpi_publish_interval_s=0.5)
    fresh = worker_factory(running, "running")
    fresh.start()
    h.wait_idle(running, worker=fresh)  # up, with an empty erasure log
    _copy(_records(first, "erasures"), running, "erasures")  # "another worker" writes
    time.sleep(3.0)  # the log is polled every 0.5 s
    early = {partition_of(ref.E_ERASE["interaction_id"].encode())}
    _copy([r for r in _records(first, "interactions") if r[0] not in early], running,
          "interactions")
    _copy(_records(first, "handoffs"), running, "handoffs")
    h.wait_idle(running, worker=fresh)

    assert _resurrected(running) == []
    assert h.latest(running, "customer-context").get(C("C100")) is not None
    assert fresh.alive()
