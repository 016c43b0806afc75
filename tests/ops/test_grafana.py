"""The provisioned Grafana dashboards are well-formed and every query is valid PromQL.

Grafana itself is not run here (no Debian package); what is checked: the provisioning
files, the dashboard JSON structure Grafana needs (unique uids and panel ids, grid
inside 24 columns, the provisioned datasource uid), that the JSON is what
build_dashboards.py generates, that every query parses in promtool (Prometheus' own
parser), and -- in test_prometheus_scrape.py -- that every query runs on a live server.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tests.ops.conftest import DEPLOY, run

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
# Values a Grafana user would pick; the queries must be valid PromQL with any of them.
VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h",
             "$job": "ccb-.*", "$channel": ".*", "$scope": ".*", "$window": "15m"}


def expand(expr: str) -> str:
    for name in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, VARIABLES[name])
    return expr


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL with template variables filled in) for every dashboard query."""
    found = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{board['uid']}: {panel['title']}", expand(target["expr"])))
        for ann in board.get("annotations", {}).get("list", []):
            if ann.get("expr"):
                found.append((f"{board['uid']}: annotation {ann['name']}", expand(ann["expr"])))
    return found


def test_dashboards_are_generated_from_build_script() -> None:
    result = run([sys.executable, str(GRAFANA / "build_dashboards.py"), "--check"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_two_dashboards_sre_and_service_manager() -> None:
    uids = {json.loads(p.read_text())["uid"] for p in DASHBOARDS}
    assert uids == {"ccb-sre", "ccb-service-manager"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_structure(path: Path) -> None:
    yaml = pytest.importorskip("yaml", reason="pyyaml missing: run deploy/ops/install-tools.sh")
    board = json.loads(path.read_text())
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    ds_uid = datasources["datasources"][0]["uid"]
    assert board["title"] and board["schemaVersion"] >= 36
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == ds_uid, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == ds_uid
            assert target["expr"].strip()
    # Panels do not overlap: no two panels share a grid cell.
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        g = panel["gridPos"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
    for var in board["templating"]["list"]:
        assert f"${var['name']}" in VARIABLES, f"test does not know variable {var['name']}"


def test_provisioning_points_at_the_dashboards() -> None:
    yaml = pytest.importorskip("yaml", reason="pyyaml missing: run deploy/ops/install-tools.sh")
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/ccb.yml").read_text())
    assert providers["apiVersion"] == 1
    path = providers["providers"][0]["options"]["path"]
    compose = (DEPLOY / "compose" / "compose.yaml").read_text()
    assert f"../grafana/dashboards:{path}" in compose


def test_every_query_parses_in_promtool(promtool: str, tmp_path: Path) -> None:
    """promtool check rules runs Prometheus' PromQL parser over each expression."""
    yaml = pytest.importorskip("yaml", reason="pyyaml missing: run deploy/ops/install-tools.sh")
    queries = dashboard_queries()
    rules = [{"record": f"dashboard:query_{i}", "expr": expr} for i, (_, expr) in enumerate(queries)]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run([promtool, "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(queries)} rules found" in result.stdout


def test_no_query_uses_customer_level_labels() -> None:
    forbidden = re.compile(r"\b(customer|customer_id|phone|openid|unionid|token|card)\s*[=!~]")
    for title, expr in dashboard_queries():
        assert not forbidden.search(expr), title
