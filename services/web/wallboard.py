"""The supervisor wallboard's live stream: KPIs every refresh period, today's 30-minute
intervals every few seconds, alerts as they fire and clear, as Server-Sent Events.

Every KPI read is the caller's own GetLiveKpis / GetKpiIntervals call (supervisors and
auditors may read KPIs); alerts are sent only on a stream whose KPI reads succeed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from backbone.context.v1 import context_pb2 as pb
from services.web import convert
from services.web.alerts import AlertBoard, AlertSource
from services.web.backend import ContextClient, UpstreamError, bearer
from services.web.sse import EventStream, StreamLimit

INTERVALS_EVERY_S = 5.0


class WallboardApi:
    def __init__(self, client: ContextClient, alerts: AlertSource, streams: StreamLimit,
                 refresh_s: float):
        self._client = client
        self._alerts = alerts
        self._streams = streams
        self._refresh_s = refresh_s

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/wallboard/stream", self.stream)]

    async def _kpis(self, token: str) -> dict[str, Any]:
        reply = await self._client.call("GetLiveKpis", pb.GetLiveKpisRequest(), token)
        return {"snapshots": [convert.kpi_snapshot(s) for s in reply.snapshots],
                "view_lag_messages": reply.view_lag_messages, "at_ms": int(time.time() * 1000)}

    async def _intervals(self, token: str) -> dict[str, Any]:
        reply = await self._client.call("GetKpiIntervals",
                                        pb.GetKpiIntervalsRequest(interval="30m"), token)
        return {"intervals": [convert.kpi_snapshot(s) for s in reply.intervals],
                "view_lag_messages": reply.view_lag_messages}

    async def stream(self, request: web.Request) -> web.StreamResponse:
        token = bearer(request.headers.get("Authorization"))
        with self._streams:
            stream = await EventStream(request).open()
            async with self._alerts.board(token) as board:
                await self._push(stream, token, board)
            return stream.response

    async def _push(self, stream: EventStream, token: str, board: AlertBoard) -> None:
        loop = asyncio.get_running_loop()
        next_kpis = next_intervals = loop.time()
        alerts_sent = -1
        while True:
            now = loop.time()
            if now >= next_kpis:
                try:
                    await stream.send("kpis", await self._kpis(token))
                    if now >= next_intervals:
                        await stream.send("intervals", await self._intervals(token))
                        next_intervals = now + INTERVALS_EVERY_S
                except UpstreamError as exc:
                    await stream.send("error", exc.to_json())
                    if not exc.retriable:  # bad token or role: nothing will change
                        return
                else:
                    if board.version != alerts_sent:
                        alerts_sent = board.version
                        await stream.send("alerts", board.snapshot())
                next_kpis = now + self._refresh_s
            pause = max(0.0, next_kpis - loop.time())
            if alerts_sent < 0:  # no KPI read has succeeded yet: no alerts either
                await asyncio.sleep(pause)
            elif await board.wait_changed(alerts_sent, pause):
                alerts_sent = board.version
                await stream.send("alerts", board.snapshot())
