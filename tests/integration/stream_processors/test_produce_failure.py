"""A record the broker refuses (larger than its topic's max.message.bytes) is never lost
silently: the worker commits no input offset whose output failed and crashes, so its
restart reprocesses from the last good offset."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from backbone.settings import Settings
from stream_processors.synthetic import workload
from tests.integration.stream_processors import harness as h


def _max_message_bytes(settings: Settings, topic: str, value: str | None) -> None:
    admin = AdminClient(settings.kafka_common())
    op = AlterConfigOpType.SET if value is not None else AlterConfigOpType.DELETE
    resource = ConfigResource(ResourceType.TOPIC, settings.topic(topic), incremental_configs=[
        ConfigEntry("max.message.bytes", value or "", incremental_operation=op)])
    for fut in admin.incremental_alter_configs([resource]).values():
        fut.result(30)


def _committed(settings: Settings, topic: str) -> list[int]:
    consumer = h.Consumer(settings.consumer_config(settings.topic(settings.worker_app_name)))
    try:
        name = settings.topic(topic)
        parts = consumer.list_topics(name, timeout=10).topics[name].partitions
        return [tp.offset for tp in consumer.committed(
            [TopicPartition(name, p) for p in parts], timeout=10)]
    finally:
        consumer.close()


def test_refused_output_is_not_committed_and_the_worker_crashes(
        settings_factory: Callable[..., Settings],
        worker_factory: Callable[..., h.WorkerProcess]) -> None:
    settings = settings_factory(kpi_publish_interval_s=0.5)
    _max_message_bytes(settings, "customer-context", "200")  # every snapshot is larger
    events = workload(6, 4, seed=5)
    h.produce(settings, events)

    first = worker_factory(settings, "first")
    first.start()
    assert h.wait_until(lambda: not first.alive(), 120), "worker kept running past a lost record"
    assert first.proc is not None and first.proc.returncode != 0
    assert "not committing" in first.log_path.read_text(errors="replace")
    # The stage whose output was refused committed nothing: its input is redelivered.
    assert all(offset < 0 for offset in _committed(settings, "customer-commands"))
    assert all(v is None for _, v in h.read_all(settings, "customer-context", 2))  # tombstones fit

