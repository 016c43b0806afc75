"""Connector metrics (``ccb_connector_*``); labels are connector names and reasons only."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from backbone.metrics import LATENCY_BUCKETS

RECEIVED = Counter(
    "ccb_connector_received_total", "Source events received, before validation.", ["connector"],
)
PUBLISHED = Counter(
    "ccb_connector_published_total", "Events Kafka acknowledged.", ["connector"],
)
REJECTED = Counter(
    "ccb_connector_rejected_total", "Source events refused, by machine-readable reason.",
    ["connector", "reason"],
)
DUPLICATES = Counter(
    "ccb_connector_duplicates_total", "Source retries answered from the recent-id cache.",
    ["connector"],
)
REFUSED = Counter(
    "ccb_connector_refused_total", "Requests refused as retryable (Kafka slow or down).",
    ["connector"],
)
IGNORED = Counter(
    "ccb_connector_ignored_total", "Well-formed source events we deliberately do not map.",
    ["connector", "kind"],
)
IN_FLIGHT = Gauge(
    "ccb_connector_in_flight", "Events handed to Kafka and not yet acknowledged.", ["connector"],
)
ACK_LATENCY = Histogram(
    "ccb_connector_ack_latency_seconds", "Request in to Kafka acknowledgement.", ["connector"],
    buckets=LATENCY_BUCKETS,
)
