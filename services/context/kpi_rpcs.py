"""The KPI read RPCs of the context service: live trailing windows and reporting intervals."""

from __future__ import annotations

import grpc

from backbone.business_time import INTERVALS, business_day_start
from backbone.context.v1 import context_pb2 as pb
from backbone.models import now_ms
from backbone.settings import Settings
from services.context import mapping
from services.context.auth import Authenticator
from services.context.feed import TopicFeed
from services.context.kpis import KpiView
from services.context.status import invalid, rpc


class KpiRpcs:
    """Mixed into the servicer, which provides the view, the feed, auth and readiness."""

    _settings: Settings
    _kpis: KpiView
    _feed: TopicFeed
    _auth: Authenticator

    def _ready(self) -> None:
        raise NotImplementedError

    def _lag(self) -> int:
        return self._feed.lag.get(self._settings.topic("kpis"), 0)

    @staticmethod
    def _channels(channels: list[int]) -> set[int]:
        bad = [c for c in channels if c not in mapping.CHANNEL_NAMES]
        if bad:
            raise invalid({"channels": f"unknown channel values {bad}"})
        return set(channels)

    @rpc("GetLiveKpis")
    async def GetLiveKpis(self, request: pb.GetLiveKpisRequest,
                          context: grpc.aio.ServicerContext) -> pb.GetLiveKpisResponse:
        self._auth.authorize(context, "GetLiveKpis")
        self._ready()
        snapshots = self._kpis.query(self._channels(list(request.channels)), request.scope,
                                     request.window)
        return pb.GetLiveKpisResponse(snapshots=snapshots, view_lag_messages=self._lag())

    @rpc("GetKpiIntervals")
    async def GetKpiIntervals(self, request: pb.GetKpiIntervalsRequest,
                              context: grpc.aio.ServicerContext) -> pb.GetKpiIntervalsResponse:
        self._auth.authorize(context, "GetKpiIntervals")
        self._ready()
        channels = self._channels(list(request.channels))
        if request.interval not in INTERVALS:
            raise invalid({"interval": f"must be one of {sorted(INTERVALS)}"})
        now = now_ms()
        start = request.from_ms or business_day_start(now, self._settings.business_tz)
        end = request.to_ms or now + 1
        if end <= start:
            raise invalid({"to_ms": "must be after from_ms"})
        found = self._kpis.intervals(channels, request.scope, request.interval, start, end)
        return pb.GetKpiIntervalsResponse(intervals=found, view_lag_messages=self._lag())
