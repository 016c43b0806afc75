"""The topic catalogue: every topic the backbone owns, declared once.

The local stack, the Kubernetes KafkaTopic resources and the tests all read this list,
so partition counts, retention and compaction cannot drift between environments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Topic:
    """One logical topic; the physical name is ``Settings.topic(name)``."""

    name: str
    partitions: int
    key: str
    value: str
    description: str
    retention_ms: int = 7 * DAY_MS
    compact: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, str]:
        """Broker-side topic configuration."""
        conf = {
            "cleanup.policy": "compact" if self.compact else "delete",
            "retention.ms": str(-1 if self.compact else self.retention_ms),
        }  # min.insync.replicas is min(2, replication), set where topics are created
        conf.update(self.extra)
        return conf


# Source topic and the processor topics are co-partitioned (same count), which Faust
# tables need: a table's changelog partition must match its source partition. Topics
# declared with PARTITIONS take the deployment's count (``Settings.topic_partitions``,
# CCB_TOPIC_PARTITIONS: 6 locally, 48 on Kubernetes); the others keep their own.
PARTITIONS = 6


def partition_count(topic: Topic, copartitioned: int) -> int:
    """Partitions of ``topic`` in a deployment whose co-partitioned topics have
    ``copartitioned`` partitions."""
    return copartitioned if topic.partitions == PARTITIONS else topic.partitions

INTERACTIONS = Topic(
    "interactions", PARTITIONS, "interaction id (or the channel's primary identifier)",
    "InteractionEvent (Avro)", "Every channel event, validated and de-identified by a connector.",
    retention_ms=30 * DAY_MS,
)
DEAD_LETTERS = Topic(
    "dead-letters", 3, "source", "DeadLetter (Avro)",
    "Input a connector or processor refused, with the capped raw payload and the reason.",
    retention_ms=30 * DAY_MS,
)
CUSTOMER_EVENTS = Topic(
    "customer-events", PARTITIONS, "customer id", "InteractionEvent (Avro)",
    "Interactions re-keyed by resolved customer id: the input of timeline, journeys and KPIs.",
    retention_ms=30 * DAY_MS,
)
IDENTITY_EVENTS = Topic(
    "identity-events", PARTITIONS, "identifier (type:value)", "IdentityEvent (JSON)",
    "Identity links, merges, conflicts and deletions: the auditable identity graph log.",
    retention_ms=3650 * DAY_MS,
)
CUSTOMER_CONTEXT = Topic(
    "customer-context", PARTITIONS, "customer id", "CustomerContext snapshot (JSON)",
    "Latest context per customer, compacted; feeds the gRPC query view.",
    compact=True, extra={"min.cleanable.dirty.ratio": "0.2", "segment.ms": str(3600 * 1000)},
)
KPIS = Topic(
    "kpis", 3, "channel|scope|window", "KpiSnapshot (JSON)",
    "Live KPI values per channel, queue or branch and window. Never carries customer data.",
    compact=True,
)
ALERTS = Topic(
    "alerts", 3, "alert name|scope", "Alert (JSON)", "Business and quality alerts.",
    retention_ms=30 * DAY_MS,
)
HANDOFFS = Topic(
    "handoffs", PARTITIONS, "customer id", "InteractionEvent (Avro)",
    "Handoff created/accepted/cancelled/expired events from the context service.",
    retention_ms=30 * DAY_MS,
)
AUDIT = Topic(
    "audit", 3, "principal", "AuditRecord (JSON)",
    "Who read which customer's context, for which purpose, and every unmask.",
    retention_ms=365 * DAY_MS,
)
ERASURES = Topic(
    "erasures", PARTITIONS, "customer id or identifier", "Erasure tombstone (JSON)",
    "Deleted customers and identifiers, compacted and kept forever so replays stay deleted.",
    compact=True,
)

# Internal topics of the stream processors (JSON commands between their stages). They are
# co-partitioned with ``interactions`` so all processor tables share one partition layout.
IDENTITY_COMMANDS = Topic(
    "identity-commands", PARTITIONS, "identifier (TYPE:value)", "resolver command (JSON)",
    "Route/link/unlink/erase requests to the single owner of each identifier.",
    retention_ms=7 * DAY_MS,
)
CUSTOMER_COMMANDS = Topic(
    "customer-commands", PARTITIONS, "customer id (c:, p:, a:, i: prefixed)",
    "customer command (JSON)",
    "Resolved events, identities, merges and erasures for the owner of each customer.",
    retention_ms=7 * DAY_MS,
)
KPI_PARTIALS = Topic(
    "kpi-partials", PARTITIONS, "channel|scope", "per-source-partition KPI counters (JSON)",
    "Latest KPI counters of each customer partition; combined on read by the KPI agent.",
    retention_ms=2 * DAY_MS,
)
PROFILE_CHANGES = Topic(
    "profile-changes", PARTITIONS, "customer number", "ProfileChange (Avro, Debezium envelope)",
    "CRM and core-banking row changes (profile, products, consent) for the profile stage.",
    retention_ms=30 * DAY_MS,
)

CATALOGUE: tuple[Topic, ...] = (
    INTERACTIONS, DEAD_LETTERS, CUSTOMER_EVENTS, IDENTITY_EVENTS, CUSTOMER_CONTEXT,
    KPIS, ALERTS, HANDOFFS, AUDIT, ERASURES, IDENTITY_COMMANDS, CUSTOMER_COMMANDS,
    KPI_PARTIALS, PROFILE_CHANGES,
)


def by_name(name: str) -> Topic:
    for topic in CATALOGUE:
        if topic.name == name:
            return topic
    raise KeyError(name)
