"""Source timestamps: parsing the formats channels send and refusing implausible ones."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from backbone.errors import ValidationError


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_ms(value: object, field: str) -> int:
    """ISO-8601 strings, epoch seconds or epoch milliseconds, to epoch milliseconds.

    Naive ISO strings are read as UTC, which is what the Segment spec prescribes.
    """
    if isinstance(value, bool) or value is None:
        raise ValidationError(f"{field} must be a timestamp", code="bad_timestamp", field=field)
    if isinstance(value, int | float):
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValidationError(f"{field} is not a number", code="bad_timestamp", field=field)
        return int(number if number > 1e11 else number * 1000)
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.replace(".", "", 1).isdigit():
                return parse_ms(float(text), field)
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except (ValueError, OverflowError) as exc:
            raise ValidationError(f"{field} is not an ISO-8601 timestamp", code="bad_timestamp",
                                  field=field) from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            return int(parsed.timestamp() * 1000)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValidationError(f"{field} is out of range", code="bad_timestamp",
                                  field=field) from exc
    raise ValidationError(f"{field} must be a timestamp", code="bad_timestamp", field=field)


def check_window(ms: int, field: str, *, max_age_s: int, max_skew_s: int,
                 now: int | None = None) -> int:
    """Refuse event times far in the past or the future: they would corrupt KPI windows."""
    current = now_ms() if now is None else now
    if ms > current + max_skew_s * 1000:
        raise ValidationError(f"{field} is in the future", code="timestamp_in_future", field=field)
    if ms < current - max_age_s * 1000:
        raise ValidationError(f"{field} is too old", code="timestamp_too_old", field=field)
    return ms
