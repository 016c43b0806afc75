"""Alerts for the wallboard: which are firing now and which fired or cleared recently.

The board is fed by an :class:`AlertSource`. Today that is :class:`KafkaAlertSource`,
which reads the ``alerts`` topic the stream processors' KPI stage writes (AlertTransition
records, schemas/json/alert/v1.json); when the context service serves a WatchAlerts rpc, a
source that reads it replaces this one and nothing else changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from backbone.settings import Settings
from backbone.topics import by_name

log = logging.getLogger(__name__)
RECENT = 50
LOOKBACK_MS = 24 * 3_600_000  # alerts older than a day cannot still be open


class AlertBoard:
    """Open alerts by ``alert|channel|scope`` and the last transitions, newest first."""

    def __init__(self, recent: int = RECENT):
        self.active: dict[str, dict[str, Any]] = {}
        self.recent: deque[dict[str, Any]] = deque(maxlen=recent)
        self.version = 0
        self._changed = asyncio.Event()

    def apply(self, alert: dict[str, Any]) -> None:
        name = str(alert.get("alert") or "")
        if not name:
            return
        key = f"{name}|{alert.get('channel', '')}|{alert.get('scope', '')}"
        if alert.get("state") == "firing":
            self.active[key] = alert
        else:
            self.active.pop(key, None)
        self.recent.appendleft(alert)
        self.version += 1
        self._changed.set()

    def replace(self, firing: list[dict[str, Any]]) -> None:
        """The firing alerts as a (re)connected source lists them, replacing what it had."""
        self.active = {f"{a.get('alert')}|{a.get('channel', '')}|{a.get('scope', '')}": a
                       for a in firing}
        self.version += 1
        self._changed.set()

    def snapshot(self) -> dict[str, Any]:
        active = sorted(self.active.values(), key=lambda a: a.get("at") or 0, reverse=True)
        return {"active": active, "recent": list(self.recent), "version": self.version}

    async def wait_changed(self, version: int, timeout_s: float) -> bool:
        """True as soon as the board is newer than ``version``; False after the timeout."""
        if self.version != version:
            return True
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout_s)
        except TimeoutError:
            return False
        return True


class AlertSource(Protocol):
    """Where a wallboard stream's alerts come from."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def board(self, token: str) -> AbstractAsyncContextManager[AlertBoard]:
        """The board one wallboard stream shows, for the stream's lifetime.

        A WatchAlerts source opens the rpc here with the user's ``token`` (the context
        service then authorises it) and feeds a board of the stream's own; the Kafka source
        shares one board and needs no token (the stream sends alerts only after the user's
        own KPI read succeeded)."""
        ...


def _auth(settings: Settings) -> dict[str, Any]:
    """aiokafka connection settings matching the librdkafka ones (SASL / TLS)."""
    auth: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_sasl_mechanism:
        auth |= {"sasl_mechanism": settings.kafka_sasl_mechanism,
                 "sasl_plain_username": settings.kafka_sasl_username or "",
                 "sasl_plain_password": settings.kafka_sasl_password.get_secret_value()
                 if settings.kafka_sasl_password else ""}
    context = settings.kafka_ssl_context()
    if context is not None:
        auth["ssl_context"] = context
    return auth


class KafkaAlertSource:
    """Reads the alerts topic from a day back (no consumer group: nothing committed)."""

    def __init__(self, settings: Settings, retry_s: float = 2.0):
        self.topic = settings.topic("alerts")
        self.shared = AlertBoard()
        self._settings = settings
        self._retry_s = retry_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(self.shared))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.asynccontextmanager
    async def board(self, token: str) -> AsyncIterator[AlertBoard]:
        yield self.shared

    async def run(self, board: AlertBoard) -> None:
        while True:
            try:
                await self._follow(board)
            except asyncio.CancelledError:
                raise
            except Exception:  # broker down, topic missing: retry; the wallboard says stale
                log.warning("alerts topic %s unreadable; retrying", self.topic, exc_info=True)
            await asyncio.sleep(self._retry_s)

    async def _follow(self, board: AlertBoard) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=self._settings.kafka_bootstrap,
                                    group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest", **_auth(self._settings))
        await consumer.start()
        try:
            if self.topic not in await consumer.topics():
                raise RuntimeError(f"topic {self.topic} not found")
            # Every partition of the catalogue's count, assigned by hand (no group).
            tps = [TopicPartition(self.topic, p) for p in range(by_name("alerts").partitions)]
            consumer.assign(tps)
            since = int(time.time() * 1000) - LOOKBACK_MS
            offsets = await consumer.offsets_for_times({tp: since for tp in tps})
            for tp in tps:
                found = offsets.get(tp)
                if found is None:
                    await consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, found.offset)
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        _apply(board, record.value)
        finally:
            await consumer.stop()


def _apply(board: AlertBoard, value: bytes | None) -> None:
    try:
        alert = json.loads(value or b"null")
    except ValueError:
        log.warning("unreadable alert record")
        return
    if isinstance(alert, dict):
        board.apply(alert)
