"""Prometheus metrics shared by every process, defined once.

Label values are bounded sets (channel, topic, reason, method): never a customer id,
phone or token. Process-specific metrics live next to their code but follow the same
``ccb_`` prefix and base-unit naming.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

PRODUCED = Counter(
    "ccb_producer_messages_total", "Records handed to Kafka, by topic and outcome.",
    ["topic", "outcome"],
)
PRODUCER_IN_FLIGHT = Gauge(
    "ccb_producer_in_flight", "Records sent but not yet acknowledged by Kafka.", ["client"],
)
PRODUCER_ERRORS = Counter(
    "ccb_producer_errors_total", "Producer-level errors reported by librdkafka.",
    ["client", "code"],
)
PUBLISH_LATENCY = Histogram(
    "ccb_publish_latency_seconds", "Time from produce() to Kafka's acknowledgement.",
    ["topic"], buckets=LATENCY_BUCKETS,
)
DEAD_LETTERS = Counter(
    "ccb_dead_letters_total", "Records sent to the dead-letter topic, by source and reason.",
    ["source", "reason"],
)
BROKER_UP = Gauge(
    "ccb_kafka_broker_reachable", "1 when this process can reach the Kafka cluster.", ["client"],
)

# gRPC context service. ``method`` is the short RPC name, ``code`` the gRPC status name.
GRPC_REQUESTS = Counter(
    "ccb_grpc_requests_total", "gRPC calls answered by the context service, by method and code.",
    ["method", "code"],
)
GRPC_LATENCY = Histogram(
    "ccb_grpc_request_duration_seconds", "Time to answer a unary call (stream set-up for watches).",
    ["method"], buckets=LATENCY_BUCKETS,
)
GRPC_VIEW_LAG = Gauge(
    "ccb_grpc_view_lag_messages", "Records of a topic the query view has not applied yet.",
    ["topic"],
)
GRPC_VIEW_CUSTOMERS = Gauge(
    "ccb_grpc_view_customers", "Customers held in this instance's query view.",
)
FRESHNESS = Histogram(
    "ccb_freshness_seconds",
    "End-to-end freshness: event accepted by a connector (ingested_at) → visible in this "
    "context-service instance's view. One sample per applied snapshot, once caught up.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
GRPC_HANDOFFS = Counter(
    "ccb_grpc_handoffs_total", "Handoff transitions decided by this instance, by outcome.",
    ["outcome"],
)
GRPC_AUDIT_RECORDS = Counter(
    "ccb_grpc_audit_records_total", "Audit records written, by kind (read, unmask, handoff).",
    ["kind"],
)

GRPC_HANDOFF_BOOK = Gauge(
    "ccb_grpc_handoff_book_size",
    "Handoffs held in this instance's handoff book, by state (open, closed).", ["state"],
)
GRPC_WATCH_STREAMS = Gauge(
    "ccb_grpc_watch_streams", "Open WatchCustomerContext streams on this instance.",
)
# Every other in-memory cache: entries held now, read at scrape time. ``cache`` names it.
CACHE_ENTRIES = Gauge(
    "ccb_cache_entries", "Entries held by a bounded in-memory cache, by cache.", ["cache"],
)


def serve_metrics(port: int, addr: str | None = None) -> int:
    """Expose /metrics on ``port`` (0 picks a free port); returns the bound port.

    Binds ``CCB_METRICS_HOST`` (loopback by default; 0.0.0.0 in containers so Prometheus
    and probes can reach it).
    """
    if addr is None:
        from backbone.settings import get_settings  # noqa: PLC0415 - avoid an import cycle

        addr = get_settings().metrics_host
    server, _thread = start_http_server(port, addr=addr)
    return int(server.server_port)
