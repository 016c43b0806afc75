"""Alertmanager routing (deploy/prometheus/alertmanager.yml) with the real ``amtool``
(Debian's prometheus-alertmanager): the config loads, every early warning reaches the
supervisors of its channel, critical ones also page, and platform alerts go to the SREs."""

from __future__ import annotations

import pytest

from tests.ops.conftest import DEPLOY, find_tool, run

CONFIG = DEPLOY / "prometheus" / "alertmanager.yml"


@pytest.fixture(scope="module")
def amtool() -> str:
    return find_tool("amtool")


def receivers(amtool: str, *labels: str) -> list[str]:
    result = run([amtool, "config", "routes", "test", f"--config.file={CONFIG}", *labels])
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().split(",")


def test_config_is_valid(amtool: str) -> None:
    result = run([amtool, "check-config", str(CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("labels, expected", [
    (("alertname=CcbEarlyWarning", "audience=supervisor", "severity=warning",
      "channel=PHONE", "scope=queue:cards", "alert=asa_above_threshold"),
     ["contact-centre-supervisors"]),
    (("alertname=CcbEarlyWarning", "audience=supervisor", "severity=warning",
      "channel=BRANCH", "scope=branch:b1"), ["branch-supervisors"]),
    (("alertname=CcbEarlyWarning", "audience=supervisor", "severity=warning",
      "channel=WECHAT", "scope=all"), ["digital-supervisors"]),
    (("alertname=CcbEarlyWarningCritical", "audience=supervisor", "severity=critical",
      "channel=PHONE", "scope=all", "alert=complaint_overdue"),
     ["supervisor-pager", "contact-centre-supervisors"]),
    (("alertname=CcbServiceLevelBelowTarget", "audience=service-manager",
      "severity=warning", "channel=PHONE"), ["contact-centre-supervisors"]),
    (("alertname=CcbConsumerLagCritical", "severity=critical"), ["sre-pager"]),
    (("alertname=CcbFreshnessSlow", "severity=warning"), ["sre"]),
])
def test_alerts_reach_the_right_people(amtool: str, labels: tuple[str, ...],
                                       expected: list[str]) -> None:
    assert receivers(amtool, *labels) == expected
