"""The ``kpis`` topic is compacted: an interval's record stays until a newer one replaces
it. When every contact of an interval moves to another interval (a desktop wrap-up that
arrived before its call counted at the wrap-up's time, then joined the call), the
interval must be deleted, or a supervisor reconciling with the switch sees contacts that
no longer exist (CI found 2 such contacts in a 15-minute interval)."""

from __future__ import annotations

from typing import Any

from stream_processors import kpis
from stream_processors.codec import dumps, loads
from stream_processors.stages.kpis import KpiStage

MIN = 60_000
T0 = 1_795_744_800_000  # 2026-11-25 08:00 Asia/Shanghai: a quarter-hour boundary


class TopicSink:
    """The compacted ``kpis`` topic as a reader sees it: key -> latest value (None gone)."""

    def __init__(self) -> None:
        self.latest: dict[str, Any] = {}

    async def emit(self, name: str, key: bytes, value: bytes | None) -> None:
        if name == "kpis":
            if value is None:
                self.latest.pop(key.decode(), None)
            else:
                self.latest[key.decode()] = loads(value)


async def _partial(stage: KpiStage, buckets: dict[str, Any], wm: int) -> None:
    stage.take(b"PHONE|all", dumps({"p": 0, "wm": wm, "b": buckets}))
    await stage.flush()


def _quarter(sink: TopicSink, start: int) -> dict[str, Any] | None:
    record = sink.latest.get(f"PHONE|all|15m@{start}")
    return record["values"] if record else None


async def test_an_interval_whose_contacts_moved_away_is_deleted() -> None:
    sink = TopicSink()
    stage = KpiStage(sink, kpis.KpiConfig(), clock=lambda: T0 + 60 * MIN)  # type: ignore[arg-type]
    one = {"contacts": 1, "self_service": 1}
    # The wrap-up alone: a contact at 08:20.
    await _partial(stage, {f"t|{T0 + 20 * MIN}": one}, T0 + 20 * MIN)
    assert _quarter(sink, T0 + 15 * MIN)["contacts"] == 1  # type: ignore[index]
    # The call arrives; the contact now starts at 08:05 with its queue entry.
    await _partial(stage, {f"t|{T0 + 5 * MIN}": {"contacts": 1, "entries": 1, "offered": 1}},
                   T0 + 20 * MIN)
    assert _quarter(sink, T0)["contacts"] == 1  # type: ignore[index]
    assert _quarter(sink, T0 + 15 * MIN) is None, "08:15 still reports the moved contact"
    assert sink.latest[f"PHONE|all|30m@{T0}"]["values"]["contacts"] == 1
    # Data coming back to 08:15 publishes it again.
    await _partial(stage, {f"t|{T0 + 5 * MIN}": one, f"t|{T0 + 16 * MIN}": one}, T0 + 20 * MIN)
    assert _quarter(sink, T0 + 15 * MIN)["contacts"] == 1  # type: ignore[index]
