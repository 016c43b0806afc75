"""Early-warning rules (预警) over the live KPI counters: pure functions from the minute
buckets of one ``channel|scope`` and a time to readings (docs/alerts.md).

A rule says whether its condition is breached now and whether the value is back past its
hysteresis band (so an alert does not flap around its threshold); no data (a quiet queue)
counts as recovered. When to fire and clear is decided in :mod:`stream_processors.alert_state`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stream_processors import formulas, windows
from stream_processors.kpis import MINUTE_MS

if TYPE_CHECKING:
    from backbone.settings import Settings

HOUR_MS = 60 * MINUTE_MS


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Thresholds and bands (settings ``CCB_ALERT_*``); rates are 0-1, NPS in points."""

    window_min: int = 15             # queue KPIs are judged over this trailing window
    for_min: float = 5.0             # a queue/survey condition must hold this long to fire
    min_offered: int = 10            # fewer offered in the window: no verdict (no data)
    sl_target: float = 0.8
    sl_clear: float = 0.85
    abandon_max: float = 0.08
    abandon_clear: float = 0.06
    asa_max_s: Mapping[str, float] = field(default_factory=lambda: {
        "PHONE": 30.0, "WEB": 60.0, "APP": 60.0, "WECHAT": 60.0, "BRANCH": 900.0})
    asa_clear_ratio: float = 0.8     # ASA clears below ratio x threshold
    rings_target: float = 0.9
    rings_clear: float = 0.93
    survey_min: int = 5              # responses needed in the last hour and in the day
    csat_drop: float = 0.10          # last hour vs the trailing day, ratio points
    csat_clear_drop: float = 0.05
    nps_drop: float = 10.0
    nps_clear_drop: float = 5.0
    complaint_spike_factor: float = 3.0  # last hour vs the trailing day's hourly mean
    complaint_spike_min: int = 5
    due_soon_ms: int = 48 * HOUR_MS
    conflict_spike: int = 5          # identity conflicts in 15 minutes


def config(s: Settings) -> AlertConfig:
    """The rules' thresholds from the ``CCB_ALERT_*`` settings."""
    return AlertConfig(
        window_min=s.alert_window_min, for_min=s.alert_for_min,
        min_offered=s.alert_min_offered, sl_target=s.kpi_sl_target,
        sl_clear=max(s.alert_sl_clear, s.kpi_sl_target), abandon_max=s.alert_abandon_max,
        abandon_clear=min(s.alert_abandon_clear, s.alert_abandon_max),
        asa_max_s=dict(s.alert_asa_max_s), asa_clear_ratio=s.alert_asa_clear_ratio,
        rings_target=s.alert_rings_target,
        rings_clear=max(s.alert_rings_clear, s.alert_rings_target),
        survey_min=s.alert_survey_min, csat_drop=s.alert_csat_drop,
        csat_clear_drop=s.alert_csat_clear_drop, nps_drop=s.alert_nps_drop,
        nps_clear_drop=s.alert_nps_clear_drop,
        complaint_spike_factor=s.alert_complaint_spike_factor,
        complaint_spike_min=s.alert_complaint_spike_min,
        due_soon_ms=int(s.alert_complaint_due_soon_h * HOUR_MS),
        conflict_spike=s.kpi_conflict_spike)


@dataclass(frozen=True, slots=True)
class Reading:
    """One rule's verdict: ``value`` None = no data."""

    value: float | None
    breach: bool
    recovered: bool
    threshold: float
    message: str
    immediate: bool = False  # fires without waiting ``for_min`` (counts, not rates)
    severity: str = "warning"


Sums = Mapping[str, Mapping[str, float]]
Rule = Callable[[str, str, Sums, "Context"], "Reading | None"]


@dataclass(frozen=True, slots=True)
class Context:
    cfg: AlertConfig
    open_complaints: tuple[float, float, float]  # open, overdue, due within due_soon_ms


def _rate(kpi: str, sums: Sums, window: str = "w") -> float | None:
    value: float | None = formulas.formulas(sums[window]).get(kpi)
    return value


def _enough(sums: Sums, cfg: AlertConfig) -> bool:
    return sums["w"].get("offered", 0.0) >= cfg.min_offered


def service_level(channel: str, scope: str, sums: Sums, ctx: Context) -> Reading | None:
    cfg = ctx.cfg
    sl = _rate("service_level", sums) if _enough(sums, cfg) else None
    return Reading(sl, sl is not None and sl < cfg.sl_target,
                   sl is None or sl >= cfg.sl_clear, cfg.sl_target,
                   f"service level {_pct(sl)} under {cfg.sl_target:.0%} "
                   f"({cfg.window_min} min)", severity="critical")


def abandonment(channel: str, scope: str, sums: Sums, ctx: Context) -> Reading | None:
    cfg = ctx.cfg
    rate = _rate("abandonment_rate", sums) if _enough(sums, cfg) else None
    return Reading(rate, rate is not None and rate > cfg.abandon_max,
                   rate is None or rate <= cfg.abandon_clear, cfg.abandon_max,
                   f"abandonment {_pct(rate)} over {cfg.abandon_max:.0%} ({cfg.window_min} min)")


def asa(channel: str, scope: str, sums: Sums, ctx: Context) -> Reading | None:
    cfg = ctx.cfg
    limit = cfg.asa_max_s.get(channel)
    if limit is None:
        return None
    value = _rate("asa_s", sums) if sums["w"].get("wait_n", 0.0) >= cfg.min_offered else None
    return Reading(value, value is not None and value > limit,
                   value is None or value <= limit * cfg.asa_clear_ratio, limit,
                   f"ASA {value or 0:.0f} s over {limit:.0f} s ({cfg.window_min} min)")


def three_rings(channel: str, scope: str, sums: Sums, ctx: Context) -> Reading | None:
    cfg = ctx.cfg
    if channel != "PHONE":
        return None
    rate = _rate("three_rings_rate", sums) \
        if sums["w"].get("ring_n", 0.0) >= cfg.min_offered else None
    return Reading(rate, rate is not None and rate < cfg.rings_target,
                   rate is None or rate >= cfg.rings_clear, cfg.rings_target,
                   f"answered within three rings {_pct(rate)} under {cfg.rings_target:.0%}")


def _drop(kpi: str, count: str, sums: Sums, ctx: Context) -> float | None:
    """How far ``kpi`` of the last hour is under the trailing day's (positive = worse)."""
    n = ctx.cfg.survey_min
    if sums["h"].get(count, 0.0) < n or sums["d"].get(count, 0.0) < n:
        return None
    now, before = _rate(kpi, sums, "h"), _rate(kpi, sums, "d")
    return None if now is None or before is None else round(before - now, 4)


def _drop_reading(d: float | None, fire: float, clear: float, message: str) -> Reading:
    return Reading(d, d is not None and d >= fire, d is None or d < clear, fire, message)


def csat_drop(channel: str, scope: str, sums: Sums, ctx: Context) -> Reading | None:
    if scope != "all":
        return None
    d = _drop("csat", "csat_n", sums, ctx)
    return _drop_reading(d, ctx.cfg.csat_drop, ctx.cfg.csat_clear_drop,
                         f"CSAT of the last hour {_pct(d)} under the trailing day")


def nps_drop(channel: str, scope: str, sums: Sums, ctx: Context) -> Reading | None:
    if scope != "all":
        return None
    d = _drop("nps", "nps_n", sums, ctx)
    return _drop_reading(d, ctx.cfg.nps_drop, ctx.cfg.nps_clear_drop,
                         f"NPS of the last hour {d or 0:.0f} points under the trailing day")


def complaint_spike(channel: str, scope: str, sums: Sums, ctx: Context) -> Reading | None:
    if scope != "all" or channel == "IDENTITY":
        return None
    cfg = ctx.cfg
    last = sums["h"].get("complaints_opened", 0.0)
    hourly = sums["d"].get("complaints_opened", 0.0) / 24
    limit = max(cfg.complaint_spike_min, cfg.complaint_spike_factor * hourly)
    return Reading(last, last >= limit, last < limit / 2 or last < cfg.complaint_spike_min,
                   limit, f"{last:.0f} complaints opened in the last hour "
                          f"(trailing day {hourly:.1f}/h)", immediate=True)


def complaints_due_soon(channel: str, scope: str, sums: Sums, ctx: Context) -> Reading | None:
    if scope != "all":
        return None
    soon = ctx.open_complaints[2]
    return Reading(soon, soon > 0, soon == 0, 0,
                   f"{soon:.0f} open complaints due within "
                   f"{ctx.cfg.due_soon_ms // HOUR_MS} h", immediate=True)


def complaints_overdue(channel: str, scope: str, sums: Sums, ctx: Context) -> Reading | None:
    if scope != "all":
        return None
    overdue = ctx.open_complaints[1]
    return Reading(overdue, overdue > 0, overdue == 0, 0,
                   f"{overdue:.0f} open complaints past their due date", immediate=True,
                   severity="critical")


def identity_conflicts(channel: str, scope: str, sums: Sums, ctx: Context) -> Reading | None:
    if channel != "IDENTITY":
        return None
    n = sums["c"].get("identity_conflicts", 0.0)
    limit = ctx.cfg.conflict_spike
    return Reading(n, n >= limit, n < limit, limit,
                   f"{n:.0f} identity conflicts in 15 minutes", immediate=True)


RULES: dict[str, Rule] = {
    "service_level_below_target": service_level,
    "abandonment_above_threshold": abandonment,
    "asa_above_threshold": asa,
    "three_rings_below_target": three_rings,
    "csat_drop": csat_drop,
    "nps_drop": nps_drop,
    "complaint_spike": complaint_spike,
    "complaint_due_soon": complaints_due_soon,
    "complaint_overdue": complaints_overdue,
    "identity_conflict_spike": identity_conflicts,
}


def evaluate(channel: str, scope: str, partials: Sequence[Mapping[str, Any]], now: int,
             cfg: AlertConfig) -> dict[str, Reading]:
    """Every applicable rule's reading for one ``channel|scope`` at ``now``."""
    cur = now - now % MINUTE_MS
    sums = windows.sum_windows(partials, {
        "w": (cur - (cfg.window_min - 1) * MINUTE_MS, None),
        "c": (cur - 14 * MINUTE_MS, None),
        "h": (cur - 59 * MINUTE_MS, None),
        "d": (cur - 59 * MINUTE_MS - 24 * HOUR_MS, cur - 59 * MINUTE_MS),
    })
    ctx = Context(cfg, windows.open_complaints(partials, now, cfg.due_soon_ms))
    out: dict[str, Reading] = {}
    for name, rule in RULES.items():
        reading = rule(channel, scope, sums, ctx)
        if reading is not None:
            out[name] = reading
    return out


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"
