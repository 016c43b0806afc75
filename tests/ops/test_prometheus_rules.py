"""The Prometheus config and alert rules are valid, and every alert is unit-tested.

Runs the real ``promtool`` (Debian's prometheus package): ``check config`` parses the
config with the server's own loader (rule files and file_sd target files included),
``check rules`` parses every PromQL expression, ``test rules`` evaluates every alert
against synthetic series and compares labels and rendered annotations exactly.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.ops.conftest import DEPLOY, ROOT, run

yaml = pytest.importorskip("yaml", reason="pyyaml missing: run deploy/ops/install-tools.sh")

PROM = DEPLOY / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
TEST_FILES = sorted((PROM / "tests").glob("*.yml"))


def alerts() -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found[rule["alert"]] = rule
    return found


def test_config_is_valid(promtool: str) -> None:
    result = run([promtool, "check", "config", str(PROM / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    # check config also loads the rule files it references: make sure it found them all.
    for path in RULE_FILES:
        assert path.name in result.stdout + result.stderr


def test_rules_parse(promtool: str) -> None:
    result = run([promtool, "check", "rules", *map(str, RULE_FILES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass(promtool: str) -> None:
    result = run([promtool, "test", "rules", *map(str, TEST_FILES)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES), result.stdout


def test_every_alert_has_a_firing_and_a_quiet_test() -> None:
    """A rule is only tested if some test expects it to fire and some test expects silence."""
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = set(alerts())
    assert names, "no alert rules found"
    assert names - fired == set(), f"alerts never expected to fire: {sorted(names - fired)}"
    assert names - quiet == set(), f"alerts never expected to stay quiet: {sorted(names - quiet)}"


def test_alerts_carry_severity_summary_and_a_runbook_section_that_exists() -> None:
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    anchors = {_anchor(h) for h in re.findall(r"^#+\s+(.+)$", runbook, re.M)}
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        ann = rule["annotations"]
        assert ann.get("summary") and ann.get("description"), name
        target = ann["runbook"].split("#", 1)
        assert target[0] == "docs/runbook.md" and target[1] in anchors, (name, ann["runbook"])


def _anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_targets_follow_the_port_plan() -> None:
    """The file_sd targets are loopback ports the processes are documented to use."""
    metrics_doc = (ROOT / "docs" / "metrics.md").read_text()
    for path in sorted((PROM / "targets").glob("*.yml")):
        for group in yaml.safe_load(path.read_text()):
            for target in group["targets"]:
                host, port = target.rsplit(":", 1)
                assert host == "127.0.0.1", target
                assert f"| {port} |" in metrics_doc, f"port {port} ({path.name}) not in docs/metrics.md"


def test_rules_never_group_by_customer_data() -> None:
    """Bounded cardinality: no rule aggregates or filters by a customer-level label."""
    forbidden = re.compile(r"\b(customer|customer_id|phone|openid|unionid|token|card|msisdn)\b")
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                assert not forbidden.search(rule["expr"]), (path.name, rule.get("alert"))


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rule_files_are_yaml_with_groups(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert doc["groups"] and all(g["rules"] for g in doc["groups"])
