"""WatchCustomerContext: the changes between successive snapshots, resumable by token.

The snapshot's ``last_event_ids`` lists the events applied to the customer in apply
order, so "what is new since the client's last update" is exact: the ids after the last
one the client saw. When that id has left the window (a long disconnect), the client gets
a full snapshot instead of a guess.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator

import grpc

from backbone import metrics
from backbone import snapshot as contract
from backbone.context.v1 import context_pb2 as pb
from services.context import mapping
from services.context import profile as profile_view
from services.context.status import invalid, retry_later
from services.context.view import ContextView, Entry

LIMIT_REASON = "WATCH_LIMIT_REACHED"


class WatchSlots:
    """At most ``per_principal`` open watch streams per principal; event loop only.

    A watch holds a stream, a view watcher and a coalescing event for as long as the
    client keeps it open, so one misbehaving caller must not hold them all. Only
    principals with an open stream are kept, so the map is bounded by the streams.
    """

    def __init__(self, per_principal: int, *, retry_after_s: float = 5.0):
        self._max = per_principal
        self._retry_after_s = retry_after_s
        self._open: dict[str, int] = {}
        metrics.GRPC_WATCH_STREAMS.set_function(lambda: sum(self._open.values()))

    def open_for(self, principal: str) -> int:
        return self._open.get(principal, 0)

    @contextlib.contextmanager
    def hold(self, principal: str) -> Iterator[None]:
        """Raises RESOURCE_EXHAUSTED (with RetryInfo) when the principal has no slot left."""
        held = self._open.get(principal, 0)
        if held >= self._max:
            raise retry_later(grpc.StatusCode.RESOURCE_EXHAUSTED,
                              f"{self._max} watch streams already open for this principal; "
                              "close one or try again later", self._retry_after_s, LIMIT_REASON)
        self._open[principal] = held + 1
        try:
            yield
        finally:
            left = self._open.get(principal, 1) - 1
            if left > 0:
                self._open[principal] = left
            else:
                self._open.pop(principal, None)


def encode_token(entry: Entry, snap: contract.CustomerContext | None = None) -> str:
    last = (snap or entry.snapshot()).last_event_ids or [""]
    raw = json.dumps({"c": entry.customer_id, "v": entry.version, "e": last[-1]})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_token(token: str, customer_id: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        cid, version, last = data["c"], int(data["v"]), str(data["e"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise invalid({"resume_token": "not a resume token from this service"}) from exc
    if cid != customer_id:
        raise invalid({"resume_token": "belongs to another customer"})
    return version, last


def _applied_after(snap: contract.CustomerContext, last_id: str) -> list[str] | None:
    """Event ids applied after ``last_id``, oldest first; None when it left the window."""
    order = snap.last_event_ids
    if not last_id or last_id not in order:
        return None
    return order[order.index(last_id) + 1:]


class _Differ:
    def __init__(self, channels: set[str], fresh: Callable[[Entry], pb.Freshness],
                 clearance: int = 1):
        self._channels = channels
        self._fresh = fresh
        self._clearance = clearance  # the caller's data level: the profile is masked by it

    def _entries(self, snap: contract.CustomerContext, ids: list[str]) -> list[pb.TimelineEntry]:
        by_id = {t.event_id: t for t in snap.timeline}
        picked = [by_id[i] for i in ids if i in by_id]
        return [mapping.timeline_entry(t) for t in picked
                if not self._channels or t.channel in self._channels]

    def snapshot(self, entry: Entry, snap: contract.CustomerContext | None = None
                 ) -> pb.ContextUpdate:
        snap = snap or entry.snapshot()
        ids = [t.event_id for t in reversed(snap.timeline)]  # oldest first
        journeys = [mapping.journey(j) for j in snap.journeys if mapping.is_open_journey(j)]
        return pb.ContextUpdate(customer_id=entry.customer_id,
                                new_entries=self._entries(snap, ids), changed_journeys=journeys,
                                full_snapshot=True, freshness=self._fresh(entry),
                                resume_token=encode_token(entry, snap),
                                profile=profile_view.summary(snap.profile, self._clearance))

    def diff(self, old: Entry | None, new: Entry, last_id: str) -> pb.ContextUpdate:
        snap = new.snapshot()
        ids = _applied_after(snap, last_id)
        if ids is None:
            return self.snapshot(new, snap)
        before = {j.journey_id: j for j in old.snapshot().journeys} if old is not None else {}
        changed = [mapping.journey(j) for j in snap.journeys if before.get(j.journey_id) != j]
        update = pb.ContextUpdate(customer_id=new.customer_id,
                                  new_entries=self._entries(snap, ids), changed_journeys=changed,
                                  freshness=self._fresh(new), resume_token=encode_token(new, snap))
        if old is None or old.snapshot().profile != snap.profile:  # e.g. consent withdrawn
            update.profile.CopyFrom(profile_view.summary(snap.profile, self._clearance))
        return update


async def watch_updates(view: ContextView, entry: Entry, request: pb.WatchCustomerContextRequest,
                        fresh: Callable[[Entry], pb.Freshness], clearance: int = 1
                        ) -> AsyncIterator[pb.ContextUpdate]:
    cid = entry.customer_id
    channels = {mapping.CHANNEL_NAMES[c] for c in request.channels if c in mapping.CHANNEL_NAMES}
    differ = _Differ(channels, fresh, clearance)
    changed = view.watch(cid)
    try:
        current = view.get(cid) or entry
        if request.resume_token:
            version, last_id = decode_token(request.resume_token, cid)
            if version != current.version:
                yield differ.diff(None, current, last_id)
        else:
            yield differ.snapshot(current)
        previous = current
        while True:
            await changed.wait()
            changed.clear()
            latest = view.get(cid)
            if latest is None:
                yield pb.ContextUpdate(customer_id=cid, erased=True)
                return
            if latest.version <= previous.version:
                continue
            last = previous.snapshot().last_event_ids or [""]
            yield differ.diff(previous, latest, last[-1])
            previous = latest
    finally:
        view.unwatch(cid, changed)
