"""Contact-centre KPIs computed straight from Asterisk ``queue_log`` lines: the reference.

Written apart from the product (nothing from ``stream_processors``), from the public
definitions (BRIEF §4) and the queue-entry rule: the unit is one ENTERQUEUE; a call
transferred into another queue is a new entry there. Intervals are clock-aligned in the
business time zone and an entry belongs to the interval of its ENTERQUEUE; a call (callid)
is one contact, in the interval of its first entry.

Lines are ``epoch|callid|queue|agent|EVENT|data...``; the data fields used are
CONNECT holdtime|bridged-uniqueid|ringtime, COMPLETEAGENT/COMPLETECALLER
holdtime|calltime|origposition, BLINDTRANSFER extension|context|holdtime|calltime|origposition,
ATTENDEDTRANSFER method|...|holdtime|calltime|origposition, ABANDON and EXITWITHTIMEOUT
position|origposition|waittime. Wrap-ups are the agent desktop's records
(``linkedid``, ``agent``, ``acw_s``, ``occurred_at``); a wrap-up belongs to the entry that
agent handled on that call (the queue_log callid is the caller channel's uniqueid, which
is the call's linkedid).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
SHORT_ABANDON_S = 5.0
COMPLETED = frozenset({"COMPLETEAGENT", "COMPLETECALLER"})
TRANSFERS = frozenset({"BLINDTRANSFER", "ATTENDEDTRANSFER"})
ENDS = COMPLETED | TRANSFERS | {"ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY",
                                "WITHDRAW"}
KPIS = ("offered", "answered", "abandoned", "short_abandons", "timeouts", "handled",
        "transferred", "service_level", "answer_rate", "abandonment_rate", "asa_s", "aht_s",
        "avg_acw_s", "transfer_rate", "three_rings_rate")
COUNTS = frozenset({"offered", "answered", "abandoned", "short_abandons", "timeouts",
                    "handled", "transferred", "contacts"})
Key = tuple[str, int | None]


@dataclass
class QueueEntry:
    callid: str
    queue: str
    enter_ms: int
    holdtime: float | None = None   # CONNECT: answered
    ringtime: float | None = None
    agent: str | None = None
    end: str | None = None          # the event that closed the entry
    end_ms: int | None = None
    waittime: float | None = None   # ABANDON / EXITWITHTIMEOUT
    calltime: float | None = None   # COMPLETE* / *TRANSFER
    acw_s: float = 0.0

    @property
    def short_abandon(self) -> bool:
        return self.end == "ABANDON" and (self.waittime or 0.0) < SHORT_ABANDON_S

    @property
    def handled(self) -> bool:
        return self.end in COMPLETED or self.end in TRANSFERS


def interval_start(ms: int, interval: str | None) -> int | None:
    """Start (epoch ms) of the clock-aligned business-time interval holding ``ms``."""
    if interval is None:
        return None
    local = datetime.fromtimestamp(ms / 1000, BUSINESS_TZ)
    if interval == "1d":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elif interval.endswith("m") and 60 % int(interval[:-1]) == 0:
        size = int(interval[:-1])
        start = local.replace(minute=local.minute - local.minute % size, second=0,
                              microsecond=0)
    else:
        raise ValueError(f"unknown interval {interval!r}")
    return round(start.timestamp() * 1000)


def _number(fields: list[str], index: int) -> float | None:
    try:
        return float(fields[index])
    except (IndexError, ValueError):
        return None


def entries(lines: Iterable[str]) -> list[QueueEntry]:
    """Queue entries in ENTERQUEUE order, closed by the line that ended each of them."""
    out: list[QueueEntry] = []
    open_: dict[tuple[str, str], QueueEntry] = {}
    for raw in lines:
        parts = raw.rstrip("\r\n").split("|")
        if len(parts) < 5:
            continue
        stamp, callid, queue, agent, event, data = (parts[0], parts[1], parts[2], parts[3],
                                                    parts[4], parts[5:])
        ms = round(float(stamp) * 1000)
        key = (callid, queue)
        if event == "ENTERQUEUE":
            open_[key] = entry = QueueEntry(callid, queue, ms)
            out.append(entry)
            continue
        entry = open_.get(key)
        if entry is None:  # not one of the entries this log saw start
            continue
        if event == "CONNECT":
            entry.holdtime, entry.ringtime = _number(data, 0), _number(data, 2)
            entry.agent = agent
        elif event in ENDS:
            entry.end, entry.end_ms = event, ms
            if event in ("ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY"):
                entry.waittime = _number(data, 2)
            elif event in COMPLETED or event in TRANSFERS:
                entry.calltime = _number(data, -2)
                entry.agent = entry.agent or agent
            del open_[key]
    return out


def attach_wrapups(found: list[QueueEntry], wrapups: Iterable[Mapping[str, Any]]) -> None:
    """Each wrap-up's acw_s to the entry its agent handled on that call (latest one that
    ended before the wrap-up, when the agent handled the call twice)."""
    seen: set[str] = set()
    for w in wrapups:
        if w.get("type", "wrapup") != "wrapup" or w.get("acw_s") is None:
            continue
        if w.get("id") is not None:
            if w["id"] in seen:
                continue
            seen.add(w["id"])
        mine = [e for e in found if e.handled and e.callid == w.get("linkedid")
                and e.agent == w.get("agent")]
        if not mine:
            continue
        at = w.get("occurred_at")
        before = [e for e in mine if at is None or (e.end_ms or 0) <= at]
        target = max(before or mine, key=lambda e: e.end_ms or 0)
        target.acw_s += float(w["acw_s"])


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def values(group: list[QueueEntry], *, sl_threshold_s: float = 20.0,
           ring_cycle_s: float = 5.0, rings: int = 3) -> dict[str, float | None]:
    short = sum(e.short_abandon for e in group)
    offered = len(group) - short
    answered = [e for e in group if e.holdtime is not None]
    handled = [e for e in group if e.handled]
    abandoned = sum(e.end == "ABANDON" and not e.short_abandon for e in group)
    transferred = sum(e.end in TRANSFERS for e in group)
    sl_met = sum((e.holdtime or 0.0) <= sl_threshold_s for e in answered)
    in_rings = sum(e.ringtime is not None and e.ringtime <= rings * ring_cycle_s
                   for e in answered)
    acw = sum(e.acw_s for e in handled)
    return {
        "offered": offered, "answered": len(answered), "abandoned": abandoned,
        "short_abandons": short, "timeouts": sum(e.end == "EXITWITHTIMEOUT" for e in group),
        "handled": len(handled), "transferred": transferred,
        "service_level": _ratio(sl_met, offered),
        "answer_rate": _ratio(len(answered), offered),
        "abandonment_rate": _ratio(abandoned, offered),
        "asa_s": _ratio(sum(e.holdtime or 0.0 for e in answered), len(answered)),
        "aht_s": _ratio(sum((e.calltime or 0.0) for e in handled) + acw, len(handled)),
        "avg_acw_s": _ratio(acw, len(handled)),
        "transfer_rate": _ratio(transferred, len(handled)),
        "three_rings_rate": _ratio(in_rings, len(answered)),
    }


def kpis(lines: Iterable[str], wrapups: Iterable[Mapping[str, Any]] = (), *,
         sl_threshold_s: float = 20.0, ring_cycle_s: float = 5.0, rings: int = 3,
         interval: str | None = "30m") -> dict[Key, dict[str, float | None]]:
    """(scope, interval start ms or None) -> KPI values, scopes ``all`` and ``queue:<q>``.

    ``contacts`` (scope ``all`` only) counts calls in the interval of their first entry.
    Ratios are None when the denominator is 0; nothing is rounded.
    """
    found = entries(lines)
    attach_wrapups(found, wrapups)
    groups: dict[Key, list[QueueEntry]] = {}
    first: dict[str, int] = {}
    for e in found:
        start = interval_start(e.enter_ms, interval)
        groups.setdefault(("all", start), []).append(e)
        groups.setdefault((f"queue:{e.queue}", start), []).append(e)
        first.setdefault(e.callid, e.enter_ms)
    contacts: dict[int | None, int] = {}
    for ms in first.values():
        start = interval_start(ms, interval)
        contacts[start] = contacts.get(start, 0) + 1
    out: dict[Key, dict[str, float | None]] = {}
    for key, group in groups.items():
        out[key] = values(group, sl_threshold_s=sl_threshold_s, ring_cycle_s=ring_cycle_s,
                          rings=rings)
        if key[0] == "all":
            out[key]["contacts"] = contacts.get(key[1], 0)
    return out
