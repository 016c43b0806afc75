"""Live KPIs (BRIEF §4): per-customer facts and the per-partition counters they add up to.

KPI counters are *derived* from the customer table, never stored beside it: each customer's
contacts, surveys, complaints and conflicts yield "facts" bucketed by event-time minute,
and a partition's counters are the sum of its customers' facts. Applying a customer update
adds (new facts − old facts). After a restart the counters are rebuilt from the recovered
table, so a replayed event (deduplicated by the customer state) can never be counted twice.

Queue statistics count queue entries (stream_processors/entries.py), customer-facing
counts count contacts; short abandons (queue wait < 5 s) are excluded from offered and
abandoned and reported on their own as ``short_abandons``. The formulas are in
:mod:`stream_processors.formulas`, the windows and intervals in :mod:`stream_processors.windows`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from backbone.business_time import DAY_MS, MINUTE_MS
from stream_processors import complaints
from stream_processors.entries import handle_s
from stream_processors.wrapups import wrapup_acw

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
    business_tz: str = "Asia/Shanghai"  # business day and reporting intervals
    conflict_spike: int = 5
    complaint_warn_ms: int = 2 * DAY_MS
    ring_cycle_s: float = 5.0  # one ring cycle; "three rings" = rings x ring_cycle_s
    rings: int = 3


def _minute(at: int) -> int:
    return at - at % MINUTE_MS


def _add(out: Facts, key: str, counters: Mapping[str, float]) -> None:
    slot = out.setdefault(key, {})
    for name, val in counters.items():
        if val:
            slot[name] = slot.get(name, 0.0) + val


def _entry_facts(e: Mapping[str, Any], ch: str, cfg: KpiConfig,
                 acw: float | None) -> dict[str, float]:
    """One queue entry's counters (docs/kpis.md): offered excludes short abandons."""
    f: dict[str, float] = {"entries": 1}
    if e.get("sh"):
        f["short_abandons"] = 1
    else:
        f["offered"] = 1
    if e.get("a") is not None and not e.get("ab"):  # a no-show (过号) was called, not served
        f["answered"] = 1
        wait = e.get("w")
        if wait is not None:
            f["wait_sum"] = wait
            f["wait_n"] = 1
            if wait <= cfg.sl_threshold_s.get(ch, 20.0):
                f["sl_met"] = 1
        ring = e.get("r")
        if ring is not None:
            f["ring_n"] = 1
            if ring <= cfg.rings * cfg.ring_cycle_s:
                f["rings_ok"] = 1
        if e.get("fr") is not None:
            f["frt_sum"] = max(0.0, (e["fr"] - e["j"]) / 1000)
            f["frt_n"] = 1
    if e.get("ab"):
        f["abandoned"] = 1
    if e.get("tmo"):
        f["timeouts"] = 1
    if e.get("done"):
        after = (acw if acw is not None else e.get("acw")) or 0.0  # a wrap-up, else the switch's
        hold = e.get("h", 0.0) or 0.0
        talk = handle_s(e) - hold
        f.update(handled=1, handle_sum=talk + hold + after, handle_n=1, talk_sum=talk,
                 hold_sum=hold, acw_sum=after)
    if e.get("x"):
        f["transferred"] = 1
    return f


def _branch_of(scope: str | None) -> str | None:
    return scope.split("/", 1)[0] if scope and scope.startswith("branch:") else None


def _journey_facts(c: Mapping[str, Any], later: list[Mapping[str, Any]],
                   hands: list[Mapping[str, Any]], cfg: KpiConfig) -> dict[str, float]:
    """Customer-facing counts of one contact: repeats (FCR) and channel switches."""
    f: dict[str, float] = {"contacts": 1}
    f["assisted_contacts" if c.get("e") else "self_service"] = 1
    if c.get("rs"):
        f["fcr_eligible"] = 1
        horizon = c["start"] + cfg.fcr_window_ms
        for o in later:  # sorted by start: stop at the end of the window
            if o["start"] > horizon:
                break
            if o.get("rs") == c["rs"] and o["start"] > c["start"]:
                f["repeat"] = 1
                break
    switch_end = c["start"] + cfg.switch_window_ms
    nxt = None
    for o in later:
        if o["start"] > switch_end:
            break
        if o["ch"] != c["ch"]:
            nxt = o
            break
    if nxt is not None:
        f["switch"] = 1
        if any(h.get("st") == "accepted" and h.get("from") == c["ch"]
               and h.get("to") == nxt["ch"]
               and c["start"] <= h.get("acc", h["at"]) <= nxt["end"] + cfg.switch_window_ms
               for h in hands):
            f["switch_ctx"] = 1
    return f


def facts(state: Mapping[str, Any] | None, cfg: KpiConfig) -> Facts:
    """Everything one customer contributes to the KPI counters: queue statistics per queue
    entry (bucketed by its join time), customer-facing counts per contact."""
    out: Facts = {}
    if not state or "contacts" not in state:
        return out
    cs = sorted(state["contacts"].values(), key=lambda c: c["start"])
    hands = list((state.get("handoffs") or {}).values())
    for idx, c in enumerate(cs):
        ch = c["ch"]
        entries = c.get("e") or ()
        cf = _journey_facts(c, cs[idx + 1:], hands, cfg)
        # An assisted contact counts in the interval it was first offered to a human (as
        # the switch's queue report counts the call), a self-service one at its start.
        minute = _minute(entries[0]["j"] if entries else c["start"])
        _add(out, f"{ch}|all|t|{minute}", cf)
        home = _branch_of(entries[0].get("sc")) if entries else None
        if home:
            _add(out, f"{ch}|{home}|t|{minute}", cf)
        acw = wrapup_acw(c, entries) if c.get("wu") or c.get("acw") is not None else {}
        for i, e in enumerate(entries):
            ef = _entry_facts(e, ch, cfg, acw.get(i))
            m = _minute(e["j"])
            _add(out, f"{ch}|all|t|{m}", ef)
            sc = e.get("sc")
            if sc:
                _add(out, f"{ch}|{sc}|t|{m}", ef)
                br = _branch_of(sc)
                if br and br != sc:
                    _add(out, f"{ch}|{br}|t|{m}", ef)
    for s in state.get("surveys") or ():
        f = {}
        score, top = s.get("score") or 0, s.get("max") or 0
        if s["kind"] == "CSAT":
            f = {"csat_n": 1, "csat_top2": 1 if score >= top - 1 else 0}
        elif s["kind"] == "NPS":
            ten = score * 10 / top if top and top != 10 else score  # 0-10 scale
            f = {"nps_n": 1, "nps_pro": 1 if ten >= 9 else 0, "nps_det": 1 if ten <= 6 else 0}
        _add(out, f"{s.get('ch', 'UNKNOWN')}|all|t|{_minute(s['at'])}", f)
    for comp in (state.get("complaints") or {}).values():
        ch = comp.get("ch", "UNKNOWN")
        for kind, at, counters in complaints.facts(comp):
            _add(out, f"{ch}|all|{kind}|{_minute(at)}", counters)
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
