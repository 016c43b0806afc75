"""Server-Sent Events over a streaming aiohttp response.

The browser reads them with ``fetch`` and a stream reader instead of ``EventSource``,
because ``EventSource`` cannot send an ``Authorization`` header and the token must never
travel in a URL or a cookie.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

HEARTBEAT_S = 10.0  # a comment line this often: proxies keep the stream, dead peers show


class StreamLimit:
    """At most ``limit`` open streams per process (the rest get 503 + Retry-After)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.open = 0

    def __enter__(self) -> StreamLimit:
        if self.open >= self.limit:
            raise web.HTTPServiceUnavailable(
                headers={"Retry-After": "5"}, content_type="application/json",
                text=json.dumps({"error": {"code": "RESOURCE_EXHAUSTED", "reason": "TOO_MANY_STREAMS",
                                           "message": "too many live streams; retry later"}}))
        self.open += 1
        return self

    def __exit__(self, *_exc: object) -> None:
        self.open -= 1


class EventStream:
    """One SSE response: ``await send(event, data)``; ``await ping()`` between events."""

    def __init__(self, request: web.Request):
        self._request = request
        self.response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no"})

    async def open(self) -> EventStream:
        await self.response.prepare(self._request)
        return self

    async def send(self, event: str, data: Any) -> None:
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        await self.response.write(f"event: {event}\ndata: {payload}\n\n".encode())

    async def ping(self) -> None:
        await self.response.write(b": ping\n\n")
