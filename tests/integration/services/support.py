"""Helpers for the context-service tests: snapshots as the stream processor publishes them,
a controllable clock, and authenticated stubs."""

from __future__ import annotations

import json
import time
from typing import Any

import grpc
from confluent_kafka import Producer
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from backbone.context.v1 import context_pb2 as pb
from backbone.context.v1 import context_pb2_grpc as pb_grpc
from backbone.settings import Settings
from services.context.view import Entry

TOKENS = {"channel_system": "dev-channel-token", "agent": "dev-agent-token",
          "supervisor": "dev-supervisor-token", "auditor": "dev-auditor-token"}
NOW_MS = 1_790_000_000_000


class FakeClock:
    """Seconds since the epoch, moved by the test instead of by waiting."""

    def __init__(self, start_s: float | None = None):
        self.now = start_s if start_s is not None else time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def auth(role: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {TOKENS[role]}"),)


def timeline_event(i: int, channel: str = "APP", *, prefix: str = "e") -> dict[str, Any]:
    return {"event_id": f"{prefix}{i}", "event_type": "digital.track", "channel": channel,
            "occurred_at": NOW_MS + i * 1000, "ingested_at": NOW_MS + i * 1000 + 5,
            "interaction_id": f"s{i // 5}", "journey_id": None, "reason": "transfer_failed",
            "actor": {"kind": "CUSTOMER", "id": None}, "organisation": None,
            "summary": f"event {i}", "attributes": {"screen": "transfer"}}


def snapshot(customer_id: str, version: int, n_events: int = 3, *, prefix: str = "e",
             channels: tuple[str, ...] = ("APP", "PHONE"), extra_ids: list[str] | None = None,
             phone_hash: str = "h:k1:phonehash") -> dict[str, Any]:
    """A snapshot with events 0..n-1 (newest first), as stream_processors/snapshot.py builds."""
    events = [timeline_event(i, channels[i % len(channels)], prefix=prefix)
              for i in range(n_events)]
    applied = [e["event_id"] for e in events] + list(extra_ids or [])
    return {
        "schema_version": 1, "customer_id": customer_id, "version": version,
        "updated_at": NOW_MS + version,
        "last_event_ids": applied[-100:],
        "identities": [
            {"type": "PHONE", "value": phone_hash, "masked": "138****1234", "verified": True},
            {"type": "WECHAT_OPENID", "value": f"oWx-{customer_id}-openid", "masked": None,
             "verified": True},
            {"type": "CUSTOMER_NUMBER", "value": f"CN{customer_id}", "masked": "CN****01",
             "verified": True}],
        "profile": {"first_seen": NOW_MS, "last_seen": NOW_MS + n_events * 1000,
                    "channels": list(channels)},
        "timeline": list(reversed(events)),
        "contacts": [],
        "journeys": [{"journey_id": "j1", "reason": "transfer_failed", "status": "open",
                      "channels": list(channels), "last_channel": channels[-1],
                      "tried": ["APP: failed (E42)", "PHONE: transferred"],
                      "started_at": NOW_MS, "updated_at": NOW_MS + version, "handoffs": 0},
                     {"journey_id": "j0", "reason": "card_lost", "status": "resolved",
                      "channels": ["BRANCH"], "last_channel": "BRANCH", "tried": [],
                      "started_at": NOW_MS - 10**8, "updated_at": NOW_MS - 10**7,
                      "handoffs": 0}],
        "complaints": [{"complaint_id": "c1", "status": "opened", "category": "fees",
                        "opened_at": NOW_MS, "due_at": NOW_MS + 15 * 86_400_000},
                       {"complaint_id": "c0", "status": "closed", "category": "atm",
                        "opened_at": NOW_MS - 10**9, "due_at": NOW_MS - 10**8}],
        "surveys": [{"kind": "NPS", "score": 9, "scale_max": 10, "at": NOW_MS + 10},
                    {"kind": "CSAT", "score": 4, "scale_max": 5, "at": NOW_MS + 20},
                    {"kind": "CSAT", "score": 2, "scale_max": 5, "at": NOW_MS - 20}],
        "counts": {"contacts_7d": 3, "contacts_30d": 5},
        "handoffs": [],
    }


def entry(customer_id: str, data: dict[str, Any]) -> Entry:
    """The view's entry for a snapshot, read as the service reads it from the topic."""
    return Entry.parse(customer_id, json.dumps(data).encode())


class SnapshotWriter:
    """Plays the stream processor: writes snapshots and tombstones to customer-context."""

    def __init__(self, settings: Settings):
        self.topic = settings.topic("customer-context")
        self.kpi_topic = settings.topic("kpis")
        self._producer = Producer(settings.producer_config())

    def put(self, customer_id: str, data: dict[str, Any] | None) -> None:
        value = json.dumps(data).encode() if data is not None else None
        self._producer.produce(self.topic, key=customer_id.encode(), value=value)
        assert self._producer.flush(10) == 0

    def put_kpi(self, key: str, data: dict[str, Any]) -> None:
        self._producer.produce(self.kpi_topic, key=key.encode(), value=json.dumps(data).encode())
        assert self._producer.flush(10) == 0


def stub(port: int, credentials: grpc.ChannelCredentials | None = None,
         target: str = "127.0.0.1") -> tuple[grpc.aio.Channel, pb_grpc.CustomerContextServiceStub]:
    address = f"{target}:{port}"
    channel = grpc.aio.secure_channel(address, credentials) if credentials else \
        grpc.aio.insecure_channel(address)
    return channel, pb_grpc.CustomerContextServiceStub(channel)


def by_id(customer_id: str) -> pb.CustomerLookup:
    return pb.CustomerLookup(customer_id=customer_id)


def read_topic(settings: Settings, logical: str, *, expect: int, timeout_s: float = 15.0
               ) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of the first ``expect`` records of a topic, read from the beginning."""
    import uuid

    from confluent_kafka import Consumer

    consumer = Consumer(settings.consumer_config(f"reader-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([settings.topic(logical)])
    out: list[tuple[bytes | None, bytes | None]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < expect and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                out.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    return out


def error_details(err: grpc.aio.AioRpcError) -> tuple[str, float]:
    """(ErrorInfo.reason or "", RetryInfo delay in seconds or -1) of a failed call."""
    status = rpc_status.from_call(err)
    assert status is not None, "no google.rpc.Status details"
    reason, delay = "", -1.0
    for detail in status.details:
        info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            reason = info.reason
        elif detail.Unpack(retry):
            delay = retry.retry_delay.ToMilliseconds() / 1000
    return reason, delay
