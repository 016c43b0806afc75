"""The alert transition record on ``ccb.alerts``: one definition for the writer (the KPI
stage) and the readers (the context service's WatchAlerts, the wallboard), checked
against ``schemas/json/alert/v1.json``."""

from __future__ import annotations

from typing import Any

from backbone import json_contract

SCHEMA_VERSION = 1
SCHEMA_FILE = json_contract.schema_file("alert", SCHEMA_VERSION)


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
    return json_contract.check(SCHEMA_FILE, record, what="alert", code="bad_alert")


def parse(raw: bytes) -> dict[str, Any]:
    record = json_contract.loads(raw, what="alert", code="bad_alert")
    return check(record)
