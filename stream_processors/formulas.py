"""KPI formulas over summed counters (BRIEF §4, docs/kpis.md), and which KPIs mean
something for a window: a channel that does not queue shows no "offered 0"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Queue statistics: shown only where the window has queue entries.
QUEUE_KPIS = frozenset({
    "offered", "answered", "abandoned", "short_abandons", "timeouts", "handled",
    "transferred", "service_level", "answer_rate", "abandonment_rate", "asa_s", "aht_s",
    "avg_talk_s", "avg_hold_s", "avg_acw_s", "transfer_rate", "three_rings_rate",
    "first_response_s", "entries",
})


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def formulas(c: Mapping[str, float], overdue_open: float = 0.0) -> dict[str, Any]:
    """Every KPI of one window; None where the denominator is zero."""
    g = c.get
    offered = g("offered", 0)
    handled = g("handled", 0)
    nps_n = g("nps_n", 0)
    due = g("complaints_closed", 0) + overdue_open
    return {
        "entries": g("entries", 0), "offered": offered, "answered": g("answered", 0),
        "abandoned": g("abandoned", 0), "short_abandons": g("short_abandons", 0),
        "timeouts": g("timeouts", 0), "handled": handled, "transferred": g("transferred", 0),
        "contacts": g("contacts", 0), "assisted_contacts": g("assisted_contacts", 0),
        "self_service": g("self_service", 0),
        "service_level": _ratio(g("sl_met", 0), offered),
        "answer_rate": _ratio(g("answered", 0), offered),
        "abandonment_rate": _ratio(g("abandoned", 0), offered),
        "asa_s": _ratio(g("wait_sum", 0), g("wait_n", 0)),
        "aht_s": _ratio(g("handle_sum", 0), g("handle_n", 0)),
        "avg_talk_s": _ratio(g("talk_sum", 0), handled),
        "avg_hold_s": _ratio(g("hold_sum", 0), handled),
        "avg_acw_s": _ratio(g("acw_sum", 0), handled),
        "transfer_rate": _ratio(g("transferred", 0), handled),
        "three_rings_rate": _ratio(g("rings_ok", 0), g("ring_n", 0)),
        "first_response_s": _ratio(g("frt_sum", 0), g("frt_n", 0)),
        "self_service_rate": _ratio(g("self_service", 0), g("contacts", 0)),
        "fcr": (round(1 - g("repeat", 0) / g("fcr_eligible", 0), 4)
                if g("fcr_eligible", 0) else None),
        "repeat_contact_rate": _ratio(g("repeat", 0), g("fcr_eligible", 0)),
        "channel_switch_rate": _ratio(g("switch", 0), g("contacts", 0)),
        "handoff_with_context_rate": _ratio(g("switch_ctx", 0), g("switch", 0)),
        "handoffs_created": g("handoffs_created", 0),
        "handoffs_accepted": g("handoffs_accepted", 0),
        "csat": _ratio(g("csat_top2", 0), g("csat_n", 0)),
        "csat_responses": g("csat_n", 0),
        "nps": round(100 * (g("nps_pro", 0) - g("nps_det", 0)) / nps_n, 2) if nps_n else None,
        "nps_responses": nps_n,
        "complaints_opened": g("complaints_opened", 0),
        "complaints_closed": g("complaints_closed", 0),
        "complaint_rate": _ratio(g("complaints_opened", 0), g("contacts", 0)),
        "complaint_sla": _ratio(g("complaints_on_time", 0), due),
        "complaints_resolved": g("complaints_resolved", 0),
        "complaint_resolution_rate": _ratio(g("complaints_resolved", 0),
                                            g("complaints_closed", 0)),
        "complaint_satisfaction": _ratio(g("complaint_sat_top2", 0), g("complaint_sat_n", 0)),
        "identity_conflicts": g("identity_conflicts", 0),
    }


def meaningful(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop KPIs without meaning in this window: undefined ratios (no denominator) and
    queue statistics where nothing queued (app and web browsing never "offered 0")."""
    queues = bool(values.get("entries"))
    return {name: val for name, val in values.items()
            if val is not None and (queues or name not in QUEUE_KPIS)}
