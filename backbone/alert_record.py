"""The alert transition record on ``ccb.alerts``: one definition for the writer (the KPI
stage) and the readers (the context service's WatchAlerts, the wallboard), checked
against ``schemas/json/alert/v1.json``."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from backbone.errors import ValidationError

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas/json/alert/v1.json"


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def key(alert: str, channel: str, scope: str) -> bytes:
    return f"{alert}|{channel}|{scope}".encode()


def build(alert: str, channel: str, scope: str, state: str, *, at: int, since: int,
          severity: str, value: float | None, threshold: float, message: str) -> dict[str, Any]:
    record = {"schema_version": SCHEMA_VERSION, "alert": alert, "channel": channel,
              "scope": scope, "state": state, "at": at, "since": since, "severity": severity,
              "value": value, "threshold": threshold, "message": message}
    check(record)
    return record


def check(record: Any) -> dict[str, Any]:
    """The record if it follows the contract; ValidationError otherwise."""
    error = next(iter(_validator().iter_errors(record)), None)
    if error is not None:
        raise ValidationError(f"alert record: {error.message[:200]}", code="bad_alert",
                              field=".".join(str(p) for p in error.path) or None)
    return record


def parse(raw: bytes) -> dict[str, Any]:
    try:
        record = json.loads(raw)
    except ValueError as exc:
        raise ValidationError("alert record is not JSON", code="bad_alert") from exc
    return check(record)
