"""The queue_log connector: Asterisk's queue_log followed like ``tail -F``, at least once.

Lines become the AMI path's call events (:mod:`connectors.queue_log_mapper`). The
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
import contextlib
import json
import logging
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from backbone.errors import BackboneError, BackpressureError, ConfigurationError, ValidationError
from backbone.settings import Settings
from connectors import metrics as m
from connectors.base import Pipeline
from connectors.queue_log_mapper import QueueLogMapper
from connectors.records import Prepared

log = logging.getLogger(__name__)
NAME = "queue_log"
CHUNK = 64 * 1024
MAX_LINE = 16 * 1024  # real lines are < 1 KiB; longer "lines" are refused, not buffered
CHECKPOINT_INTERVAL_S = 1.0
Lines = list[tuple[int, int, bytes]]  # (first byte, byte after it, the line without "\n")


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class Outbox:
    """Events handed to Kafka, oldest first, each with the file offset of its line.

    PhoneConnector's send/settle pattern, plus what a checkpoint needs: an event Kafka
    failed is handed over again *in place*, so the oldest entry is always the oldest
    unacknowledged line. Futures are never awaited directly (a cancelled wait would cancel
    the delivery future).
    """

    def __init__(self, pipeline: Pipeline, on_ack: Callable[[asyncio.Future[int]], None],
                 window: int = 5_000):
        self.pipeline = pipeline
        self.window = window
        self.pending: deque[tuple[Prepared, asyncio.Future[int], int]] = deque()
        self._on_ack = on_ack
        self._refused = m.REFUSED.labels(pipeline.name)

    @property
    def oldest(self) -> int | None:
        return self.pending[0][2] if self.pending else None

    async def _hand_over(self, event: Prepared,
                         stop: asyncio.Event) -> asyncio.Future[int] | None:
        """Kafka has the event (future returned), or ``stop`` came while it was refused."""
        delay = 0.05
        while True:
            try:
                fut = self.pipeline.send(event)
            except BackpressureError:  # Kafka down or full: wait, keep the event
                self._refused.inc()
                if stop.is_set():
                    return None
                await _pause(stop, delay)
                delay = min(delay * 2, 2.0)
                continue
            fut.add_done_callback(self._on_ack)
            return fut

    async def send(self, event: Prepared, offset: int, stop: asyncio.Event) -> bool:
        fut = await self._hand_over(event, stop)
        if fut is None:
            return False
        self.pending.append((event, fut, offset))
        return True

    async def settle(self, stop: asyncio.Event, timeout_s: float | None = 0.0) -> bool:
        """Forget acknowledged events from the oldest on, re-sending failed ones; waits up to
        ``timeout_s`` for the oldest. False when a failed one could not be re-sent (stop)."""
        if self.pending and timeout_s != 0.0:
            await asyncio.wait((self.pending[0][1],), timeout=timeout_s)
        while self.pending and self.pending[0][1].done():
            event, fut, offset = self.pending[0]
            if fut.cancelled() or fut.exception() is not None:
                log.warning("%s: re-sending %s after %s", self.pipeline.name, event.event_id,
                            "cancellation" if fut.cancelled() else fut.exception())
                again = await self._hand_over(event, stop)
                if again is None:
                    return False
                self.pending[0] = (event, again, offset)
            else:
                self.pending.popleft()
        return True

    async def drain(self, stop: asyncio.Event) -> bool:
        """Wait until Kafka acknowledged everything; False when ``stop`` came first."""
        while self.pending:
            if stop.is_set() or not await self.settle(stop, 0.5):
                return False
        return True


class Tail:
    """The file side of ``tail -F`` (blocking calls: run them in a thread)."""

    def __init__(self, path: Path):
        self.path = path
        self.file: BinaryIO | None = None
        self.inode = 0
        self.read_to = 0  # offset just past the last byte read
        self.partial = b""  # a last line still waiting for its newline

    def open(self, inode: int | None, offset: int) -> bool:
        """Open at ``offset`` if the file still is ``inode``, else at 0; False while missing."""
        try:
            file = self.path.open("rb")
        except FileNotFoundError:
            return False
        st = os.fstat(file.fileno())
        start = offset if st.st_ino == inode and 0 <= offset <= st.st_size else 0
        if start:  # a reused inode: the checkpoint must still fall just after a newline
            file.seek(start - 1)
            start = start if file.read(1) == b"\n" else 0
        file.seek(start)
        self.file, self.inode, self.read_to, self.partial = file, st.st_ino, start, b""
        return True

    def read(self) -> Lines | None:
        """The complete lines of the next chunk; None at the end of the file."""
        assert self.file is not None
        data = self.file.read(CHUNK)
        if not data:
            return None
        offset = self.read_to - len(self.partial)
        self.read_to += len(data)
        *complete, self.partial = (self.partial + data).split(b"\n")
        out = []
        for raw in complete:
            out.append((offset, offset + len(raw) + 1, raw))
            offset += len(raw) + 1
        if len(self.partial) > MAX_LINE:
            out.append((offset, self.read_to, self.partial))
            self.partial = b""
        return out

    def rest(self) -> Lines:
        """Everything left in a rotated file, a last line without newline included."""
        out: Lines = []
        while (chunk := self.read()) is not None:
            out += chunk
        if self.partial:
            out.append((self.read_to - len(self.partial), self.read_to, self.partial))
            self.partial = b""
        return out

    def change(self) -> str | None:
        """``"rotated"`` (another file at the path), ``"truncated"`` or None."""
        assert self.file is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:  # mid-rotation: keep reading the old file
            return None
        if st.st_ino != self.inode:
            return "rotated"
        return "truncated" if os.fstat(self.file.fileno()).st_size < self.read_to else None

    def rewind(self) -> None:
        assert self.file is not None
        self.file.seek(0)
        self.read_to, self.partial = 0, b""

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


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
                await _pause(stop, 1.0)
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
                    await _pause(stop, self.poll_interval_s)  # not there yet
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
            await _pause(stop, self.poll_interval_s)

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
