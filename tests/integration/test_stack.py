"""The local stack the project starts is real: topics as catalogued, a registry that
enforces evolution, and a publisher that only reports success once Kafka has the record."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

from backbone import serde
from backbone.errors import BackpressureError
from backbone.kafka import AsyncPublisher
from backbone.settings import Settings
from backbone.topics import CATALOGUE
from deploy.stack import schemas


def test_topics_match_the_catalogue(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory()
    admin = AdminClient(settings.kafka_common())
    metadata = admin.list_topics(timeout=10).topics
    resources = [ConfigResource("topic", settings.topic(t.name)) for t in CATALOGUE]
    configs = {r.name: f.result() for r, f in admin.describe_configs(resources).items()}
    for topic in CATALOGUE:
        name = settings.topic(topic.name)
        assert len(metadata[name].partitions) == topic.partitions, name
        assert configs[name]["cleanup.policy"].value == ("compact" if topic.compact else "delete")


def test_registry_refuses_a_breaking_change(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory()
    registered = schemas.register_contracts(settings)
    subject = f"{settings.topic('interactions')}-value"
    assert subject in registered
    client = serde.registry_client(settings)
    assert client.get_compatibility(subject) == "BACKWARD_TRANSITIVE"
    broken = serde.latest_schema_dict(serde.INTERACTION_EVENT)
    broken["fields"].append({"name": "must_have", "type": "string"})
    assert not client.test_compatibility(subject, Schema(json.dumps(broken), "AVRO"))
    with pytest.raises(SchemaRegistryError) as info:
        client.register_schema(subject, Schema(json.dumps(broken), "AVRO"))
    assert info.value.http_status_code == 409


async def test_publisher_acknowledges_only_stored_records(
        settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory()
    topic = settings.topic("interactions")
    async with AsyncPublisher(settings, client_id="test") as publisher:
        keys = [f"k{i}".encode() for i in range(200)]
        offsets = await publisher.publish_all([(topic, k, b"v" + k) for k in keys], timeout_s=30)
        assert len(offsets) == 200 and all(o >= 0 for o in offsets)
        assert publisher.in_flight == 0
    consumer = Consumer(settings.consumer_config(f"g-{uuid.uuid4().hex}"))
    try:
        parts = [TopicPartition(topic, p) for p in range(6)]
        high = sum(consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in parts)
    finally:
        consumer.close()
    assert high == 200


async def test_publisher_refuses_instead_of_buffering_without_bound(
        settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory()
    async with AsyncPublisher(settings, client_id="bounded", max_in_flight=10) as publisher:
        futures = [publisher.publish(settings.topic("interactions"), b"k", b"v") for _ in range(10)]
        with pytest.raises(BackpressureError) as info:
            publisher.publish(settings.topic("interactions"), b"k", b"v")
        assert info.value.retriable and info.value.retry_after_s > 0
        await asyncio.gather(*futures)
        await publisher.publish(settings.topic("interactions"), b"k", b"v")  # room again
