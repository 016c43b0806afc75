"""Build the provisioned Grafana dashboards (dashboards/*.json) from the panel lists below.

    python deploy/grafana/build_dashboards.py          # rewrite the JSON files
    python deploy/grafana/build_dashboards.py --check  # exit 1 if they are stale

Panels are declared as (title, PromQL, unit) so a metric rename is a one-line change and
a reviewer reads queries, not 2,000 lines of JSON. Every query is checked by tests/ops:
parsed by promtool and run against a live Prometheus.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DS = {"type": "prometheus", "uid": "ccb-prometheus"}
RI = "$__rate_interval"


def _panel(pid: int, title: str, exprs: list[tuple[str, str]], unit: str, x: int, y: int,
           w: int = 8, h: int = 8, kind: str = "timeseries", desc: str = "",
           thresholds: list[tuple[float | None, str]] | None = None) -> dict[str, Any]:
    steps = [{"color": c, "value": v} for v, c in (thresholds or [(None, "green")])]
    panel: dict[str, Any] = {
        "id": pid, "type": kind, "title": title, "description": desc, "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
                        "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "targets": [{"refId": chr(65 + i), "datasource": DS, "expr": expr, "legendFormat": legend,
                     "range": kind != "table", "instant": kind == "table"}
                    for i, (expr, legend) in enumerate(exprs)],
    }
    if kind == "stat":
        panel["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                            "colorMode": "background", "graphMode": "area", "textMode": "auto"}
    if kind == "table":
        panel["options"] = {"showHeader": True}
        panel["transformations"] = [{"id": "merge", "options": {}}]
    return panel


def _row(pid: int, title: str, y: int) -> dict[str, Any]:
    return {"id": pid, "type": "row", "title": title, "collapsed": False,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []}


def _layout(sections: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Place rows and their panels (3 per line, 8 units wide) top to bottom; ids unique."""
    panels: list[dict[str, Any]] = []
    y, pid = 0, 1
    for title, items in sections:
        panels.append(_row(pid, title, y))
        pid, y = pid + 1, y + 1
        for i, spec in enumerate(items):
            w = spec.pop("w", 8)
            x = (i % 3) * 8 if w == 8 else 0
            if i and (i % 3 == 0 or w != 8):
                y += 8
            panels.append(_panel(pid, x=x, y=y, w=w, **spec))
            pid += 1
        y += 8
    return panels


def _dashboard(uid: str, title: str, tags: list[str], panels: list[dict[str, Any]],
               templating: list[dict[str, Any]], desc: str) -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "description": desc, "tags": tags, "editable": False,
        "schemaVersion": 39, "version": 1, "timezone": "browser", "refresh": "5s",
        "time": {"from": "now-1h", "to": "now"}, "graphTooltip": 1,
        "annotations": {"list": [{
            "name": "Alerts", "datasource": DS, "enable": True, "iconColor": "red",
            "expr": 'ALERTS{alertstate="firing", alertname=~"Ccb.*"}',
            "titleFormat": "{{alertname}}", "textFormat": "{{severity}} {{job}}", "step": "30s"}]},
        "templating": {"list": templating},
        "panels": panels,
        "links": [{"title": "Runbook", "type": "link", "url": "https://git.bank.example/ccb/blob/main/docs/runbook.md"}],
    }


def _p(title: str, exprs: list[tuple[str, str]], unit: str = "short", **kw: Any) -> dict[str, Any]:
    return {"title": title, "exprs": exprs, "unit": unit, **kw}


def sre() -> dict[str, Any]:
    job = 'job=~"$job"'
    sections = [
        ("Throughput", [
            _p("Connector events received /s", [(f"sum by (connector) (rate(ccb_connector_received_total{{{job}}}[{RI}]))", "{{connector}}")], "reqps"),
            _p("Records acknowledged by Kafka /s", [(f'sum by (topic) (rate(ccb_producer_messages_total{{{job}, outcome="acked"}}[{RI}]))', "{{topic}}")], "reqps"),
            _p("Commands processed by workers /s", [(f"sum by (stage, outcome) (rate(ccb_processor_commands_total{{{job}}}[{RI}]))", "{{stage}} {{outcome}}")], "reqps"),
            _p("gRPC calls /s", [(f"sum by (method) (rate(ccb_grpc_requests_total{{{job}}}[{RI}]))", "{{method}}")], "reqps"),
            _p("Identity decisions /s (linked, merge, shared, conflict, deleted ...)", [
                (f"sum by (decision) (rate(ccb_identity_decisions_total{{{job}}}[{RI}]))", "{{decision}}")], "reqps"),
            _p("Duplicates absorbed /s", [(f"sum by (connector) (rate(ccb_connector_duplicates_total{{{job}}}[{RI}]))", "{{connector}}")], "reqps"),
        ]),
        ("Lag and freshness", [
            _p("Consumer lag (records)", [
                (f"sum by (group, topic) (ccb_consumer_lag_messages{{{job}}})", "{{group}} {{topic}}"),
                (f"sum by (instance, topic) (ccb_grpc_view_lag_messages{{{job}}})", "context view {{instance}} {{topic}}")], "short",
               thresholds=[(None, "green"), (10000, "orange"), (100000, "red")]),
            _p("Freshness: connector accepted -> context visible", [
                (f"histogram_quantile(0.5, sum by (le) (rate(ccb_freshness_seconds_bucket{{{job}}}[{RI}])))", "p50"),
                (f"histogram_quantile(0.99, sum by (le) (rate(ccb_freshness_seconds_bucket{{{job}}}[{RI}])))", "p99")], "s",
               thresholds=[(None, "green"), (0.25, "orange"), (1, "red")]),
            _p("Processing latency p99 (event time -> processed)", [
                (f"histogram_quantile(0.99, sum by (le, stage) (rate(ccb_processing_latency_seconds_bucket{{{job}}}[{RI}])))", "{{stage}}")], "s"),
            _p("Kafka acknowledgement latency p99", [
                (f"histogram_quantile(0.99, sum by (le, topic) (rate(ccb_publish_latency_seconds_bucket{{{job}}}[{RI}])))", "{{topic}}")], "s"),
            _p("Connector request -> Kafka ack p99", [
                (f"histogram_quantile(0.99, sum by (le, connector) (rate(ccb_connector_ack_latency_seconds_bucket{{{job}}}[{RI}])))", "{{connector}}")], "s"),
            _p("gRPC latency p99", [
                (f'histogram_quantile(0.99, sum by (le, method) (rate(ccb_grpc_request_duration_seconds_bucket{{{job}, method!~".*Watch.*"}}[{RI}])))', "{{method}}")], "s",
               thresholds=[(None, "green"), (0.01, "orange"), (0.05, "red")]),
        ]),
        ("Errors", [
            _p("Rejected source events /s by reason", [(f"sum by (connector, reason) (rate(ccb_connector_rejected_total{{{job}}}[{RI}]))", "{{connector}} {{reason}}")], "reqps"),
            _p("Dead letters /s by source and reason", [(f"sum by (source, reason) (rate(ccb_dead_letters_total{{{job}}}[{RI}]))", "{{source}} {{reason}}")], "reqps"),
            _p("Kafka records failed or refused /s", [(f'sum by (topic, outcome) (rate(ccb_producer_messages_total{{{job}, outcome!="acked"}}[{RI}]))', "{{topic}} {{outcome}}")], "reqps"),
            _p("Producer errors /s by code", [(f"sum by (client, code) (rate(ccb_producer_errors_total{{{job}}}[{RI}]))", "{{client}} {{code}}")], "reqps"),
            _p("gRPC errors /s by code", [(f'sum by (method, code) (rate(ccb_grpc_requests_total{{{job}, code!="OK"}}[{RI}]))', "{{method}} {{code}}")], "reqps"),
            _p("Kafka reachable", [(f"min by (job, client) (ccb_kafka_broker_reachable{{{job}}})", "{{job}} {{client}}")], "bool_yes_no",
               kind="stat", thresholds=[(None, "red"), (1, "green")]),
        ]),
        ("Saturation", [
            _p("Records awaiting Kafka ack", [
                (f"sum by (client) (ccb_producer_in_flight{{{job}}})", "{{client}}"),
                (f"sum by (connector) (ccb_connector_in_flight{{{job}}})", "connector {{connector}}")]),
            _p("Retryable refusals (503 / backpressure) /s", [(f"sum by (connector) (rate(ccb_connector_refused_total{{{job}}}[{RI}]))", "{{connector}}")], "reqps"),
            _p("Consumer rebalances (15 min)", [(f"sum by (instance) (increase(ccb_consumer_rebalances_total{{{job}}}[15m]))", "{{instance}}")]),
            _p("State size", [
                (f"sum by (instance, table) (ccb_state_bytes{{{job}}})", "worker {{instance}} {{table}}"),
                (f"sum by (instance) (ccb_grpc_view_customers{{{job}}})", "context view customers {{instance}}")], "short"),
            _p("CPU (cores)", [(f"sum by (job, instance) (rate(process_cpu_seconds_total{{{job}}}[{RI}]))", "{{job}} {{instance}}")], "short",
               thresholds=[(None, "green"), (0.8, "orange"), (0.95, "red")]),
            _p("Resident memory", [(f"sum by (job, instance) (process_resident_memory_bytes{{{job}}})", "{{job}} {{instance}}")], "bytes"),
            _p("Scrape targets up", [('up{job=~"ccb-.*"}', "{{job}} {{instance}}")], "bool_yes_no",
               kind="stat", thresholds=[(None, "red"), (1, "green")], w=24),
        ]),
    ]
    templating = [{
        "name": "job", "label": "Process", "type": "query", "datasource": DS,
        "query": {"query": 'label_values(up{job=~"ccb-.*"}, job)', "refId": "job"},
        "definition": 'label_values(up{job=~"ccb-.*"}, job)',
        "includeAll": True, "multi": True, "allValue": "ccb-.*", "refresh": 2,
        "current": {"text": "All", "value": "$__all"}}]
    return _dashboard("ccb-sre", "Customer-context backbone: SRE", ["ccb", "sre"], _layout(sections),
                      templating, "Throughput, lag, freshness, errors and saturation of every backbone process.")


def service_manager() -> dict[str, Any]:
    sel = 'channel=~"$channel", scope=~"$scope", window="$window"'

    def kpi(title: str, metric: str, unit: str, thresholds: list[tuple[float | None, str]] | None = None,
            desc: str = "") -> dict[str, Any]:
        return _p(title, [(f"{metric}{{{sel}}}", "{{channel}} {{scope}}")], unit, kind="stat",
                  thresholds=thresholds, desc=desc)

    pct_good = [(None, "red"), (0.8, "orange"), (0.9, "green")]
    sections = [
        ("Service level and access", [
            kpi("Service level (answered within threshold / offered)", "ccb_kpi_service_level", "percentunit", pct_good,
                "Phone 80/20 by default; short abandons (< 5 s) are excluded from offered."),
            kpi("Answer rate", "ccb_kpi_answer_rate", "percentunit", [(None, "red"), (0.88, "orange"), (0.95, "green")]),
            kpi("Abandon rate (short abandons excluded)", "ccb_kpi_abandonment_rate", "percentunit", [(None, "green"), (0.05, "orange"), (0.1, "red")]),
            kpi("ASA (mean wait to answer)", "ccb_kpi_asa_s", "s", [(None, "green"), (20, "orange"), (60, "red")]),
            kpi("AHT (talk + hold + after-call work)", "ccb_kpi_aht_s", "s"),
            kpi("Transfer rate", "ccb_kpi_transfer_rate", "percentunit", [(None, "green"), (0.1, "orange"), (0.2, "red")]),
        ]),
        ("Resolution and satisfaction", [
            kpi("First-contact resolution (7 days, all channels)", "ccb_kpi_fcr", "percentunit", pct_good),
            kpi("CSAT (top-2 box)", "ccb_kpi_csat", "percentunit", [(None, "red"), (0.9, "orange"), (0.97, "green")]),
            kpi("NPS", "ccb_kpi_nps", "none", [(None, "red"), (0, "orange"), (30, "green")]),
            kpi("Channel switch rate", "ccb_kpi_channel_switch_rate", "percentunit"),
            kpi("Handoff with context", "ccb_kpi_handoff_with_context_rate", "percentunit", pct_good,
                "Share of channel switches where the receiving side fetched the context."),
            kpi("Complaint SLA (closed by due date / due)", "ccb_kpi_complaint_sla", "percentunit", pct_good),
        ]),
        ("Volumes", [
            _p("Offered, answered, abandoned", [
                (f"sum by (channel) (ccb_kpi_offered{{{sel}}})", "offered {{channel}}"),
                (f"sum by (channel) (ccb_kpi_answered{{{sel}}})", "answered {{channel}}"),
                (f"sum by (channel) (ccb_kpi_abandoned{{{sel}}})", "abandoned {{channel}}")]),
            _p("Open complaints, due within 48 h, overdue", [
                ('max by (channel) (ccb_kpi_complaints_open{channel=~"$channel", scope="all"})', "open {{channel}}"),
                ('max by (channel) (ccb_kpi_complaints_due_soon{channel=~"$channel", scope="all"})', "due soon {{channel}}"),
                ('max by (channel) (ccb_kpi_complaints_overdue{channel=~"$channel", scope="all"})', "overdue {{channel}}")]),
            _p("Service level over time", [(f"ccb_kpi_service_level{{{sel}}}", "{{channel}} {{scope}}")], "percentunit",
               thresholds=[(None, "red"), (0.8, "green")]),
        ]),
        ("By queue and by branch", [
            _p("Queues (phone, chat): service level, answer rate, ASA", [
                ('ccb_kpi_service_level{scope=~"queue:.*", window="$window"}', "SL {{scope}}"),
                ('ccb_kpi_answer_rate{scope=~"queue:.*", window="$window"}', "answer {{scope}}"),
                ('ccb_kpi_asa_s{scope=~"queue:.*", window="$window"}', "ASA {{scope}}")], "short", kind="table", w=24),
            _p("Branches: service level, average wait, CSAT", [
                ('ccb_kpi_service_level{channel="BRANCH", scope=~"branch:.*", window="$window"}', "SL {{scope}}"),
                ('ccb_kpi_asa_s{channel="BRANCH", scope=~"branch:.*", window="$window"}', "wait {{scope}}"),
                ('ccb_kpi_csat{channel="BRANCH", scope=~"branch:.*", window="$window"}', "CSAT {{scope}}")], "short", kind="table", w=24),
        ]),
    ]

    def var(name: str, label: str, query: str) -> dict[str, Any]:
        return {"name": name, "label": label, "type": "query", "datasource": DS,
                "query": {"query": query, "refId": name}, "definition": query,
                "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2,
                "current": {"text": "All", "value": "$__all"}}

    templating = [
        var("channel", "Channel", "label_values(ccb_kpi_service_level, channel)"),
        var("scope", "Queue / branch", 'label_values(ccb_kpi_service_level{channel=~"$channel"}, scope)'),
        {"name": "window", "label": "Window", "type": "custom", "query": "1m,15m,1h,today",
         "current": {"text": "15m", "value": "15m"}, "includeAll": False, "multi": False,
         "options": [{"text": w, "value": w, "selected": w == "15m"} for w in ("1m", "15m", "1h", "today")]},
    ]
    return _dashboard("ccb-service-manager", "Customer service: live KPIs", ["ccb", "kpi"],
                      _layout(sections), templating,
                      "Live KPIs by channel, queue and branch, computed from the same event log as the customer timeline.")


DASHBOARDS = {"sre.json": sre, "service-manager.json": service_manager}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n" for name, build in DASHBOARDS.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for name, text in render().items():
        path = HERE / "dashboards" / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote deploy/grafana/dashboards/{name}")
    if stale:
        print(f"stale: {', '.join(stale)}: run python deploy/grafana/build_dashboards.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
