"""A minimal asyncio Asterisk Manager Interface client: login, event frames, reconnect.

Own client rather than panoramisk because the connector needs backpressure: the next
frame is read only after the handler returned, so when Kafka is slow the handler
blocks, we stop reading, and TCP pushes back on Asterisk. While ``ready()`` is false
(Kafka unreachable) no chunk is read at all, so events wait in Asterisk's buffer rather
than in ours. Reconnects back off exponentially with jitter; a refused login backs off
too instead of hammering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable

from backbone.errors import BackboneError

log = logging.getLogger(__name__)

Frame = dict[str, str]
FrameHandler = Callable[[Frame], Awaitable[None]]
MAX_FRAME = 64 * 1024


class AmiError(BackboneError):
    code = "ami"
    retriable = True


def parse_frame(raw: bytes) -> Frame:
    """``Key: Value`` lines; the first occurrence of a repeated key wins."""
    frame: Frame = {}
    for line in raw.decode("utf-8", errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key and key not in frame:
            frame[key.strip()] = value.strip()
    return frame


def action(name: str, **fields: str) -> bytes:
    lines = [f"Action: {name}"] + [f"{k}: {v}" for k, v in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class AmiClient:
    """Keeps one AMI session alive and feeds every event frame to ``handler``."""

    def __init__(self, host: str, port: int, username: str, secret: str,
                 handler: FrameHandler, *, min_backoff_s: float = 0.2,
                 max_backoff_s: float = 30.0, ready: Callable[[], bool] | None = None,
                 ready_poll_s: float = 0.2):
        self.host, self.port = host, port
        self._username, self._secret = username, secret
        self._handler = handler
        self._ready = ready or (lambda: True)
        self._ready_poll_s = ready_poll_s
        self.paused_s = 0.0  # total time reading was paused for an unready sink
        self.min_backoff_s, self.max_backoff_s = min_backoff_s, max_backoff_s
        self.connected = asyncio.Event()
        self.sessions = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, read until the peer goes away, back off, repeat until ``stop``."""
        backoff = self.min_backoff_s
        while not stop.is_set():
            try:
                await self._session(stop)
                backoff = self.min_backoff_s
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    AmiError) as exc:
                log.warning("AMI %s:%s: %s; reconnecting in %.1fs", self.host, self.port,
                            exc, backoff)
            except BackboneError as exc:  # from the handler (e.g. the registry): never the end
                log.warning("AMI %s:%s: handler failed (%s: %s); reconnecting in %.1fs",
                            self.host, self.port, exc.code, exc, backoff)
            finally:
                self.connected.clear()
            if stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff * (0.5 + random.random()))  # noqa: S311
            backoff = min(backoff * 2, self.max_backoff_s)

    async def _read_events(self, reader: asyncio.StreamReader, stop: asyncio.Event) -> None:
        """Read in chunks and split frames ourselves: per-frame awaits cost more than mapping."""
        buffer = b""
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                if not self._ready() and not await self._wait_ready(stop):
                    return
                reading = asyncio.ensure_future(reader.read(MAX_FRAME))
                await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stopping.done():
                    reading.cancel()
                    return
                chunk = reading.result()
                if not chunk:
                    raise AmiError("AMI peer closed the connection")
                *frames, buffer = (buffer + chunk).split(b"\r\n\r\n")
                if len(buffer) > MAX_FRAME:
                    raise AmiError("AMI frame larger than 64 KiB")
                for raw in frames:
                    frame = parse_frame(raw)
                    if "Event" in frame:
                        await self._handler(frame)  # backpressure: no read until it returns
        finally:
            stopping.cancel()

    async def _wait_ready(self, stop: asyncio.Event) -> bool:
        """Pause reading until ``ready()``; False when ``stop`` came first."""
        started = time.monotonic()
        log.warning("AMI %s:%s: sink not ready (Kafka or the schema registry unreachable);"
                    " pausing reads",
                    self.host, self.port)
        try:
            while not self._ready():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._ready_poll_s)
                if stop.is_set():
                    return False
        finally:
            self.paused_s += time.monotonic() - started
        log.warning("AMI %s:%s: sink ready again after %.1fs; reading", self.host, self.port,
                    time.monotonic() - started)
        return True

    async def _session(self, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_FRAME)
        try:
            banner = await asyncio.wait_for(reader.readline(), 10)
            if not banner.startswith(b"Asterisk Call Manager"):
                raise AmiError(f"not an AMI server (banner {banner[:40]!r})")
            writer.write(action("Login", Username=self._username, Secret=self._secret,
                                Events="on", ActionID="ccb-login"))
            await writer.drain()
            while True:  # events may precede the login response
                frame = parse_frame(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10))
                if frame.get("ActionID") == "ccb-login":
                    break
            if frame.get("Response") != "Success":
                raise AmiError(f"AMI login refused: {frame.get('Message', '')}")
            self.sessions += 1
            self.connected.set()
            await self._read_events(reader, stop)
        finally:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()
