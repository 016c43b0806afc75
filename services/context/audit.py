"""Audit records (BRIEF §5): who read which customer's context, for which purpose, unmasked or not.

Unmasked reads and handoff actions are written fail-closed (the answer waits for Kafka's
acknowledgement); masked reads are fire-and-forget but bounded: if the audit producer
refuses a record, the read fails with UNAVAILABLE instead of going unrecorded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

from backbone import metrics
from backbone.kafka import AsyncPublisher
from backbone.models import now_ms
from backbone.settings import Settings
from services.context.auth import Principal

log = logging.getLogger(__name__)


class Auditor:
    """``bulk`` batches (high linger: one Kafka request for many reads, which halves the
    service's CPU per read); ``urgent`` (no linger) carries the records a call waits for."""

    def __init__(self, settings: Settings, bulk: AsyncPublisher, urgent: AsyncPublisher, *,
                 instance: str):
        self._topic = settings.topic("audit")
        self._bulk = bulk
        self._urgent = urgent
        self._instance = instance
        self._pending: set[asyncio.Future[int]] = set()

    async def record(self, principal: Principal, *, action: str, customer_id: str,
                     purpose: str, unmasked: bool = False, outcome: str = "ok",
                     detail: dict[str, str] | None = None, wait: bool = False) -> None:
        record = {
            "audit_id": uuid.uuid4().hex, "at": now_ms(), "principal": principal.name,
            "role": str(principal.role), "authenticated_by": principal.via, "action": action,
            "customer_id": customer_id, "purpose": purpose, "unmasked": unmasked,
            "outcome": outcome, "instance": self._instance, "detail": detail or {},
        }
        wait = wait or unmasked
        value = json.dumps(record, separators=(",", ":")).encode()
        future = (self._urgent if wait else self._bulk).publish(self._topic, principal.name,
                                                                value)
        metrics.GRPC_AUDIT_RECORDS.labels("unmask" if unmasked else action).inc()
        if wait:
            await future
            return
        self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[int]) -> None:
        self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("audit record lost: %s", future.exception())
