"""GetKpiIntervals: a supervisor reads today's clock-aligned intervals (as the switch's
interval report lists them) from the records the KPI stage publishes on ``kpis``."""

from __future__ import annotations

import time

import grpc
import pytest

from backbone import kpi_record
from backbone.business_time import business_day_start
from backbone.context.v1 import context_pb2 as pb
from services.context.server import ContextServer
from tests.integration.services.support import SnapshotWriter, auth, by_id, snapshot, stub

HALF_HOUR = 1_800_000


def _interval(writer: SnapshotWriter, scope: str, name: str, start: int, end: int,
              offered: float) -> None:
    """A record as the KPI stage publishes it (schemas/json/kpi/v1.json)."""
    writer.put_kpi(f"PHONE|{scope}|{name}@{start}", kpi_record.interval_record(
        "PHONE", scope, name, window_start=start, window_end=end, as_of=end - 1,
        values={"offered": offered, "answered": offered - 1, "service_level": 0.5}))


async def test_todays_intervals_in_order_and_apart_from_live_windows(
        server: ContextServer, writer: SnapshotWriter) -> None:
    day = business_day_start(int(time.time() * 1000), "Asia/Shanghai")
    for n in (2, 0, 1):  # published out of order, as late events republish old intervals
        _interval(writer, "all", "30m", day + n * HALF_HOUR, day + (n + 1) * HALF_HOUR, 10 + n)
    _interval(writer, "queue:cards", "30m", day, day + HALF_HOUR, 4)
    _interval(writer, "all", "30m", day - HALF_HOUR, day, 99)  # yesterday's last interval
    _interval(writer, "all", "1d", day, day + 86_400_000, 33)
    writer.put_kpi("PHONE|all|15m", kpi_record.window_record(
        "PHONE", "all", "15m", window_start=day, as_of=day, values={"offered": 7}))
    writer.put("cust-i", snapshot("cust-i", 1))  # a marker: once visible, the KPIs are too
    channel, api = stub(server.port)
    async with channel:
        await api.GetCustomerContext(pb.GetCustomerContextRequest(
            lookup=by_id("cust-i"), purpose="wallboard", min_freshness=pb.Watermark(
                min_version=1)), metadata=auth("agent"), timeout=15)
        today = await api.GetKpiIntervals(pb.GetKpiIntervalsRequest(
            channels=[pb.CHANNEL_PHONE], scope="all", interval="30m",
            from_ms=day, to_ms=day + 86_400_000),  # the whole day, whatever the clock says
            metadata=auth("supervisor"), timeout=5)
        got = [(s.window_start_ms - day, s.window_end_ms - s.window_start_ms, s.interval,
                {v.name: v.value for v in s.values}["offered"]) for s in today.intervals]
        assert got == [(0, HALF_HOUR, "30m", 10), (HALF_HOUR, HALF_HOUR, "30m", 11),
                       (2 * HALF_HOUR, HALF_HOUR, "30m", 12)]
        past = await api.GetKpiIntervals(pb.GetKpiIntervalsRequest(
            interval="30m", from_ms=day - HALF_HOUR, to_ms=day + HALF_HOUR),
            metadata=auth("auditor"), timeout=5)
        assert [(s.scope, s.window_start_ms - day) for s in past.intervals] == [
            ("all", -HALF_HOUR), ("all", 0), ("queue:cards", 0)]
        days = await api.GetKpiIntervals(pb.GetKpiIntervalsRequest(interval="1d"),
                                         metadata=auth("supervisor"), timeout=5)
        assert [s.window for s in days.intervals] == [f"1d@{day}"]
        live = await api.GetLiveKpis(pb.GetLiveKpisRequest(), metadata=auth("supervisor"),
                                     timeout=5)
        assert [s.window for s in live.snapshots] == ["15m"]  # intervals stay out
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await api.GetKpiIntervals(pb.GetKpiIntervalsRequest(interval="20m"),
                                      metadata=auth("supervisor"), timeout=5)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await api.GetKpiIntervals(pb.GetKpiIntervalsRequest(interval="30m"),
                                      metadata=auth("channel_system"), timeout=5)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # an agent reads its queue's intervals (aggregates, no customer data)
        mine = await api.GetKpiIntervals(pb.GetKpiIntervalsRequest(
            channels=[pb.CHANNEL_PHONE], scope="all", interval="30m",
            from_ms=day, to_ms=day + 86_400_000),  # the whole day, whatever the clock says
            metadata=auth("agent"), timeout=5)
        assert [s.window for s in mine.intervals] == [s.window for s in today.intervals]
