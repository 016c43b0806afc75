"""Prometheus gauges for live KPIs, labelled by channel, scope and window only
(never a customer id), plus processor counters. Labelled children are cached: ``labels()``
costs about three times the increment itself (BRIEF §9)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Gauge

_KPI_GAUGES: dict[str, Gauge] = {}
_CHILDREN: dict[tuple[str, ...], Any] = {}

PROCESSED = Counter("ccb_processor_commands_total",
                    "Commands handled by each processor stage, by outcome.", ["stage", "outcome"])
IDENTITY_DECISIONS = Counter("ccb_identity_decisions_total",
                             "Identity link decisions (linked, shared, conflict, merge, deleted).",
                             ["decision"])


def processed(stage: str, outcome: str) -> Any:
    """The cached ``PROCESSED`` child for (stage, outcome)."""
    key = ("p", stage, outcome)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = PROCESSED.labels(stage, outcome)
    return child


def decision(kind: str) -> Any:
    key = ("d", kind)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = IDENTITY_DECISIONS.labels(kind)
    return child


def _gauge(name: str) -> Gauge:
    gauge = _KPI_GAUGES.get(name)
    if gauge is None:
        gauge = Gauge(f"ccb_kpi_{name}", f"Live KPI {name} (see BRIEF §4).",
                      ["channel", "scope", "window"])
        _KPI_GAUGES[name] = gauge
    return gauge


def publish(channel: str, scope: str, window: str, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        if isinstance(value, int | float):
            key = ("k", name, channel, scope, window)
            child = _CHILDREN.get(key)
            if child is None:
                child = _CHILDREN[key] = _gauge(name).labels(channel, scope, window)
            child.set(value)
