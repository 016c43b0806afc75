"""Complaints across customers, for ListComplaints and UpdateComplaint: an index fed from
the same ``customer-context`` snapshots as the view (services/context/view.py).

Most customers have no complaint, and their snapshots are skipped by a byte check before
any parsing; only snapshots that hold complaints are parsed (their ``complaints`` list).
Applied in the feed's consumer thread; each customer's entry is a tuple replaced whole,
so handlers on the event loop read it without locks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Message

log = logging.getLogger(__name__)
NO_COMPLAINTS = b'"complaints":[]'
OPEN = frozenset({"opened", "acknowledged", "assigned", "escalated", "extended",
                  "reopened"})


@dataclass(frozen=True, slots=True)
class Complaint:
    customer_id: str
    version: int
    record: dict[str, Any]  # one item of the snapshot's complaints (backbone/snapshot.py)

    @property
    def complaint_id(self) -> str:
        return str(self.record["complaint_id"])

    @property
    def open(self) -> bool:
        return self.record.get("status") in OPEN

    def due(self) -> int:
        return int(self.record.get("due_at") or 0)


class ComplaintIndex:
    def __init__(self) -> None:
        self._by_customer: dict[str, tuple[Complaint, ...]] = {}
        self._owner: dict[str, str] = {}  # complaint id -> customer id

    def __len__(self) -> int:
        return len(self._owner)

    def apply_batch(self, messages: list[Message]) -> None:
        for msg in messages:
            key = msg.key()
            if key:
                self.apply(key.decode("utf-8", "replace"), msg.value())

    def apply(self, customer_id: str, raw: bytes | None) -> None:
        if raw is None or NO_COMPLAINTS in raw:
            if customer_id in self._by_customer:
                self._set(customer_id, ())
            return
        try:
            snap = orjson.loads(raw)
            version = int(snap["version"])
            items = snap["complaints"]
        except (ValueError, KeyError, TypeError):
            return  # the view counts and logs snapshots that break the contract
        old = self._by_customer.get(customer_id)
        if old and old[0].version > version:
            return  # never go back (a replayed older snapshot)
        self._set(customer_id, tuple(Complaint(customer_id, version, dict(c)) for c in items))

    def _set(self, customer_id: str, complaints: tuple[Complaint, ...]) -> None:
        for c in self._by_customer.get(customer_id, ()):
            if self._owner.get(c.complaint_id) == customer_id:
                del self._owner[c.complaint_id]
        if complaints:
            self._by_customer[customer_id] = complaints
            for c in complaints:
                self._owner[c.complaint_id] = customer_id
        else:
            self._by_customer.pop(customer_id, None)

    def get(self, complaint_id: str) -> Complaint | None:
        cid = self._owner.get(complaint_id)
        return next((c for c in self._by_customer.get(cid or "", ())
                     if c.complaint_id == complaint_id), None)

    def all(self) -> Iterator[Complaint]:
        for complaints in list(self._by_customer.values()):
            yield from complaints

    def open(self, *, owner: str = "", team: str = "", due_before: int = 0,
             overdue_at: int | None = None, channels: Iterable[str] = ()) -> list[Complaint]:
        """Open complaints matching every given filter, earliest due first."""
        wanted = set(channels)
        found = [c for c in self.all() if c.open
                 and (not owner or c.record.get("owner") == owner)
                 and (not team or c.record.get("team") == team)
                 and (not due_before or c.due() < due_before)
                 and (overdue_at is None or c.due() < overdue_at)
                 and (not wanted or c.record.get("channel") in wanted)]
        found.sort(key=lambda c: (c.due(), c.complaint_id))
        return found
