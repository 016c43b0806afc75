"""A real Prometheus server scrapes a process that publishes to the real local Kafka.

The process is this test: it exposes ``backbone.metrics`` with prometheus-client's HTTP
server and drives ``backbone.kafka.AsyncPublisher`` against the broker the project
starts. Prometheus (Debian's binary, 1 s scrape interval, temporary storage, our real
rule files) must see the producer series appear, then increase when more traffic flows;
every rule group must evaluate without error, and every dashboard query must be valid
PromQL on a live server.

``CCB_OPS_SCRAPE_TARGETS="ccb-connectors=127.0.0.1:9101,ccb-workers=127.0.0.1:9102"``
adds targets of an already running stack to the same scrape config.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from backbone.kafka import AsyncPublisher
from backbone.metrics import serve_metrics
from backbone.settings import Settings
from tests.ops.conftest import DEPLOY, PrometheusServer
from tests.ops.test_grafana import dashboard_queries

pytestmark = pytest.mark.integration

RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))


def scrape_config(metrics_port: int) -> dict[str, Any]:
    jobs: dict[str, list[str]] = {"ccb-connectors": [f"127.0.0.1:{metrics_port}"]}
    for item in filter(None, os.environ.get("CCB_OPS_SCRAPE_TARGETS", "").split(",")):
        job, target = item.split("=", 1)
        jobs.setdefault(job.strip(), []).append(target.strip())
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in RULES],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": targets}]}
            for job, targets in jobs.items()
        ],
    }


def value(result: list[dict[str, Any]]) -> float:
    return sum(float(r["value"][1]) for r in result)


async def test_prometheus_sees_producer_series_move(
    prometheus_server: PrometheusServer, settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()
    topic = settings.topic("interactions")
    client = f"ops-scrape-{uuid.uuid4().hex[:6]}"
    prometheus_server.start(scrape_config(serve_metrics(0)))
    prom = prometheus_server

    prom.wait_for('up{job="ccb-connectors"}', lambda r: bool(r) and value(r) == len(r))

    acked = f'ccb_producer_messages_total{{topic="{topic}",outcome="acked"}}'
    async with AsyncPublisher(settings, client_id=client) as publisher:
        await publisher.publish_all([(topic, f"k{i}", b"ops-test") for i in range(50)], 30)
        prom.wait_for(acked, lambda r: value(r) >= 50)
        prom.wait_for(f'ccb_kafka_broker_reachable{{client="{client}"}}', lambda r: value(r) == 1)
        prom.wait_for(f'ccb_producer_in_flight{{client="{client}"}}', lambda r: bool(r))

        await publisher.publish_all([(topic, f"k{i}", b"ops-test") for i in range(150)], 30)
        prom.wait_for(acked, lambda r: value(r) >= 200)

    # The counter moved between scrapes, so rate() and increase() see the traffic.
    prom.wait_for(f"increase({acked}[1m])", lambda r: value(r) > 0)
    latency = f'ccb_publish_latency_seconds_count{{topic="{topic}"}}'
    prom.wait_for(latency, lambda r: value(r) >= 200)
    prom.wait_for(f'histogram_quantile(0.99, sum by (le) (rate(ccb_publish_latency_seconds_bucket{{topic="{topic}"}}[1m])))',
                  lambda r: bool(r) and 0 < value(r) < 10)

    # The SRE dashboard's panels over the series that exist now show data.
    panels: dict[str, list[str]] = {}
    for title, expr in dashboard_queries():
        panels.setdefault(title, []).append(expr)
    for title in ("Records acknowledged by Kafka /s", "Kafka acknowledgement latency p99",
                  "Kafka reachable", "Records awaiting Kafka ack", "Scrape targets up",
                  "CPU (cores)", "Resident memory"):
        prom.wait_for(panels[f"ccb-sre: {title}"][0], bool)


def test_rules_and_dashboard_queries_run_on_a_live_server(
    prometheus_server: PrometheusServer,
) -> None:
    prometheus_server.start(scrape_config(serve_metrics(0)))
    prom = prometheus_server
    prom.wait_for('up{job="ccb-connectors"}', lambda r: value(r) >= 1)

    # Every group has been evaluated at least once and no rule errored.
    def evaluated() -> bool:
        groups = prom.api("rules")["groups"]
        return len(groups) >= len(RULES) and all(
            r.get("lastEvaluation", "").startswith("20") for g in groups for r in g["rules"])

    deadline = time.monotonic() + 15
    while not evaluated() and time.monotonic() < deadline:
        time.sleep(0.3)
    groups = prom.api("rules")["groups"]
    names = {g["name"] for g in groups}
    assert {"ccb-slo", "ccb-business"} <= names
    bad = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] != "ok"]
    assert bad == []

    # Each dashboard query (template variables filled in) is accepted by the server.
    queries = dashboard_queries()
    assert len(queries) > 10
    for title, expr in queries:
        try:
            prom.api("query", query=expr)
        except AssertionError as exc:
            raise AssertionError(f"dashboard query of {title!r} fails: {exc}") from None
