"""Live KPIs (BRIEF §4): per-customer facts, per-partition counters and the formulas.

KPI counters are *derived* from the customer table, never stored beside it: each customer's
contacts, surveys, complaints and conflicts yield "facts" bucketed by event-time minute,
and a partition's counters are the sum of its customers' facts. Applying a customer update
adds (new facts − old facts). After a restart the counters are rebuilt from the recovered
table, so a replayed event (deduplicated by the customer state) can never be counted twice.

Short abandons (queue wait < 5 s) are excluded from offered, queued and abandoned, and
reported on their own as ``short_abandons``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MINUTE_MS = 60_000
DAY_MS = 86_400_000
WINDOWS: dict[str, int] = {"1m": 1, "15m": 15, "1h": 60}

Facts = dict[str, dict[str, float]]  # "channel|scope|kind|minute" -> counter -> value


@dataclass(frozen=True, slots=True)
class KpiConfig:
    """Thresholds: service level per channel (seconds), targets, repeat and switch windows."""

    sl_threshold_s: Mapping[str, float] = field(default_factory=lambda: {
        "PHONE": 20.0, "WEB": 30.0, "APP": 30.0, "WECHAT": 30.0, "BRANCH": 600.0})
    sl_target: float = 0.8
    fcr_window_ms: int = 7 * DAY_MS
    switch_window_ms: int = DAY_MS
    day_offset_ms: int = 8 * 3_600_000  # business day in China Standard Time
    conflict_spike: int = 5
    complaint_warn_ms: int = 2 * DAY_MS


def _minute(at: int) -> int:
    return at - at % MINUTE_MS


def _add(out: Facts, key: str, counters: Mapping[str, float]) -> None:
    slot = out.setdefault(key, {})
    for name, val in counters.items():
        if val:
            slot[name] = slot.get(name, 0.0) + val


def facts(state: Mapping[str, Any] | None, cfg: KpiConfig) -> Facts:
    """Everything one customer contributes to the KPI counters."""
    out: Facts = {}
    if not state or "contacts" not in state:
        return out
    cs = sorted(state["contacts"].values(), key=lambda c: c["start"])
    hands = list((state.get("handoffs") or {}).values())
    for idx, c in enumerate(cs):
        ch = c["ch"]
        f: dict[str, float] = {"contacts": 1}
        if c.get("q") and not c.get("short"):
            f["queued"] = 1
        if c.get("short"):
            f["short_abandons"] = 1
        if c.get("ans"):
            f["answered"] = 1
            wait = c.get("wait")
            if wait is not None:
                f["wait_sum"] = wait
                f["wait_n"] = 1
                if wait <= cfg.sl_threshold_s.get(ch, 20.0):
                    f["sl_met"] = 1
            else:
                f["sl_met"] = 1
        if c.get("aban"):
            f["abandoned"] = 1
        if c.get("tmo"):
            f["timeouts"] = 1
        if c.get("hdl"):
            f["handled"] = 1
            if "ht" in c:
                f["handle_sum"] = c["ht"]
                f["handle_n"] = 1
        if c.get("xfer"):
            f["transferred"] = 1
        if c.get("rs"):
            f["fcr_eligible"] = 1
            if any(o is not c and o.get("rs") == c["rs"]
                   and c["start"] < o["start"] <= c["start"] + cfg.fcr_window_ms
                   for o in cs[idx + 1:]):
                f["repeat"] = 1
        nxt = next((o for o in cs[idx + 1:] if o["ch"] != ch
                    and o["start"] <= c["start"] + cfg.switch_window_ms), None)
        if nxt is not None:
            f["switch"] = 1
            if any(h.get("st") == "accepted" and h.get("from") == ch and h.get("to") == nxt["ch"]
                   and c["start"] <= h.get("acc", h["at"]) <= nxt["end"] + cfg.switch_window_ms
                   for h in hands):
                f["switch_ctx"] = 1
        minute = _minute(c["start"])
        _add(out, f"{ch}|all|t|{minute}", f)
        if c.get("sc"):
            _add(out, f"{ch}|{c['sc']}|t|{minute}", f)
    for s in state.get("surveys") or ():
        f = {}
        score, top = s.get("score") or 0, s.get("max") or 0
        if s["kind"] == "CSAT":
            f = {"csat_n": 1, "csat_top2": 1 if score >= top - 1 else 0}
        elif s["kind"] == "NPS":
            f = {"nps_n": 1, "nps_pro": 1 if score >= 9 else 0, "nps_det": 1 if score <= 6 else 0}
        _add(out, f"{s.get('ch', 'UNKNOWN')}|all|t|{_minute(s['at'])}", f)
    for comp in (state.get("complaints") or {}).values():
        ch = comp.get("ch", "UNKNOWN")
        _add(out, f"{ch}|all|t|{_minute(comp.get('opened', 0))}", {"complaints_opened": 1})
        if comp["st"] == "closed":
            on_time = 1 if comp.get("closed", 0) <= comp.get("due", 0) else 0
            _add(out, f"{ch}|all|t|{_minute(comp['closed'])}",
                 {"complaints_closed": 1, "complaints_on_time": on_time})
        else:
            _add(out, f"{ch}|all|due|{_minute(comp.get('due', 0))}", {"open": 1})
    for conf in state.get("conflicts") or ():
        _add(out, f"IDENTITY|all|t|{_minute(conf['at'])}", {"identity_conflicts": 1})
    for h in (state.get("handoffs") or {}).values():
        hf = {"handoffs_created": 1}
        if h.get("st") == "accepted":
            hf["handoffs_accepted"] = 1
        _add(out, f"{h.get('from') or 'UNKNOWN'}|all|t|{_minute(h['at'])}", hf)
    return out


class PartitionCounters:
    """Sum of facts for the customers of one source partition (rebuildable from the table).

    Indexed by ``channel|scope`` so one scope's partial is read without scanning the others.
    """

    def __init__(self) -> None:
        # "channel|scope" -> "kind|minute" -> counter -> value
        self.scopes: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
        self.watermark = 0
        self.dirty: set[str] = set()

    def apply(self, old: Facts, new: Facts) -> None:
        for key in old.keys() | new.keys():
            o, n = old.get(key, {}), new.get(key, {})
            if o == n:
                continue
            scope, kind, minute = key.rsplit("|", 2)
            buckets = self.scopes[scope]
            bucket = f"{kind}|{minute}"
            slot = buckets.setdefault(bucket, {})
            for name in o.keys() | n.keys():
                val = slot.get(name, 0.0) + n.get(name, 0.0) - o.get(name, 0.0)
                if abs(val) < 1e-9:
                    slot.pop(name, None)
                else:
                    slot[name] = round(val, 6)
            if not slot:
                del buckets[bucket]
                if not buckets:
                    del self.scopes[scope]
            self.dirty.add(scope)

    def scope_partial(self, scope: str, horizon: int) -> dict[str, Any]:
        """Counters of one ``channel|scope`` newer than ``horizon`` (or still open)."""
        return {bucket: dict(val) for bucket, val in self.scopes.get(scope, {}).items()
                if bucket[0] != "t" or int(bucket[2:]) >= horizon}


def sum_window(partials: Iterable[Mapping[str, Any]], start: int,
               end: int | None = None) -> dict[str, float]:
    """Add up time-bucket counters with start <= minute (< end) across partitions."""
    return sum_windows(partials, {"w": (start, end)})["w"]


def sum_windows(partials: Iterable[Mapping[str, Any]],
                ranges: Mapping[str, tuple[int, int | None]]) -> dict[str, dict[str, float]]:
    """:func:`sum_window` for several ranges in one pass over the buckets."""
    totals: dict[str, dict[str, float]] = {name: {} for name in ranges}
    spans = [(totals[name], start, end) for name, (start, end) in ranges.items()]
    lowest = min((start for _, start, _ in spans), default=0)
    for part in partials:
        for key, val in part.items():
            if key[0] != "t":
                continue
            m = int(key[2:])
            if m < lowest:
                continue
            for total, start, end in spans:
                if m < start or (end is not None and m >= end):
                    continue
                for name, x in val.items():
                    total[name] = total.get(name, 0.0) + x
    return totals


def open_complaints(partials: Iterable[Mapping[str, Any]], now: int,
                    warn_ms: int) -> tuple[float, float, float]:
    """(open, overdue, due within the warning period) from the due-date buckets."""
    total = overdue = soon = 0.0
    for part in partials:
        for key, val in part.items():
            kind, minute = key.split("|")
            if kind != "due":
                continue
            n = val.get("open", 0.0)
            total += n
            if int(minute) < now:
                overdue += n
            elif int(minute) <= now + warn_ms:
                soon += n
    return total, overdue, soon


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def formulas(c: Mapping[str, float], overdue_open: float = 0.0) -> dict[str, Any]:
    """BRIEF §4 formulas over summed counters; None where the denominator is zero."""
    g = c.get
    offered = g("answered", 0) + g("abandoned", 0) + g("timeouts", 0)
    nps_n = g("nps_n", 0)
    due = g("complaints_closed", 0) + overdue_open
    return {
        "offered": offered, "answered": g("answered", 0), "abandoned": g("abandoned", 0),
        "short_abandons": g("short_abandons", 0), "timeouts": g("timeouts", 0),
        "queued": g("queued", 0), "handled": g("handled", 0), "contacts": g("contacts", 0),
        "service_level": _ratio(g("sl_met", 0), offered),
        "answer_rate": _ratio(g("answered", 0), offered),
        "abandonment_rate": _ratio(g("abandoned", 0), g("queued", 0)),
        "asa_s": _ratio(g("wait_sum", 0), g("wait_n", 0)),
        "aht_s": _ratio(g("handle_sum", 0), g("handle_n", 0)),
        "transfer_rate": _ratio(g("transferred", 0), g("handled", 0)),
        "fcr": (round(1 - g("repeat", 0) / g("fcr_eligible", 0), 4)
                if g("fcr_eligible", 0) else None),
        "repeat_contact_rate": _ratio(g("repeat", 0), g("fcr_eligible", 0)),
        "channel_switch_rate": _ratio(g("switch", 0), g("contacts", 0)),
        "handoff_with_context_rate": _ratio(g("switch_ctx", 0), g("switch", 0)),
        "handoffs_created": g("handoffs_created", 0),
        "handoffs_accepted": g("handoffs_accepted", 0),
        "csat": _ratio(g("csat_top2", 0), g("csat_n", 0)),
        "nps": round(100 * (g("nps_pro", 0) - g("nps_det", 0)) / nps_n, 2) if nps_n else None,
        "complaints_opened": g("complaints_opened", 0),
        "complaints_closed": g("complaints_closed", 0),
        "complaint_sla": _ratio(g("complaints_on_time", 0), due),
        "identity_conflicts": g("identity_conflicts", 0),
    }


def window_starts(now: int, cfg: KpiConfig) -> dict[str, int]:
    """First minute of each view: tumbling 1m, rolling 15m / 1h, and today (local day)."""
    cur = _minute(now)
    starts = {name: cur - (n - 1) * MINUTE_MS for name, n in WINDOWS.items()}
    local = now + cfg.day_offset_ms
    starts["today"] = local - local % DAY_MS - cfg.day_offset_ms
    return starts


def compute(partials: list[Mapping[str, Any]], now: int, cfg: KpiConfig) -> dict[str, Any]:
    """KPI values per window for one ``channel|scope``."""
    open_n, overdue, soon = open_complaints(partials, now, cfg.complaint_warn_ms)
    out: dict[str, Any] = {}
    sums = sum_windows(partials, {w: (start, None) for w, start in window_starts(now, cfg).items()})
    for window, total in sums.items():
        vals = formulas(total, overdue)
        vals.update(complaints_open=open_n, complaints_overdue=overdue,
                    complaints_due_soon=soon)
        out[window] = vals
    return out
