"""KPI formulas (BRIEF §4) and the counter bookkeeping that keeps them exact."""

from __future__ import annotations

from stream_processors import kpis


def test_service_level_excludes_short_abandons_from_offered() -> None:
    c = {"answered": 8, "sl_met": 6, "abandoned": 1, "timeouts": 1, "short_abandons": 5,
         "queued": 10, "wait_sum": 80, "wait_n": 8}
    v = kpis.formulas(c)
    assert v["offered"] == 10
    assert v["service_level"] == 0.6
    assert v["answer_rate"] == 0.8
    assert v["abandonment_rate"] == 0.1
    assert v["asa_s"] == 10.0
    assert v["short_abandons"] == 5


def test_csat_top2_nps_and_complaint_sla() -> None:
    v = kpis.formulas({"csat_n": 4, "csat_top2": 3, "nps_n": 10, "nps_pro": 5, "nps_det": 2,
                       "complaints_closed": 3, "complaints_on_time": 2}, overdue_open=1)
    assert v["csat"] == 0.75
    assert v["nps"] == 30.0
    assert v["complaint_sla"] == 0.5


def test_empty_denominators_are_none_not_zero() -> None:
    v = kpis.formulas({})
    assert v["service_level"] is None and v["fcr"] is None and v["nps"] is None


def test_counters_apply_differences_so_reapplying_a_state_counts_once() -> None:
    state = {"contacts": {"c1": {"ch": "PHONE", "start": 60_000, "end": 70_000, "out": "answered",
                                 "q": 1, "ans": 1, "wait": 10.0, "sc": "queue:q1"}}}
    part = kpis.PartitionCounters()
    f = kpis.facts(state, kpis.KpiConfig())
    part.apply({}, f)
    part.apply(f, f)  # a replayed, deduplicated event: no change
    total = kpis.sum_window([part.scope_partial("PHONE|queue:q1", 0)], 0)
    assert total["answered"] == 1 and total["sl_met"] == 1
    part.apply(f, {})  # the customer erased or merged away
    assert kpis.sum_window([part.scope_partial("PHONE|queue:q1", 0)], 0) == {}


def test_fcr_repeat_within_seven_days_across_channels() -> None:
    day = kpis.DAY_MS
    state = {"contacts": {
        "a": {"ch": "APP", "start": 0, "end": 1, "out": "open", "rs": "r"},
        "b": {"ch": "PHONE", "start": 3 * day, "end": 3 * day + 1, "out": "completed", "rs": "r"},
        "c": {"ch": "BRANCH", "start": 20 * day, "end": 20 * day + 1, "out": "completed",
              "rs": "r"}}}
    f = kpis.facts(state, kpis.KpiConfig())
    total = kpis.sum_window([{k.split("|", 2)[2]: v for k, v in f.items()}], 0)
    assert total["fcr_eligible"] == 3 and total["repeat"] == 1
    assert kpis.formulas(total)["fcr"] == round(2 / 3, 4)
