"""kill -9 a worker mid-stream and restart it: the final state equals an uninterrupted run
(the same log through the pure pipeline) and nothing is counted twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backbone.settings import Settings
from stream_processors.synthetic import workload
from tests.integration.stream_processors import harness as h
from tests.unit.stream_processors.engine import Engine

COMPARED = ("timeline", "contacts", "journeys", "complaints", "surveys", "counts", "handoffs",
            "profile")


def _comparable(snap: dict[str, Any] | None) -> Any:
    if snap is None:
        return None
    out = {k: snap[k] for k in COMPARED}
    out["identities"] = sorted((i["type"], i["value"]) for i in snap["identities"])
    out["last_event_ids"] = sorted(snap["last_event_ids"])
    return out


def test_kill_9_mid_stream_then_restart_equals_uninterrupted_run(
        settings_factory: Callable[..., Settings],
        worker_factory: Callable[..., h.WorkerProcess]) -> None:
    events = workload(300, 10, seed=11)
    expected = Engine()
    expected.feed(events)

    settings = settings_factory(kpi_publish_interval_s=0.5)
    first = worker_factory(settings, "first")
    first.start()
    h.produce(settings, events)
    assert h.wait_until(lambda: len(h.read_all(settings, "customer-context", 2)) >= 100, 120,
                        0.2)
    assert h.group_lag(settings, h.STAGES) > 0, "worker finished before it could be killed"
    first.kill9()

    second = worker_factory(settings, "second")
    second.start()
    h.wait_idle(settings, worker=second)

    got = h.latest(settings, "customer-context")
    want = expected.context
    assert set(got) == set(want), (set(got) ^ set(want))
    diff = [k for k in want if _comparable(got[k]) != _comparable(want[k])]
    assert diff == [], (diff[:3], got.get(diff[0]) if diff else None)

    want_kpis = {k: v for k, v in expected.kpi_values().items() if k.endswith("|today")}

    def kpis_equal() -> bool:
        view = {k: v["values"] for k, v in h.latest(settings, "kpis").items()
                if v and k.endswith("|today")}
        return view == want_kpis

    if not h.wait_until(kpis_equal, 30):
        view = {k: v["values"] for k, v in h.latest(settings, "kpis").items()
                if v and k.endswith("|today")}
        bad = {(k, n): (view.get(k, {}).get(n), x) for k, vals in want_kpis.items()
               for n, x in vals.items() if view.get(k, {}).get(n) != x}
        raise AssertionError(f"KPIs differ from the uninterrupted run: {bad}")
