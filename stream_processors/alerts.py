"""Alert rules over the live KPI counters: pure functions from counters to firing alerts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stream_processors import formulas, windows
from stream_processors.kpis import MINUTE_MS, KpiConfig

SL_MINUTES = 5


def evaluate(channel: str, scope: str, partials: list[Mapping[str, Any]], now: int,
             values: Mapping[str, Mapping[str, Any]], cfg: KpiConfig) -> dict[str, dict[str, Any]]:
    """Alerts firing now for one ``channel|scope``: name -> details."""
    firing: dict[str, dict[str, Any]] = {}
    cur = now - now % MINUTE_MS
    # The five complete minutes before the current one, oldest first, in one pass.
    minutes = {str(i): (cur - i * MINUTE_MS, cur - (i - 1) * MINUTE_MS)
               for i in range(SL_MINUTES, 0, -1)}
    sums = windows.sum_windows(partials, minutes)
    levels = [formulas.formulas(sums[str(i)])["service_level"] for i in range(SL_MINUTES, 0, -1)]
    if all(lv is not None and lv < cfg.sl_target for lv in levels):
        firing["service_level_below_target"] = {
            "value": levels[-1], "threshold": cfg.sl_target,
            "message": f"service level under {cfg.sl_target:.0%} for {SL_MINUTES} minutes"}
    today = values.get("today", {})
    if scope == "all" and today.get("complaints_due_soon"):
        firing["complaint_due_soon"] = {
            "value": today["complaints_due_soon"], "threshold": 0,
            "message": "open complaints within two days of their deadline"}
    if scope == "all" and today.get("complaints_overdue"):
        firing["complaint_overdue"] = {"value": today["complaints_overdue"], "threshold": 0,
                                       "message": "open complaints past their deadline"}
    conflicts = values.get("15m", {}).get("identity_conflicts") or 0
    if channel == "IDENTITY" and conflicts >= cfg.conflict_spike:
        firing["identity_conflict_spike"] = {
            "value": conflicts, "threshold": cfg.conflict_spike,
            "message": f"{conflicts:.0f} identity conflicts in 15 minutes"}
    return firing


def transitions(before: Mapping[str, Any], now_firing: Mapping[str, dict[str, Any]]
                ) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, firing|resolved, details) for alerts whose state changed."""
    out = [(name, "firing", d) for name, d in now_firing.items() if name not in before]
    out += [(name, "resolved", {}) for name in before if name not in now_firing]
    return out
