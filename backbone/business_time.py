"""The business time zone's clock: clock-aligned reporting intervals (15 and 30 minutes,
the business day) shared by the KPI processors and the context service."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
# Reporting interval name -> minutes ("1d" is the business day, midnight to midnight).
INTERVALS: dict[str, int] = {"15m": 15, "30m": 30, "1d": 1440}


@lru_cache(maxsize=4096)
def _offset_ms(tz: str, hour: int) -> int:
    """UTC offset of ``tz`` during the UTC hour ``hour`` (epoch hours); cached per hour."""
    off = datetime.fromtimestamp(hour * 3600, UTC).astimezone(ZoneInfo(tz)).utcoffset()
    return int(off.total_seconds() * 1000) if off else 0


def interval_start(at: int, minutes: int, tz: str) -> int:
    """Start (epoch ms) of the clock-aligned interval of ``minutes`` containing ``at``."""
    off = _offset_ms(tz, at // HOUR_MS)
    local = at + off
    return local - local % (minutes * MINUTE_MS) - off


def interval_end(start: int, name: str, tz: str) -> int:
    """End (exclusive) of the interval ``name`` that starts at ``start``."""
    minutes = INTERVALS[name]
    if name != "1d":
        return start + minutes * MINUTE_MS
    return interval_start(start + DAY_MS + HOUR_MS, minutes, tz)  # DST-safe next midnight


def business_day_start(at: int, tz: str, days_back: int = 0) -> int:
    return interval_start(at - days_back * DAY_MS, INTERVALS["1d"], tz)
