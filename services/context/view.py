"""The query-side view: the latest context snapshot per customer and an identifier index.

Fed from the compacted ``customer-context`` topic (one snapshot per customer, the contract
in backbone/snapshot.py; null = erased). Entries are immutable and replaced whole, so
request handlers on the event loop read them without locks while the feed thread applies
new snapshots. An entry keeps the snapshot's JSON bytes, not the parsed objects: the view
of every customer is then a few objects per customer that the garbage collector has to
walk, instead of hundreds (a 20k-customer view of parsed snapshots made 1 s GC pauses).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from confluent_kafka import Message
from pydantic import ValidationError

from backbone import metrics
from backbone import snapshot as contract

log = logging.getLogger(__name__)

IndexKey = tuple[str, str]  # (identifier type, value)


@dataclass(frozen=True, slots=True)
class Entry:
    """One customer's snapshot plus what lookups and watermarks need, computed once."""

    customer_id: str
    version: int
    updated_at: int
    raw: bytes  # the snapshot as published; :meth:`snapshot` parses it again when needed
    # Tuples of strings, not sets: the collector stops tracking such tuples, never sets.
    applied: tuple[str, ...]  # last_event_ids and the timeline's ids
    index_keys: tuple[IndexKey, ...] = ()
    verified: tuple[IndexKey, ...] = ()
    newest: tuple[str, int] = ("", 0)  # (event id, ingested_at) of the newest timeline entry
    # Serialised responses by request key, filled lazily by the service (one entry = one
    # version, so a cache never goes stale: a new snapshot is a new Entry). Bytes only, so
    # the dict stays untracked by the collector.
    cache: dict[bytes, bytes] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(cls, customer_id: str, raw: bytes) -> Entry:
        """ValidationError when the snapshot breaks the contract."""
        return cls.of(customer_id, contract.parse(raw), raw)

    @classmethod
    def of(cls, customer_id: str, snap: contract.CustomerContext, raw: bytes) -> Entry:
        keys = tuple(dict.fromkeys((i.type, i.value) for i in snap.identities if i.value))
        verified = tuple((i.type, i.value) for i in snap.identities if i.verified)
        applied = tuple(dict.fromkeys([*snap.last_event_ids, *(t.event_id for t in snap.timeline)]))
        newest = (snap.timeline[0].event_id, snap.timeline[0].ingested_at) \
            if snap.timeline else ("", 0)
        return cls(customer_id, snap.version, snap.updated_at, raw, applied, keys, verified,
                   newest)

    def snapshot(self) -> contract.CustomerContext:
        return contract.parse(self.raw)

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
        # one customer id (the usual case, no set to track) or the ids sharing it
        self._index: dict[IndexKey, str | frozenset[str]] = {}
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
        if ids is None:
            return None
        if isinstance(ids, str):
            return self._customers.get(ids)
        key = (id_type, value)
        verified = [cid for cid in ids
                    if key in getattr(self._customers.get(cid), "verified", ())]
        if len(verified) == 1:
            return self._customers.get(verified[0])
        raise AmbiguousIdentifier(ids)

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
                self._apply(customer_id, Entry.parse(customer_id, value) if value else None)
            except ValidationError as exc:
                self.decode_errors += 1
                log.warning("context snapshot at %s[%s]@%s breaks the contract "
                            "(schemas/json/customer_context/v1.json): %s", msg.topic(),
                            msg.partition(), msg.offset(), exc.errors()[:3])
                continue
            changed.add(customer_id)
        metrics.GRPC_VIEW_CUSTOMERS.set(len(self._customers))
        if changed and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._notify, changed)
            except RuntimeError:  # loop closed at shutdown
                pass

    def _apply(self, customer_id: str, entry: Entry | None) -> None:
        old = self._customers.get(customer_id)
        if entry is None:  # tombstone: the customer was erased
            if old is not None:
                del self._customers[customer_id]
                self._unindex(customer_id, old.index_keys)
            return
        if old is not None and entry.version < old.version:
            return  # never go back in time (a replayed or reordered older snapshot)
        self._customers[customer_id] = entry
        if self.is_live() and (old is None or entry.version > old.version):
            self._observe_freshness(entry, old)
        before = frozenset(old.index_keys) if old is not None else frozenset()
        if old is not None:
            self._unindex(customer_id, before - frozenset(entry.index_keys))
        for key in entry.index_keys:
            if key not in before:
                self._index_add(key, customer_id)

    @staticmethod
    def _observe_freshness(entry: Entry, old: Entry | None) -> None:
        """Connector acceptance → visible here, for the newest event this snapshot added."""
        event_id, ingested = entry.newest
        if not event_id or (old is not None and event_id in old.applied):
            return
        if ingested > 0:
            metrics.FRESHNESS.observe(max(0.0, time.time() - ingested / 1000))

    def _index_add(self, key: IndexKey, customer_id: str) -> None:
        ids = self._index.get(key)
        if ids is None or ids == customer_id:
            self._index[key] = customer_id
        elif isinstance(ids, str):
            self._index[key] = frozenset((ids, customer_id))
        else:
            self._index[key] = ids | {customer_id}

    def _unindex(self, customer_id: str, keys: Iterable[IndexKey]) -> None:
        for key in keys:
            ids = self._index.get(key)
            remaining = frozenset() if ids is None or ids == customer_id else \
                frozenset((ids,)) if isinstance(ids, str) else ids - {customer_id}
            if len(remaining) > 1:
                self._index[key] = remaining
            elif remaining:
                self._index[key] = next(iter(remaining))
            else:
                self._index.pop(key, None)

    def _notify(self, customer_ids: set[str]) -> None:
        for cid in customer_ids:
            for event in self._watchers.get(cid, ()):
                event.set()
        for event in self._any_watchers:
            event.set()
