"""Time windows over the minute buckets: trailing windows (1m, 15m, 1h, today) and
clock-aligned reporting intervals (15 and 30 minutes, the business day) in the business
time zone, as contact centres report them (Amazon Connect / Genesys interval reports)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from backbone.business_time import INTERVALS, interval_end, interval_start
from backbone.business_time import business_day_start as _day_start
from stream_processors.formulas import formulas, meaningful
from stream_processors.kpis import MINUTE_MS, WINDOWS, KpiConfig


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
    for m, val in _minutes(partials, lowest):
        for total, start, end in spans:
            if m < start or (end is not None and m >= end):
                continue
            for name, x in val.items():
                total[name] = total.get(name, 0.0) + x
    return totals


def _minutes(partials: Iterable[Mapping[str, Any]], since: int
             ) -> Iterator[tuple[int, Mapping[str, float]]]:
    """(minute, counters) of every time bucket from ``since`` on, across partitions."""
    for part in partials:
        for key, val in part.items():
            if key[0] == "t":
                m = int(key[2:])
                if m >= since:
                    yield m, val


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


def window_starts(now: int, cfg: KpiConfig) -> dict[str, int]:
    """First minute of each view: tumbling 1m, rolling 15m / 1h, and today (local day)."""
    cur = now - now % MINUTE_MS
    starts = {name: cur - (n - 1) * MINUTE_MS for name, n in WINDOWS.items()}
    starts["today"] = interval_start(now, INTERVALS["1d"], cfg.business_tz)
    return starts


def compute(partials: list[Mapping[str, Any]], now: int, cfg: KpiConfig) -> dict[str, Any]:
    """KPI values per trailing window for one ``channel|scope``."""
    open_n, overdue, soon = open_complaints(partials, now, cfg.complaint_warn_ms)
    out: dict[str, Any] = {}
    sums = sum_windows(partials, {w: (start, None) for w, start in window_starts(now, cfg).items()})
    for window, total in sums.items():
        vals = meaningful(formulas(total, overdue))
        vals.update(complaints_open=open_n, complaints_overdue=overdue,
                    complaints_due_soon=soon)
        out[window] = vals
    return out


def intervals(partials: Iterable[Mapping[str, Any]], since: int,
              cfg: KpiConfig) -> dict[str, dict[str, Any]]:
    """Clock-aligned interval KPIs for every interval with data from ``since`` on:
    ``"30m@<start_ms>"`` -> {"interval", "window_start", "window_end", "values"}."""
    per_minute: dict[int, dict[str, float]] = {}
    for m, val in _minutes(partials, since):
        slot = per_minute.setdefault(m, {})
        for name, x in val.items():
            slot[name] = slot.get(name, 0.0) + x
    acc: dict[tuple[str, int], dict[str, float]] = {}
    for m, counters in per_minute.items():
        for name, minutes in INTERVALS.items():
            total = acc.setdefault((name, interval_start(m, minutes, cfg.business_tz)), {})
            for k, x in counters.items():
                total[k] = total.get(k, 0.0) + x
    out: dict[str, dict[str, Any]] = {}
    for (name, start), total in acc.items():
        end = interval_end(start, name, cfg.business_tz)
        values = meaningful({k: (round(v, 6) if isinstance(v, float) else v)
                             for k, v in formulas(total).items()})
        out[f"{name}@{start}"] = {"interval": name, "window_start": start, "window_end": end,
                                  "values": values}
    return out


def business_day_start(at: int, cfg: KpiConfig, days_back: int = 0) -> int:
    return _day_start(at, cfg.business_tz, days_back)
