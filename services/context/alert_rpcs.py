"""WatchAlerts: the early warnings of ``ccb.alerts`` (docs/alerts.md) pushed to
supervisors' wallboards over gRPC, so a board needs no Kafka client.

The service replays the last day of the topic into an :class:`AlertBoard` (the records
follow schemas/json/alert/v1.json; others are skipped and counted); a watch gets the
alerts firing now, a ``caught_up`` marker, then every transition as it arrives.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from confluent_kafka import Message

from backbone import alert_record
from backbone.context.v1 import context_pb2 as pb
from backbone.errors import ValidationError
from services.context.auth import Authenticator
from services.context.status import rpc_stream
from services.context.watch import WatchSlots

log = logging.getLogger(__name__)
LOOKBACK_MS = 24 * 3_600_000
QUEUE_MAX = 1000  # transitions a slow watcher may fall behind before it is cut off


class AlertBoard:
    """Firing alerts by ``alert|channel|scope``; fans transitions out to watchers.
    Fed in the feed's consumer thread, read and watched on the event loop."""

    def __init__(self) -> None:
        self.active: dict[str, dict[str, Any]] = {}
        self.rejected = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchers: set[asyncio.Queue[dict[str, Any] | None]] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def apply_batch(self, messages: list[Message]) -> None:
        records = []
        for msg in messages:
            try:
                records.append(alert_record.parse(msg.value() or b""))
            except ValidationError as exc:
                self.rejected += 1
                log.warning("alert at %s[%s]@%s skipped: %s", msg.topic(), msg.partition(),
                            msg.offset(), exc)
        if not records:
            return
        if self._loop is None:
            self.apply(records)
            return
        try:
            self._loop.call_soon_threadsafe(self.apply, records)
        except RuntimeError:  # loop closed at shutdown
            pass

    def apply(self, records: list[dict[str, Any]]) -> None:
        for r in records:
            key = f"{r['alert']}|{r['channel']}|{r['scope']}"
            if r["state"] == "firing":
                self.active[key] = r
            else:
                self.active.pop(key, None)
            for queue in list(self._watchers):
                if queue.qsize() >= QUEUE_MAX:
                    self._watchers.discard(queue)
                    queue.put_nowait(None)  # too slow: end its stream
                else:
                    queue.put_nowait(r)

    def watch(self) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._watchers.add(queue)
        return queue

    def unwatch(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._watchers.discard(queue)


def alert_pb(r: dict[str, Any]) -> pb.Alert:
    value = r.get("value")
    return pb.Alert(alert=r["alert"], channel=r["channel"], scope=r["scope"],
                    state=r["state"], severity=r["severity"], at_ms=r["at"],
                    since_ms=r["since"], value=float(value or 0.0),
                    has_value=value is not None, threshold=float(r.get("threshold") or 0.0),
                    message=r.get("message") or "")


def _wanted(r: dict[str, Any], request: pb.WatchAlertsRequest) -> bool:
    return (not request.channels or r["channel"] in request.channels) and \
        str(r["scope"]).startswith(request.scope_prefix)


class AlertRpcs:
    """Mixed into the servicer, which provides the parts below."""

    _auth: Authenticator
    _alerts: AlertBoard
    _watch_slots: WatchSlots

    @rpc_stream("WatchAlerts")
    async def WatchAlerts(self, request: pb.WatchAlertsRequest,
                          context: grpc.aio.ServicerContext) -> AsyncIterator[pb.AlertUpdate]:
        principal = self._auth.authorize(context, "WatchAlerts")
        with self._watch_slots.hold(principal.name):
            queue = self._alerts.watch()  # before the snapshot: no transition is lost
            try:
                for r in sorted(self._alerts.active.values(), key=lambda a: -a["at"]):
                    if _wanted(r, request):
                        yield pb.AlertUpdate(alert=alert_pb(r), initial=True)
                yield pb.AlertUpdate(caught_up=True)
                while True:
                    change = await queue.get()
                    if change is None:
                        return
                    if _wanted(change, request):
                        yield pb.AlertUpdate(alert=alert_pb(change))
            finally:
                self._alerts.unwatch(queue)
