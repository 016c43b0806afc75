"""The KPI snapshot record on ``ccb.kpis``: one definition for the writer (the KPI stage)
and the reader (the context service's KPI view), checked against
``schemas/json/kpi/v1.json``.

The builders do not validate: the KPI stage writes thousands of records a second and the
schema check costs more than computing them. Tests validate what the stage writes with the
JSON Schema (:func:`check`); the reader checks every record it applies with the same rules
written out (:func:`check_fast`, ~100x cheaper).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn

from backbone import json_contract
from backbone.errors import ValidationError

SCHEMA_VERSION = 1
SCHEMA_FILE = json_contract.schema_file("kpi", SCHEMA_VERSION)


def key(channel: str, scope: str, window: str) -> bytes:
    """``channel|scope|window``; an interval's window is ``<interval>@<start_ms>``."""
    return f"{channel}|{scope}|{window}".encode()


def window_record(channel: str, scope: str, window: str, *, window_start: int, as_of: int,
                  values: Mapping[str, float]) -> dict[str, Any]:
    """A trailing window (1m, 15m, 1h, today)."""
    return {"schema_version": SCHEMA_VERSION, "channel": channel, "scope": scope,
            "window": window, "window_start": window_start, "as_of": as_of, "values": values}


def interval_record(channel: str, scope: str, interval: str, *, window_start: int,
                    window_end: int, as_of: int, values: Mapping[str, float]) -> dict[str, Any]:
    """A clock-aligned reporting interval (15m, 30m, 1d) starting at ``window_start``."""
    return {"schema_version": SCHEMA_VERSION, "channel": channel, "scope": scope,
            "window": f"{interval}@{window_start}", "interval": interval,
            "window_start": window_start, "window_end": window_end, "as_of": as_of,
            "values": values}


def check(record: Any) -> dict[str, Any]:
    """The record if it follows the contract; ValidationError otherwise."""
    return json_contract.check(SCHEMA_FILE, record, what="KPI", code="bad_kpi")


WINDOWS = frozenset({"1m", "15m", "1h", "today"})
INTERVALS = frozenset({"15m", "30m", "1d"})
_FIELDS = frozenset({"schema_version", "channel", "scope", "window", "window_start", "as_of",
                     "values"})
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _refuse(message: str, field: str | None = None) -> NoReturn:
    raise ValidationError(f"KPI record: {message}", code="bad_kpi", field=field)


def _time(record: dict[str, Any], name: str) -> None:
    value = record.get(name)
    if type(value) is not int or value < 0:
        _refuse(f"{name} must be an epoch-ms integer", name)


def check_fast(record: Any) -> dict[str, Any]:
    """The same contract as :func:`check`, written out: the reader applies every record
    of the topic, and jsonschema costs ~0.37 ms a record (tests/unit/test_kpi_record.py
    holds the two to the same verdicts)."""
    if not isinstance(record, dict):
        _refuse("not an object")
    keys = record.keys()
    interval = record.get("interval")
    allowed = _FIELDS | {"interval", "window_end"} if interval is not None else _FIELDS
    if not _FIELDS <= keys or not keys <= allowed:
        _refuse(f"fields {sorted(keys ^ (_FIELDS & keys | _FIELDS))} missing or unknown")
    if record["schema_version"] != SCHEMA_VERSION or type(record["schema_version"]) is not int:
        _refuse("schema_version must be 1", "schema_version")
    for name in ("channel", "scope"):
        if not isinstance(record[name], str) or not record[name]:
            _refuse(f"{name} must be a non-empty string", name)
    _time(record, "window_start")
    _time(record, "as_of")
    window = record["window"]
    if interval is None:
        if window not in WINDOWS:
            _refuse(f"window {window!r} is not one of {sorted(WINDOWS)}", "window")
    else:
        if interval not in INTERVALS:
            _refuse(f"interval {interval!r} is not one of {sorted(INTERVALS)}", "interval")
        if "window_end" not in keys:
            _refuse("a reporting interval needs window_end", "window_end")
        _time(record, "window_end")
        head, at, start = window.partition("@") if isinstance(window, str) else ("", "", "")
        if head not in INTERVALS or not at or not start.isascii() or not start.isdigit():
            _refuse(f"window {window!r} is not <interval>@<start_ms>", "window")
    values = record["values"]
    if not isinstance(values, dict):
        _refuse("values must be an object", "values")
    for name, value in values.items():
        if not _NAME.fullmatch(name) or type(value) not in (int, float):
            _refuse(f"value {name!r} must be a number named in snake_case", "values")
    return record


def parse(raw: bytes) -> dict[str, Any]:
    record = json_contract.loads(raw, what="KPI", code="bad_kpi")
    return check_fast(record)
