"""The queue_log connector: Asterisk's queue_log followed like ``tail -F``, at least once.

Lines become the AMI path's call events (:mod:`connectors.queue_log_mapper`); the file is
read by :mod:`connectors.tail` and events wait for Kafka in :mod:`connectors.outbox`. The
checkpoint (a JSON file: inode + offset of the first byte whose events Kafka has not
acknowledged) is written atomically, so a restart re-reads only unacknowledged lines and
the deterministic event ids make those harmless. Rotation (a new inode at the path) and
truncation are met by finishing and draining the old content first, so the checkpoint
always names the file being read. Two gaps ``tail -F`` shares: lines Asterisk writes to
the old file after the new one appeared, and the tail of a rotated file unacknowledged at
a crash (the restart starts the new file at 0, as its inode differs), are not read.
Kafka slow or down: reading stops and events wait (backpressure), nothing is dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

from backbone.errors import BackboneError, ConfigurationError, ValidationError
from backbone.settings import Settings
from connectors import metrics as m
from connectors.base import Pipeline
from connectors.outbox import Outbox, pause
from connectors.queue_log_mapper import QueueLogMapper
from connectors.records import Prepared
from connectors.tail import Lines, Tail

log = logging.getLogger(__name__)
NAME = "queue_log"
CHECKPOINT_INTERVAL_S = 1.0


class QueueLogConnector:
    """Built without I/O; ``run(stop)`` follows the file and feeds Kafka until ``stop``."""

    def __init__(self, settings: Settings, *, path: str | Path | None = None,
                 state_path: str | Path | None = None, pipeline: Pipeline | None = None,
                 poll_interval_s: float = 0.2) -> None:
        path = path or settings.queue_log_path
        if not path:
            raise ConfigurationError("queue_log needs a file: set CCB_QUEUE_LOG_PATH")
        self.settings = settings
        self.path = Path(path)
        self.state_path = Path(state_path or settings.queue_log_state_path)
        self.pipeline = pipeline or Pipeline(settings, NAME)
        self.mapper = QueueLogMapper(self.pipeline)
        self.poll_interval_s = poll_interval_s
        self.acked: int = 0
        self.lines: int = 0
        self._outbox = Outbox(self.pipeline, self._on_ack)
        self._tail = Tail(self.path)
        self._next_line = 0  # offset of the first line not yet handed to the outbox
        self._saved: dict[str, Any] | None = None
        self._saved_at = 0.0
        name = self.pipeline.name
        m.IN_FLIGHT.labels(name).set_function(lambda: len(self._outbox.pending))
        self._published = m.PUBLISHED.labels(name)
        self._unmapped = m.IGNORED.labels(name, "unmapped")

    def _on_ack(self, fut: asyncio.Future[int]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self.acked += 1
            self._published.inc()

    # -- lines -----------------------------------------------------------------------
    async def _map(self, raw: bytes, stop: asyncio.Event) -> list[Prepared] | None:
        """The line's events ([] when ignored or refused); None on stop while retrying."""
        text = raw.decode("utf-8", "replace")
        while True:
            try:
                events = self.mapper.map(text)
            except BackboneError as exc:
                if not exc.retriable:  # a bad line (or a value the contract refuses)
                    error = exc if isinstance(exc, ValidationError) else ValidationError(
                        exc.message, code=exc.code)
                    event = text.split("|", 5)[4:5] or [""]
                    await self.pipeline.reject(error, raw, attributes={"event": event[0][:32]})
                    return []
                log.warning("%s: cannot map a line yet (%s); retrying", self.pipeline.name, exc)
                await pause(stop, 1.0)
                if stop.is_set():
                    return None
                continue
            if not events:
                self._unmapped.inc()
            return events

    async def _process(self, lines: Lines, stop: asyncio.Event) -> bool:
        """Hand the lines' events to Kafka in order; False when ``stop`` interrupted."""
        for offset, end, raw in lines:
            if stop.is_set():
                return False
            self.pipeline.received()
            events = await self._map(raw, stop)
            if events is None:
                return False
            for event in events:
                if not await self._outbox.send(event, offset, stop):
                    return False
            self.lines += 1
            self._next_line = end
            while len(self._outbox.pending) >= self._outbox.window:  # Kafka catches up first
                if stop.is_set() or not await self._outbox.settle(stop, 0.5):
                    return False
        return True

    # -- checkpoint ------------------------------------------------------------------
    def _load(self) -> tuple[int | None, int]:
        try:
            state = json.loads(self.state_path.read_text())
            return int(state["inode"]), int(state["offset"])
        except FileNotFoundError:
            return None, 0
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: checkpoint %s unreadable (%s); reading from the start",
                        self.pipeline.name, self.state_path, exc)
            return None, 0

    def _write(self, state: dict[str, Any]) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.state_path.with_name(self.state_path.name + ".tmp")
        with temp.open("w") as out:
            json.dump(state, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, self.state_path)

    async def _checkpoint(self, *, force: bool = False) -> None:
        """Save the first unacknowledged offset when it moved (at most once a second)."""
        if self._tail.file is None:
            return
        oldest = self._outbox.oldest
        state = {"path": str(self.path), "inode": self._tail.inode,
                 "offset": self._next_line if oldest is None else oldest}
        now = asyncio.get_running_loop().time()
        if state == self._saved or (not force and now - self._saved_at < CHECKPOINT_INTERVAL_S):
            return
        await asyncio.to_thread(self._write, state)
        self._saved, self._saved_at = state, now

    # -- following -------------------------------------------------------------------
    async def _follow(self, stop: asyncio.Event) -> None:
        inode, offset = await asyncio.to_thread(self._load)
        while not stop.is_set():
            if self._tail.file is None:
                if not await asyncio.to_thread(self._tail.open, inode, offset):
                    await pause(stop, self.poll_interval_s)  # not there yet
                    continue
                self._next_line = self._tail.read_to
                await self._checkpoint(force=True)
            lines = await asyncio.to_thread(self._tail.read)
            if lines is not None:
                if not await self._process(lines, stop) or not await self._outbox.settle(stop):
                    return
                await self._checkpoint()
                continue
            change = await asyncio.to_thread(self._tail.change)
            if change == "rotated":  # finish the old file, then the new one from its start
                if not await self._process(await asyncio.to_thread(self._tail.rest), stop):
                    return
            if change is not None:
                log.info("%s: %s %s", self.pipeline.name, self.path, change)
                if not await self._outbox.drain(stop):
                    return
                if change == "rotated":  # the checkpoint moves to the new file once open
                    self._tail.close()
                    inode, offset = None, 0
                else:
                    self._tail.rewind()
                    self._next_line = 0
                    await self._checkpoint(force=True)
                continue
            if not await self._outbox.settle(stop):
                return
            await self._checkpoint()
            await pause(stop, self.poll_interval_s)

    async def run(self, stop: asyncio.Event, *, manage_pipeline: bool = True) -> None:
        if manage_pipeline:
            await self.pipeline.start()
        try:
            await self._follow(stop)
        finally:
            # What Kafka has not acknowledged by now is read again after the restart.
            give_up = asyncio.Event()
            timer = asyncio.get_running_loop().call_later(self.settings.publish_timeout_s,
                                                          give_up.set)
            try:
                await self._outbox.drain(give_up)
            finally:
                timer.cancel()
            await self._checkpoint(force=True)
            self._tail.close()
            if manage_pipeline:
                await self.pipeline.stop()
