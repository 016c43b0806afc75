"""The handoff book: every handoff's state, replayed from the ``handoffs`` topic (the log
decides: the first terminal event of a handoff in log order wins; see handoff.py)."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from confluent_kafka import Message

from backbone import metrics, vocabulary
from backbone.avro_reader import EventDecoder
from backbone.errors import BackboneError, SchemaRegistryError
from backbone.models import event_id

log = logging.getLogger(__name__)
SOURCE = "context-service"
CODE_DIGITS = 8
TERMINAL = {vocabulary.HANDOFF_ACCEPTED: "accepted", vocabulary.HANDOFF_CANCELLED: "cancelled",
            vocabulary.HANDOFF_EXPIRED: "expired"}
ERROR_REASON = {"accepted": "HANDOFF_ALREADY_ACCEPTED", "cancelled": "HANDOFF_CANCELLED",
                "expired": "HANDOFF_EXPIRED"}


@dataclass(frozen=True, slots=True)
class Handoff:
    handoff_id: str
    customer_id: str
    from_channel: str
    to_channel: str
    journey_id: str
    reason: str
    summary: str
    created_at: int
    expires_at: int
    created_by: str
    instance: str
    # In-memory lookup keys (HMACs of token and code), never published.
    token_hash: str
    code_hash: str
    status: str = "created"
    closed_at: int = 0
    closed_by: str = ""
    winning_attempt: str = ""


def created_event_id(handoff_id: str) -> str:
    return event_id(SOURCE, f"{handoff_id}:created")


def closed_event_id(handoff_id: str) -> str:
    """Shared by every terminal attempt, so processors keep only the first (the winner)."""
    return event_id(SOURCE, f"{handoff_id}:closed")


class HandoffBook:
    """Handoff state replayed from the ``handoffs`` topic; mutated on the event loop only.

    Bounded: a closed handoff (accepted / cancelled / expired) is kept ``retention_s``
    after closing, so a late redeemer still hears "already accepted", then evicted; beyond
    ``max_size`` handoffs the oldest closed ones go first, then the oldest open ones.
    """

    def __init__(self, decoder: EventDecoder, topic: str, *, retention_s: float = 3600.0,
                 max_size: int = 100_000):
        self._decoder = decoder
        self._closing = threading.Event()
        self.waiting_for_registry = False
        self._topic = topic
        self._retention_ms = int(retention_s * 1000)
        self._max_size = max_size
        self._by_id: dict[str, Handoff] = {}  # insertion order = oldest created first
        self._closed: OrderedDict[str, int] = OrderedDict()  # id -> closed_at, close order
        self._by_token: dict[str, str] = {}
        self._by_code: dict[str, set[str]] = {}
        self._by_customer: dict[str, set[str]] = {}
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._change_watchers: set[asyncio.Event] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lookup_keys: Callable[[str], tuple[str, str]] | None = None
        metrics.GRPC_HANDOFF_BOOK.labels("open").set_function(
            lambda: len(self._by_id) - len(self._closed))
        metrics.GRPC_HANDOFF_BOOK.labels("closed").set_function(lambda: len(self._closed))

    def __len__(self) -> int:
        return len(self._by_id)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def derive_lookup_keys(self, keys: Callable[[str], tuple[str, str]]) -> None:
        """How to get a replayed handoff's (token hash, code hash) from its id."""
        self._lookup_keys = keys

    # -- lookups ---------------------------------------------------------------------
    def get(self, handoff_id: str) -> Handoff | None:
        return self._by_id.get(handoff_id)

    def by_token(self, token_hash: str) -> Handoff | None:
        hid = self._by_token.get(token_hash)
        return self._by_id.get(hid) if hid else None

    def by_code(self, code_hash: str) -> list[Handoff]:
        return [self._by_id[h] for h in self._by_code.get(code_hash, ()) if h in self._by_id]

    def active_codes(self) -> set[str]:
        return {h.code_hash for h in self._by_id.values() if h.status == "created"}

    def active_for(self, customer_id: str) -> list[Handoff]:
        ids = self._by_customer.get(customer_id)
        if not ids:
            return []
        return [h for h in (self._by_id[i] for i in ids) if h.status == "created"]

    def open_handoffs(self) -> list[Handoff]:
        return [h for h in self._by_id.values() if h.status == "created"]

    def decided(self, handoff_id: str) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters.setdefault(handoff_id, set()).add(event)
        return event

    def forget_waiter(self, handoff_id: str, event: asyncio.Event) -> None:
        waiters = self._waiters.get(handoff_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[handoff_id]

    # -- state -----------------------------------------------------------------------
    def add(self, handoff: Handoff) -> None:
        if handoff.handoff_id in self._by_id:
            return
        self._by_id[handoff.handoff_id] = handoff
        self._by_token[handoff.token_hash] = handoff.handoff_id
        self._by_code.setdefault(handoff.code_hash, set()).add(handoff.handoff_id)
        self._by_customer.setdefault(handoff.customer_id, set()).add(handoff.handoff_id)
        while len(self._by_id) > self._max_size:
            oldest = next(iter(self._closed)) if self._closed else next(iter(self._by_id))
            self._remove(oldest)

    def evict_closed(self, now_ms: int) -> int:
        """Forget handoffs closed more than the retention ago; returns how many went."""
        horizon = now_ms - self._retention_ms
        evicted = 0
        while self._closed:
            hid, closed_at = next(iter(self._closed.items()))
            if closed_at > horizon:
                break
            self._remove(hid)
            evicted += 1
        return evicted

    def _remove(self, handoff_id: str) -> None:
        handoff = self._by_id.pop(handoff_id, None)
        self._closed.pop(handoff_id, None)
        if handoff is None:
            return
        if self._by_token.get(handoff.token_hash) == handoff_id:
            del self._by_token[handoff.token_hash]
        for index, key in ((self._by_code, handoff.code_hash),
                           (self._by_customer, handoff.customer_id)):
            ids = index.get(key)
            if ids is not None:
                ids.discard(handoff_id)
                if not ids:
                    del index[key]

    def apply_batch(self, messages: list[Message]) -> None:
        """Feed thread: decode, then apply on the loop (handlers read this state there)."""
        events = []
        for msg in messages:
            try:
                events.append(self._decode(msg))
            except BackboneError as exc:
                log.warning("unreadable handoff event at offset %s: %s", msg.offset(), exc)
        if events and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._apply_events, events)
            except RuntimeError:
                pass

    def _apply_events(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.apply(event)
        for watcher in self._change_watchers:
            watcher.set()

    def watch_changes(self) -> asyncio.Event:
        """Set whenever replayed events were applied (e.g. another instance's create)."""
        event = asyncio.Event()
        self._change_watchers.add(event)
        return event

    def unwatch_changes(self, event: asyncio.Event) -> None:
        self._change_watchers.discard(event)

    def apply(self, event: dict[str, Any]) -> None:
        payload = event.get("payload") or {}
        attrs = event.get("attributes") or {}
        hid = payload.get("handoff_id")
        if not hid:
            return
        if event["event_type"] == vocabulary.HANDOFF_CREATED:
            # Events written before credentials were derived carried the hashes.
            token_hash, code_hash = attrs.get("token_hash", ""), attrs.get("code_hash", "")
            if not token_hash and self._lookup_keys is not None:
                token_hash, code_hash = self._lookup_keys(hid)
            self.add(Handoff(
                handoff_id=hid, customer_id=attrs.get("customer_id", ""),
                from_channel=str(payload.get("from_channel")),
                to_channel=str(payload.get("to_channel")), journey_id=event.get("journey_id") or "",
                reason=event.get("reason") or "", summary=payload.get("summary") or "",
                created_at=int(event["occurred_at"]), expires_at=int(attrs.get("expires_at", 0)),
                created_by=attrs.get("principal", ""), instance=attrs.get("instance", ""),
                token_hash=token_hash, code_hash=code_hash))
            return
        status = TERMINAL.get(event["event_type"])
        current = self._by_id.get(hid)
        if status is None or current is None or current.status != "created":
            return  # not terminal, unknown, or a losing attempt: the first one already won
        self._by_id[hid] = replace(current, status=status, closed_at=int(event["occurred_at"]),
                                   closed_by=attrs.get("principal", ""),
                                   winning_attempt=attrs.get("attempt_id", ""))
        self._closed[hid] = int(event["occurred_at"])
        for waiter in self._waiters.pop(hid, ()):
            waiter.set()


    def _decode(self, msg: Message) -> dict[str, Any]:
        """One event; while the registry cannot say what its writer schema is, wait and
        retry (the feed stalls, so the service is not ready: a handoff is never skipped)."""
        delay = 0.2
        while True:
            try:
                record = self._decoder.decode(self._topic, msg.value())
            except SchemaRegistryError as exc:
                if self._closing.is_set():
                    raise
                if not self.waiting_for_registry:
                    log.warning("handoff event at offset %s waits for its writer schema: %s",
                                msg.offset(), exc)
                self.waiting_for_registry = True
                self._closing.wait(delay * (0.5 + random.random()))  # noqa: S311 - jitter
                delay = min(delay * 2, 10.0)
                continue
            self.waiting_for_registry = False
            return record

    def close(self) -> None:
        """Stop waiting for the registry (shutdown)."""
        self._closing.set()
