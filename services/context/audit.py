"""Audit records (BRIEF §5): who looked up which customer, how, for which purpose, and what
came of it.

One record per context read, watch start and handoff action, whatever the outcome: NOT_FOUND
and AMBIGUOUS answers and failed redemptions are recorded too, so probing whether a number
belongs to a customer, or guessing handoff codes, leaves a trace. A record names the lookup's
type and a keyed hash of the looked-up value, never the value. Every record is fail-closed:
the call waits (at most ``grpc_audit_timeout_s``) for Kafka's acknowledgement, and a call
whose record is refused or not acknowledged in time answers UNAVAILABLE (AUDIT_UNAVAILABLE)
instead of its result, so nothing is answered unrecorded.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson

from backbone import metrics
from backbone.errors import BackboneError
from backbone.kafka import AsyncPublisher
from backbone.models import now_ms
from backbone.settings import Settings
from services.context.auth import Principal
from services.context.status import outcome, unavailable

log = logging.getLogger(__name__)
REASON = "AUDIT_UNAVAILABLE"


@dataclass(slots=True)
class Access:
    """What one call looks up and why; the handler adds the customer once it is known."""

    principal: Principal
    action: str  # read, watch, handoff.create, handoff.accept, handoff.cancel
    purpose: str
    lookup_type: str  # an identifier type, CUSTOMER_ID, HANDOFF_TOKEN/CODE/ID
    lookup_hash: str  # keyed hash of the looked-up value
    unmasked: bool = False  # the caller asked for unmasked identifiers
    customer_id: str = ""
    detail: dict[str, str] = field(default_factory=dict)


class _Audited:
    """The context manager of :meth:`Auditor.audited` (a class: contextlib's generator
    version costs more than the record's serialisation)."""

    __slots__ = ("_auditor", "_access")

    def __init__(self, auditor: Auditor, access: Access):
        self._auditor = auditor
        self._access = access

    async def __aenter__(self) -> Access:
        return self._access

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool:
        if exc is None:
            await self._auditor.record(self._access, "OK")
        elif isinstance(exc, Exception):
            code, reason = outcome(exc)
            await self._auditor.record(self._access, code, reason)
        return False  # the block's own exception goes on


class Auditor:
    """Writes one record per :class:`Access` and waits for it.

    Records go through ``bulk``, the audit producer: each call waits for its own record, so
    its linger (2 ms) is added to every read, and it batches the records of concurrent calls
    (one produce request instead of one per call). The records handed over in one turn of
    the event loop share one timer: when it fires, every record of the batch that Kafka has
    not acknowledged yet fails its call (a timer and a ``wait_for`` per call cost more than
    the rest of the audit). ``urgent`` is not used for records.
    """

    def __init__(self, settings: Settings, bulk: AsyncPublisher, urgent: AsyncPublisher, *,
                 instance: str):
        self._topic = settings.topic("audit")
        self._publisher = bulk
        self._timeout_s = settings.grpc_audit_timeout_s
        self._instance = instance
        self._batch: list[asyncio.Future[Any]] | None = None
        # audit ids: random per process, then a counter (unique without 16 random bytes each)
        self._id_prefix = os.urandom(8).hex()
        self._seq = itertools.count()
        self._counters: dict[str, Any] = {}

    def audited(self, access: Access) -> _Audited:
        """``async with``: record the block's outcome, ``OK`` or the status code it fails
        with. If the record cannot be written the block's result is replaced by
        UNAVAILABLE. A cancelled call (the client went away) is not recorded: it answered
        nothing."""
        return _Audited(self, access)

    async def record(self, access: Access, code: str, reason: str = "") -> None:
        """Publish the record and wait for Kafka; RpcFailure UNAVAILABLE when it fails."""
        principal = access.principal
        record = {
            "audit_id": f"{self._id_prefix}{next(self._seq):08x}", "at": now_ms(),
            "principal": principal.name, "role": str(principal.role),
            "authenticated_by": principal.via, "action": access.action,
            "purpose": access.purpose,
            "lookup": {"type": access.lookup_type, "hash": access.lookup_hash},
            "customer_id": access.customer_id, "unmasked": access.unmasked,
            "outcome": code, "reason": reason, "instance": self._instance,
            "detail": access.detail,
        }
        try:
            acked = self._publisher.publish(self._topic, principal.name, orjson.dumps(record))
            self._expire_with_batch(acked)
            await acked
        except (BackboneError, TimeoutError) as exc:
            log.warning("audit record not written, refusing the %s call: %s", access.action,
                        str(exc) or "not acknowledged in time")
            raise unavailable("the audit record of this call could not be written; retry",
                              1.0, REASON) from exc
        kind = "unmask" if access.unmasked else access.action
        counter = self._counters.get(kind)
        if counter is None:
            counter = self._counters[kind] = metrics.GRPC_AUDIT_RECORDS.labels(kind)
        counter.inc()

    def _expire_with_batch(self, acked: asyncio.Future[Any]) -> None:
        """Fail ``acked`` with TimeoutError unless Kafka acknowledged it in time."""
        if self._batch is None:
            loop = asyncio.get_running_loop()
            self._batch = []
            loop.call_later(self._timeout_s, self._expire, self._batch)
            loop.call_soon(self._close_batch)
        self._batch.append(acked)

    def _close_batch(self) -> None:
        self._batch = None

    @staticmethod
    def _expire(batch: list[asyncio.Future[Any]]) -> None:
        for acked in batch:
            if not acked.done():
                acked.set_exception(TimeoutError())
