"""What the worker reads and writes: its topics and its tables, declared in one place.

Every topic is raw bytes in and out (the stages decode Avro and JSON themselves). Tables
are keyed by the key of their source topic, so a table partition is the partition of the
record that changed it, and faust restores each from its changelog after a rebalance.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import faust
from aiokafka.partitioner import murmur2
from faust.types import TableT

from backbone.settings import Settings
from backbone.topics import PARTITIONS

# Logical topic names the stages emit to (``Settings.topic`` adds the prefix).
IDENTITY_COMMANDS = "identity-commands"
CUSTOMER_COMMANDS = "customer-commands"
KPI_PARTIALS = "kpi-partials"
CUSTOMER_CONTEXT = "customer-context"
IDENTITY_EVENTS = "identity-events"
ERASURES = "erasures"
KPIS = "kpis"
ALERTS = "alerts"
DEAD_LETTERS = "dead-letters"
OUTPUTS = (IDENTITY_COMMANDS, CUSTOMER_COMMANDS, KPI_PARTIALS, CUSTOMER_CONTEXT,
           IDENTITY_EVENTS, ERASURES, KPIS, ALERTS, DEAD_LETTERS)


@lru_cache(maxsize=262_144)  # aiokafka's murmur2 is pure Python: ~7 µs a key, keys repeat
def partition_of(key: bytes, partitions: int = PARTITIONS) -> int:
    """Kafka's default (murmur2) partition of a key, as Java, aiokafka and librdkafka's
    murmur2 partitioners compute it; used to attribute table keys to source partitions."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True, slots=True)
class Topology:
    """The faust topics and tables of one worker app."""

    interactions: faust.TopicT
    handoffs: faust.TopicT
    profile_changes: faust.TopicT  # CDC of the systems of record (profile stage)
    identity_commands: faust.TopicT
    customer_commands: faust.TopicT
    kpi_partials: faust.TopicT
    erasures: faust.TopicT
    identities: TableT  # identifier -> identity record (resolver)
    customers: TableT  # customer id -> customer state (customer stage)
    memory: TableT  # interaction id -> routing memory (router)
    names: dict[str, str]  # logical output name -> topic name
    partitions: int  # of every co-partitioned topic and table

    @property
    def sources(self) -> frozenset[str]:
        """Topic names the agents consume (for the lag gauges)."""
        return frozenset(t.get_topic_name() for t in (
            self.interactions, self.handoffs, self.identity_commands, self.customer_commands,
            self.kpi_partials, self.profile_changes))


def declare(app: faust.App, s: Settings) -> Topology:
    n = s.topic_partitions

    def topic(name: str) -> faust.TopicT:
        return app.topic(s.topic(name), key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw", partitions=n)

    # key_type=bytes is what makes faust use the raw codec for keys in the changelog *and*
    # on recovery (a Schema alone is ignored by recovery, which then fails on every key).
    # Changelogs get min.insync.replicas like every topic we create; faust's own leader
    # topic (1 partition, election only) cannot take configs and gets the broker default.
    changelog = {"min.insync.replicas": str(s.min_insync_replicas())}

    def table(name: str) -> TableT:
        return app.Table(name, default=None, partitions=n, key_type=bytes,
                         extra_topic_configs=changelog)

    return Topology(
        interactions=topic("interactions"), handoffs=topic("handoffs"),
        profile_changes=topic("profile-changes"),
        identity_commands=topic(IDENTITY_COMMANDS), customer_commands=topic(CUSTOMER_COMMANDS),
        kpi_partials=topic(KPI_PARTIALS), erasures=topic(ERASURES),
        identities=table("identities"), customers=table("customers"),
        # The router's interaction memory (routing.remember), keyed by interaction id like
        # its source topic; entries expire MEMORY_TTL_MS of event time after their change.
        memory=table("interactions"),
        names={name: s.topic(name) for name in OUTPUTS}, partitions=n)
