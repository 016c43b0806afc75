"""docs/metrics.md is the one table of metrics: everything emitted or used is in it.

Fails when a process adds a metric without documenting it, or when an alert rule or a
dashboard uses a name the table does not know (a typo, or a rename that left them behind).
"""

from __future__ import annotations

import re

from tests.ops.conftest import DEPLOY, ROOT
from tests.ops.test_grafana import dashboard_queries

DOC = ROOT / "docs" / "metrics.md"
CODE_DIRS = ("backbone", "connectors", "stream_processors", "services")
SUFFIXES = ("_bucket", "_count", "_sum")


def documented() -> tuple[set[str], set[str]]:
    """(metric names in backticks, KPI names listed in the ccb_kpi_<kpi> row)."""
    text = DOC.read_text()
    names = set(re.findall(r"`(ccb_[a-z0-9_]+)`", text))
    kpi_row = next(line for line in text.splitlines() if line.startswith("| `ccb_kpi_<kpi>`"))
    kpis = set(re.findall(r"`([a-z0-9_]+)`", kpi_row.split("|")[4]))
    return names, kpis


def is_documented(name: str, names: set[str], kpis: set[str]) -> bool:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in names:
            return True
    return name in names or (name.startswith("ccb_kpi_") and name.removeprefix("ccb_kpi_") in kpis)


# ccb_-prefixed strings in code that are not metric names.
NOT_METRICS = frozenset({"ccb_assertion"})  # the login-assertion field apps send in traits


def emitted_in_code() -> set[str]:
    found: set[str] = set()
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            found |= set(re.findall(r"[\"'](ccb_[a-z0-9_]*[a-z0-9])[\"']", path.read_text()))
    return found - NOT_METRICS


def used_by_rules_and_dashboards() -> set[str]:
    text = "".join(p.read_text() for p in (DEPLOY / "prometheus" / "rules").glob("*.yml"))
    text += "".join(expr for _, expr in dashboard_queries())
    return set(re.findall(r"\b(ccb_[a-z0-9_]+)", text))


def test_every_metric_in_code_is_documented() -> None:
    names, kpis = documented()
    missing = sorted(n for n in emitted_in_code() if not is_documented(n, names, kpis))
    assert missing == [], f"add these to docs/metrics.md: {missing}"


def test_every_kpi_gauge_is_documented() -> None:
    from stream_processors import formulas

    _, kpis = documented()
    exported = set(formulas.formulas({})) | {"complaints_open", "complaints_overdue",
                                               "complaints_due_soon"}
    assert exported - kpis == set(), f"KPIs missing from docs/metrics.md: {exported - kpis}"


def test_rules_and_dashboards_use_documented_names() -> None:
    names, kpis = documented()
    unknown = sorted(n for n in used_by_rules_and_dashboards() if not is_documented(n, names, kpis))
    assert unknown == [], f"rules/dashboards use undocumented metrics: {unknown}"


def test_metric_names_follow_conventions() -> None:
    rows = [r for r in DOC.read_text().splitlines() if r.startswith("| `ccb_")]
    for name in (r.split("`")[1] for r in rows):
        assert re.fullmatch(r"ccb_[a-z0-9_<>]+", name), name
        assert not name.endswith(("_ms", "_milliseconds", "_count", "_sum")), name
    # Labels in the table never name customer-level data.
    text = DOC.read_text()
    labels = " ".join(row.split("|")[3] for row in text.splitlines()
                      if row.startswith("| `ccb_") and row.count("|") > 5)
    for forbidden in ("customer", "phone", "openid", "unionid", "token", "card"):
        assert f"`{forbidden}" not in labels, forbidden
