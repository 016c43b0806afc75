"""The stall watch behind the worker's /healthz: lag without progress for stall_s is a
stall; progress, no lag, a registry wait or a rebalance is not."""

from __future__ import annotations

from stream_processors.lag import StallWatch

TP = ("ccb.customer-commands", 3)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_lag_without_progress_for_stall_s_is_a_stall_and_progress_clears_it():
    clock = Clock()
    watch = StallWatch(120.0, clock=clock)
    assert watch.see({TP: (100, 1971)}) == []
    clock.t = 119.0
    assert watch.see({TP: (100, 1971)}) == []
    clock.t = 121.0
    assert watch.see({TP: (100, 1971)}) == [TP]
    clock.t = 126.0
    assert watch.see({TP: (150, 1921)}) == []  # it moved: healthy again
    assert watch.stalled == []


def test_no_lag_a_registry_wait_or_a_rebalance_is_not_a_stall():
    clock = Clock()
    waiting = {"on": False}
    watch = StallWatch(60.0, clock=clock, paused=lambda: waiting["on"])
    watch.see({TP: (100, 0)})
    clock.t = 500.0
    assert watch.see({TP: (100, 0)}) == []  # idle, nothing to fetch
    watch.see({TP: (100, 5)})
    waiting["on"] = True  # a message waits for the schema registry: the clock is held
    clock.t = 1000.0
    assert watch.see({TP: (100, 5)}) == []
    waiting["on"] = False
    clock.t = 1030.0
    assert watch.see({TP: (100, 5)}) == []
    watch.reset()  # a rebalance starts every partition's clock again
    clock.t = 1100.0
    assert watch.see({TP: (100, 5)}) == []
    clock.t = 1161.0
    assert watch.see({TP: (100, 5)}) == [TP]


def test_a_stalled_partition_is_put_back_among_those_fetched():
    from types import SimpleNamespace

    from stream_processors.lag import resume_stalled

    tps = [SimpleNamespace(topic="ccb.interactions", partition=p) for p in range(4)]
    calls: dict[str, list[object]] = {"resume": [], "drop": []}
    consumer = SimpleNamespace(assignment=lambda: tps,
                               resume_partitions=lambda ts: calls["resume"].extend(ts),
                               on_buffer_drop=lambda tp: calls["drop"].append(tp))
    resume_stalled(consumer, [("ccb.interactions", 2), ("ccb.interactions", 3)])
    assert calls["resume"] == tps[2:] and calls["drop"] == tps[2:]
