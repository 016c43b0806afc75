"""The query-side view: the latest context snapshot per customer and an identifier index.

Fed from the compacted ``customer-context`` topic (one JSON snapshot per customer, null =
erased). Entries are immutable and replaced whole, so request handlers on the event loop
read them without locks while the feed thread applies new snapshots.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message

from backbone import metrics

log = logging.getLogger(__name__)

IndexKey = tuple[str, str]  # (identifier type, value)


@dataclass(frozen=True, slots=True)
class Entry:
    """One customer's snapshot plus what lookups and watermarks need, computed once."""

    customer_id: str
    version: int
    updated_at: int
    data: dict[str, Any]
    applied: frozenset[str]
    index_keys: frozenset[IndexKey] = field(default_factory=frozenset)
    # Built protobuf parts, filled lazily by the service (one entry = one version, so a
    # cache never goes stale: a new snapshot is a new Entry).
    cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_snapshot(cls, customer_id: str, data: dict[str, Any]) -> Entry:
        last = [str(e) for e in data.get("last_event_ids") or ()]
        timeline_ids = [str(t.get("event_id")) for t in data.get("timeline") or ()
                        if isinstance(t, dict) and t.get("event_id")]
        keys = frozenset(
            (str(i.get("type", "UNKNOWN")), str(i["value"]))
            for i in data.get("identities") or () if isinstance(i, dict) and i.get("value"))
        return cls(customer_id, int(data.get("version") or 0), int(data.get("updated_at") or 0),
                   data, frozenset(last) | frozenset(timeline_ids), keys)

    def has_applied(self, event_ids: Iterable[str]) -> bool:
        return all(e in self.applied for e in event_ids)


class AmbiguousIdentifier(Exception):
    """An identifier links several customers (a family phone): the caller must pick."""

    def __init__(self, customer_ids: frozenset[str]):
        super().__init__(f"identifier links {len(customer_ids)} customers")
        self.customer_ids = customer_ids


class ContextView:
    """Customers by id and by identifier; wakes waiters when a customer changes."""

    def __init__(self) -> None:
        # Set by the server to the feed's "caught up" test: snapshots applied after that
        # are live traffic, whose freshness is measured (start-up replay is not).
        self.is_live: Callable[[], bool] = lambda: False
        self._customers: dict[str, Entry] = {}
        self._index: dict[IndexKey, frozenset[str]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._any_watchers: set[asyncio.Event] = set()
        self.decode_errors = 0
        # The view holds every customer of the compacted topic (ccb_grpc_view_customers);
        # waiters are bounded by the open watch streams and concurrent calls.
        metrics.CACHE_ENTRIES.labels("view_identifiers").set_function(lambda: len(self._index))
        metrics.CACHE_ENTRIES.labels("view_waiters").set_function(self._waiter_count)

    def _waiter_count(self) -> int:
        return sum(len(events) for events in self._watchers.values()) + len(self._any_watchers)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def __len__(self) -> int:
        return len(self._customers)

    # -- reads (event loop) ----------------------------------------------------------
    def get(self, customer_id: str) -> Entry | None:
        return self._customers.get(customer_id)

    def resolve(self, id_type: str, value: str) -> Entry | None:
        """The customer an identifier belongs to; a verified link wins over unverified ones."""
        ids = self._index.get((id_type, value))
        if not ids:
            return None
        if len(ids) == 1:
            return self._customers.get(next(iter(ids)))
        verified = [cid for cid in ids if self._verified(cid, id_type, value)]
        if len(verified) == 1:
            return self._customers.get(verified[0])
        raise AmbiguousIdentifier(ids)

    def _verified(self, customer_id: str, id_type: str, value: str) -> bool:
        entry = self._customers.get(customer_id)
        if entry is None:
            return False
        return any(i.get("type") == id_type and i.get("value") == value and i.get("verified")
                   for i in entry.data.get("identities") or ())

    def watch(self, customer_id: str) -> asyncio.Event:
        event = asyncio.Event()
        self._watchers.setdefault(customer_id, set()).add(event)
        return event

    def unwatch(self, customer_id: str, event: asyncio.Event) -> None:
        events = self._watchers.get(customer_id)
        if events is not None:
            events.discard(event)
            if not events:
                del self._watchers[customer_id]

    def watch_any(self) -> asyncio.Event:
        """An event set on the next change of any customer (waiting for a new customer)."""
        event = asyncio.Event()
        self._any_watchers.add(event)
        return event

    def unwatch_any(self, event: asyncio.Event) -> None:
        self._any_watchers.discard(event)

    # -- writes (feed thread) --------------------------------------------------------
    def apply_batch(self, messages: list[Message]) -> None:
        changed: set[str] = set()
        for msg in messages:
            key = msg.key()
            if not key:
                continue
            customer_id = key.decode("utf-8", "replace")
            value = msg.value()
            try:
                self._apply(customer_id, json.loads(value) if value else None)
            except (ValueError, TypeError, KeyError):
                self.decode_errors += 1
                log.warning("unreadable context snapshot at %s[%s]@%s",
                            msg.topic(), msg.partition(), msg.offset())
                continue
            changed.add(customer_id)
        metrics.GRPC_VIEW_CUSTOMERS.set(len(self._customers))
        if changed and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._notify, changed)
            except RuntimeError:  # loop closed at shutdown
                pass

    def _apply(self, customer_id: str, data: dict[str, Any] | None) -> None:
        old = self._customers.get(customer_id)
        if data is None:  # tombstone: the customer was erased
            if old is not None:
                del self._customers[customer_id]
                self._unindex(customer_id, old.index_keys)
            return
        entry = Entry.from_snapshot(customer_id, data)
        if old is not None and entry.version < old.version:
            return  # never go back in time (a replayed or reordered older snapshot)
        self._customers[customer_id] = entry
        if self.is_live() and (old is None or entry.version > old.version):
            self._observe_freshness(data, old)
        if old is not None:
            self._unindex(customer_id, old.index_keys - entry.index_keys)
        for key in entry.index_keys - (old.index_keys if old else frozenset()):
            self._index[key] = self._index.get(key, frozenset()) | {customer_id}

    @staticmethod
    def _observe_freshness(data: dict[str, Any], old: Entry | None) -> None:
        """Connector acceptance → visible here, for the newest event this snapshot added."""
        timeline = data.get("timeline") or ()
        newest = timeline[0] if timeline else None
        if not isinstance(newest, dict) or (old is not None and newest.get("event_id") in old.applied):
            return
        ingested = newest.get("ingested_at")
        if isinstance(ingested, int | float) and ingested > 0:
            metrics.FRESHNESS.observe(max(0.0, time.time() - ingested / 1000))

    def _unindex(self, customer_id: str, keys: Iterable[IndexKey]) -> None:
        for key in keys:
            remaining = self._index.get(key, frozenset()) - {customer_id}
            if remaining:
                self._index[key] = remaining
            else:
                self._index.pop(key, None)

    def _notify(self, customer_ids: set[str]) -> None:
        for cid in customer_ids:
            for event in self._watchers.get(cid, ()):
                event.set()
        for event in self._any_watchers:
            event.set()
