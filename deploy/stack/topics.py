"""Create the catalogue's topics idempotently (existing topics are left as they are)."""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from backbone.errors import StackError
from backbone.settings import Settings
from backbone.topics import CATALOGUE, Topic, partition_count


def ensure_topics(settings: Settings, topics: tuple[Topic, ...] = CATALOGUE) -> list[str]:
    """Returns the names of the topics that were created now.

    Replication is ``topic_replication`` and min.insync.replicas ``min(2, replication)``,
    so acks=all survives one broker loss on a 3-broker cluster and still works on one.
    """
    admin = AdminClient(settings.kafka_common())
    existing = set(admin.list_topics(timeout=10).topics)
    insync = {"min.insync.replicas": str(settings.min_insync_replicas())}
    wanted = [
        NewTopic(settings.topic(t.name),
                 num_partitions=partition_count(t, settings.topic_partitions),
                 replication_factor=settings.topic_replication, config=t.config() | insync)
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


def delete_prefixed(settings: Settings, prefixes: list[str] | None = None) -> list[str]:
    """Delete every topic whose name starts with one of ``prefixes`` (default: the
    settings' own prefix), faust changelogs included; returns what was deleted.

    Tests and benchmarks use a fresh prefix per run and call this afterwards: the single
    local broker holds several open files per partition and would otherwise run out.
    """
    wanted = prefixes if prefixes is not None else [settings.topic_prefix]
    if not all(wanted):
        raise StackError("refusing to delete topics for an empty prefix")
    admin = AdminClient(settings.kafka_common())
    doomed = [t for t in admin.list_topics(timeout=10).topics
              if any(t.startswith(p) for p in wanted)]
    deleted = []
    for name, fut in (admin.delete_topics(doomed, operation_timeout=30).items() if doomed else ()):
        try:
            fut.result()
            deleted.append(name)
        except KafkaException:  # already gone
            continue
    return deleted
