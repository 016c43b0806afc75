"""Every early warning fires and clears (docs/alerts.md), through the KPI stage with a fake
clock: on traffic, and on the timer alone when the queue has gone quiet."""

from __future__ import annotations

from typing import Any

import pytest

from backbone import alert_record
from stream_processors import alerts, kpis
from stream_processors.codec import dumps, loads
from stream_processors.stages.kpis import KpiStage

MIN = 60_000
HOUR = 60 * MIN
T0 = 1_795_744_800_000 - 1_795_744_800_000 % HOUR  # an hour boundary
CFG = alerts.AlertConfig(for_min=5)


class Sink:
    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []

    async def emit(self, name: str, key: bytes, value: bytes | None) -> None:
        if name == "alerts":
            record = alert_record.parse(value or b"")
            assert key == alert_record.key(record["alert"], record["channel"], record["scope"])
            self.alerts.append(record)


class Clock:
    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self) -> int:
        return self.at


def stage(at: int = T0) -> tuple[KpiStage, Sink, Clock]:
    sink, clock = Sink(), Clock(at)
    return KpiStage(sink, kpis.KpiConfig(), CFG, clock=clock), sink, clock  # type: ignore[arg-type]


def minutes(start: int, n: int, counters: dict[str, float]) -> dict[str, Any]:
    """``counters`` in each of ``n`` minute buckets from ``start``."""
    return {f"t|{start + i * MIN}": dict(counters) for i in range(n)}


async def feed(st: KpiStage, scope: str, buckets: dict[str, Any], wm: int) -> None:
    st.take(scope.encode(), dumps({"p": 0, "wm": wm, "b": buckets}))
    await st.flush()


def states(sink: Sink, name: str) -> list[str]:
    return [a["state"] for a in sink.alerts if a["alert"] == name]


# (alert, scope, breaching minute counters, healthy minute counters)
QUEUE_CASES = [
    ("service_level_below_target", "PHONE|queue:cards",
     {"entries": 2, "offered": 2, "answered": 2, "sl_met": 1},
     {"entries": 2, "offered": 2, "answered": 2, "sl_met": 2}),
    ("abandonment_above_threshold", "WEB|all",
     {"entries": 2, "offered": 2, "abandoned": 1, "answered": 1, "sl_met": 1},
     {"entries": 2, "offered": 2, "answered": 2, "sl_met": 2}),
    ("asa_above_threshold", "BRANCH|branch:b1",
     {"entries": 2, "offered": 2, "answered": 2, "sl_met": 2, "wait_n": 2, "wait_sum": 2400},
     {"entries": 2, "offered": 2, "answered": 2, "sl_met": 2, "wait_n": 2, "wait_sum": 600}),
    ("three_rings_below_target", "PHONE|branch:b1/queue:loans",
     {"entries": 2, "offered": 2, "answered": 2, "sl_met": 2, "ring_n": 2, "rings_ok": 1},
     {"entries": 2, "offered": 2, "answered": 2, "sl_met": 2, "ring_n": 2, "rings_ok": 2}),
]


@pytest.mark.parametrize("name, scope, bad, good", QUEUE_CASES)
async def test_queue_alert_fires_after_its_duration_and_clears_on_recovery(name, scope, bad,
                                                                           good):
    st, sink, clock = stage()
    await feed(st, scope, minutes(T0 - 15 * MIN, 15, bad), T0)
    assert states(sink, name) == []  # breached, but not yet for five minutes
    clock.at = T0 + 5 * MIN  # no new traffic: the timer alone fires it
    await st.evaluate_alerts()
    assert states(sink, name) == ["firing"]
    record = next(a for a in sink.alerts if a["alert"] == name)
    assert (record["channel"], record["scope"]) == tuple(scope.split("|", 1))
    assert record["since"] == T0
    await st.evaluate_alerts()
    assert states(sink, name) == ["firing"]  # no repeats while it stays breached
    await feed(st, scope, minutes(T0 - 10 * MIN, 16, good), clock.at)
    assert states(sink, name) == ["firing", "resolved"]


@pytest.mark.parametrize("name, scope, bad, good", QUEUE_CASES[:1])
async def test_a_quiet_queue_clears_its_alert_on_the_timer(name, scope, bad, good):
    st, sink, clock = stage()
    await feed(st, scope, minutes(T0 - 15 * MIN, 15, bad), T0)
    clock.at = T0 + 5 * MIN
    await st.evaluate_alerts()
    assert states(sink, name) == ["firing"]
    clock.at = T0 + 20 * MIN  # nothing offered for 15 minutes: nothing to judge
    await st.evaluate_alerts()
    assert states(sink, name) == ["firing", "resolved"]
    assert sink.alerts[-1]["value"] is None


async def test_hysteresis_keeps_the_alert_between_target_and_clear_level():
    st, sink, clock = stage()
    scope = "PHONE|all"
    await feed(st, scope, minutes(T0 - 15 * MIN, 15, QUEUE_CASES[0][2]), T0)
    clock.at = T0 + 5 * MIN
    await st.evaluate_alerts()
    # 82 %: above the 80 % target, under the 85 % clear level -> still firing
    meh = {"entries": 50, "offered": 50, "answered": 50, "sl_met": 41}
    await feed(st, scope, minutes(T0 - 10 * MIN, 16, meh), clock.at)
    assert states(sink, "service_level_below_target") == ["firing"]


async def test_a_breach_shorter_than_the_duration_never_fires():
    st, sink, clock = stage()
    scope = "PHONE|all"
    await feed(st, scope, minutes(T0 - 15 * MIN, 15, QUEUE_CASES[0][2]), T0)
    clock.at = T0 + 2 * MIN
    await feed(st, scope, minutes(T0 - 13 * MIN, 16, QUEUE_CASES[0][3]), clock.at)
    clock.at = T0 + 10 * MIN
    await st.evaluate_alerts()
    assert sink.alerts == []


def survey_day(kind: str, good: dict[str, float], bad: dict[str, float]) -> dict[str, Any]:
    """A trailing day of good answers, then a last hour of bad ones."""
    b = minutes(T0 - 25 * HOUR, 24 * 6, good)  # 144 minutes with answers across the day
    b.update(minutes(T0 - 30 * MIN, 30, bad))
    return b


@pytest.mark.parametrize("name, good, bad", [
    ("csat_drop", {"csat_n": 1, "csat_top2": 1}, {"csat_n": 2, "csat_top2": 1}),
    ("nps_drop", {"nps_n": 1, "nps_pro": 1}, {"nps_n": 2, "nps_pro": 1, "nps_det": 1}),
])
async def test_satisfaction_drop_against_the_trailing_day_fires_and_clears(name, good, bad):
    st, sink, clock = stage()
    await feed(st, "APP|all", survey_day(name, good, bad), T0)
    clock.at = T0 + 5 * MIN
    await st.evaluate_alerts()
    assert states(sink, name) == ["firing"]
    clock.at = T0 + 31 * MIN + HOUR  # the bad hour has left the window: no data, clear
    await st.evaluate_alerts()
    assert states(sink, name) == ["firing", "resolved"]


async def test_complaint_spike_fires_at_once_and_clears_when_the_hour_calms():
    st, sink, clock = stage()
    b = minutes(T0 - 25 * HOUR, 24, {"complaints_opened": 1})  # ~1 an hour
    b.update(minutes(T0 - 10 * MIN, 6, {"complaints_opened": 1}))
    await feed(st, "WECHAT|all", b, T0)
    assert states(sink, "complaint_spike") == ["firing"]
    clock.at = T0 + HOUR  # quiet since: the last hour holds none
    await st.evaluate_alerts()
    assert states(sink, "complaint_spike") == ["firing", "resolved"]


async def test_complaint_due_within_48h_then_overdue_on_the_clock_alone():
    st, sink, clock = stage()
    due = T0 + 3 * 24 * HOUR
    await feed(st, "PHONE|all", {f"due|{due}": {"open": 1}}, T0)
    assert sink.alerts == []
    clock.at = due - 47 * HOUR  # no traffic: time alone brings the due date near
    await st.evaluate_alerts()
    assert states(sink, "complaint_due_soon") == ["firing"]
    clock.at = due + MIN
    await st.evaluate_alerts()
    assert states(sink, "complaint_due_soon") == ["firing", "resolved"]
    assert states(sink, "complaint_overdue") == ["firing"]
    await feed(st, "PHONE|all", {}, clock.at)  # the complaint was closed: nothing open
    assert states(sink, "complaint_overdue") == ["firing", "resolved"]


async def test_identity_conflict_spike_fires_and_clears():
    st, sink, clock = stage()
    await feed(st, "IDENTITY|all", minutes(T0 - 5 * MIN, 5, {"identity_conflicts": 1}), T0)
    assert states(sink, "identity_conflict_spike") == ["firing"]
    clock.at = T0 + 15 * MIN
    await st.evaluate_alerts()
    assert states(sink, "identity_conflict_spike") == ["firing", "resolved"]


def test_every_rule_has_a_test_and_a_schema_name():
    tested = {c[0] for c in QUEUE_CASES} | {"csat_drop", "nps_drop", "complaint_spike",
                                            "complaint_due_soon", "complaint_overdue",
                                            "identity_conflict_spike"}
    assert set(alerts.RULES) == tested
    schema = loads(alert_record.SCHEMA_FILE.read_bytes())
    assert set(schema["properties"]["alert"]["enum"]) == set(alerts.RULES)


def test_a_record_outside_the_contract_is_refused():
    from backbone.errors import ValidationError

    with pytest.raises(ValidationError):
        alert_record.parse(dumps({"alert": "service_level_below_target", "state": "on"}))
