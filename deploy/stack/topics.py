"""Create the catalogue's topics idempotently (existing topics are left as they are)."""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from backbone.errors import StackError
from backbone.settings import Settings
from backbone.topics import CATALOGUE, Topic


def ensure_topics(settings: Settings, topics: tuple[Topic, ...] = CATALOGUE) -> list[str]:
    """Returns the names of the topics that were created now."""
    admin = AdminClient(settings.kafka_common())
    existing = set(admin.list_topics(timeout=10).topics)
    wanted = [
        NewTopic(settings.topic(t.name), num_partitions=t.partitions,
                 replication_factor=settings.topic_replication, config=t.config())
        for t in topics if settings.topic(t.name) not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, fut in admin.create_topics(wanted, operation_timeout=30).items():
        try:
            fut.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args and exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
                continue
            raise StackError(f"creating topic {name} failed: {exc}") from exc
    return created
