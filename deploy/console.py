"""The run command's live console: throughput from each process's /metrics, live KPIs and a
sample customer's context from the gRPC service, as an agent desktop would see them."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import grpc

from backbone.context.v1 import context_pb2 as pb
from backbone.context.v1 import context_pb2_grpc as pb_grpc
from backbone.settings import Settings
from deploy import run
from deploy.console_alerts import AlertTail, print_complaints

# In this order, where the processors published them (a channel that does not queue has
# no queue statistics; app and web browsing shows self-service figures instead).
SHOWN_KPIS = ("contacts", "offered", "answered", "abandoned", "service_level", "answer_rate",
              "abandonment_rate", "asa_s", "aht_s", "transfer_rate", "three_rings_rate",
              "first_response_s", "self_service", "fcr", "csat", "nps")
INTERVAL_KPIS = ("offered", "answered", "abandoned", "service_level", "asa_s", "aht_s")


class Console:
    def __init__(self, settings: Settings, *, connectors_port: int, worker_ports: list[int],
                 service_port: int):
        self.settings = settings
        self.connectors_port = connectors_port
        self.worker_ports = worker_ports
        self.service_port = service_port
        self.started = time.monotonic()
        self.last: dict[str, float] = {}
        self.last_t = time.monotonic()
        token = settings.grpc_tokens.get("supervisor-dev|supervisor")
        self.metadata = (("authorization", f"Bearer {token.get_secret_value()}"),) if token else ()
        self.channel = grpc.insecure_channel(f"{settings.grpc_host}:{settings.grpc_port}")
        self.stub = pb_grpc.CustomerContextServiceStub(self.channel)
        self.alerts = AlertTail(self.stub, self.metadata)  # prints as alerts fire and clear

    def wait_ready(self, children: list[Any], timeout_s: float) -> None:
        from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: PLC0415

        deadline = time.monotonic() + timeout_s
        health = health_pb2_grpc.HealthStub(self.channel)
        pending = {"context-service", "connectors", *(f"worker-{i}" for i in range(len(self.worker_ports)))}
        while pending and time.monotonic() < deadline:
            for child in children:
                if not child.alive():
                    raise SystemExit(f"error: {child.name} exited during start-up; see .stack/logs/{child.name}.log")
            try:
                resp = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if resp.status == health_pb2.HealthCheckResponse.SERVING:
                    pending.discard("context-service")
            except grpc.RpcError:
                pass
            if run.scrape(self.connectors_port):
                pending.discard("connectors")
            for i, port in enumerate(self.worker_ports):
                if run.scrape(port):
                    pending.discard(f"worker-{i}")
            time.sleep(0.5)
        if pending:
            raise SystemExit(f"error: not ready after {timeout_s:.0f}s: {', '.join(sorted(pending))}")
        print(f"ready      all processes up after {time.monotonic() - self.started:.1f}s")
        self.alerts.start()

    def tick(self) -> None:
        conn = run.scrape(self.connectors_port)
        workers: dict[str, float] = {}
        for port in self.worker_ports:
            for k, v in run.scrape(port).items():
                workers[k] = workers.get(k, 0.0) + v
        svc = run.scrape(self.service_port)
        now = time.monotonic()
        accepted = conn.get("ccb_producer_messages_total{acked}", 0.0)
        # Events the last stage (the customer context) applied, duplicates dropped included.
        processed = sum(v for k, v in workers.items()
                        if k.startswith("ccb_processor_commands_total{") and k.endswith("{customer}"))
        rate = (accepted - self.last.get("accepted", 0.0)) / max(now - self.last_t, 1e-6)
        prate = (processed - self.last.get("processed", 0.0)) / max(now - self.last_t, 1e-6)
        self.last = {"accepted": accepted, "processed": processed}
        self.last_t = now
        rejected = conn.get("ccb_connector_rejected_total", 0.0)
        customers = svc.get("ccb_grpc_view_customers", 0.0)
        print(f"[{now - self.started:6.0f}s] accepted {accepted:7.0f} ({rate:6.0f}/s)  "
              f"processed {processed:7.0f} ({prate:6.0f}/s)  rejected {rejected:4.0f}  "
              f"customers in view {customers:5.0f}")
        self.ticks = getattr(self, "ticks", 0) + 1
        if self.ticks % 5 == 1:
            self.print_kpis()
            print_complaints(self.stub, self.metadata)
        if self.ticks % 15 == 1:
            self.print_intervals()

    def print_kpis(self) -> None:
        try:
            resp = self.stub.GetLiveKpis(pb.GetLiveKpisRequest(window="15m"), timeout=2,
                                         metadata=self.metadata)
        except grpc.RpcError as exc:
            print(f"           KPIs unavailable: {exc.code().name} {exc.details()}")
            return
        for snap in sorted(resp.snapshots, key=lambda s: (s.channel, s.scope)):
            if snap.scope not in ("", "all") or snap.channel == pb.CHANNEL_UNSPECIFIED:
                continue  # per-queue/branch scopes and identity-conflict counts: see Grafana
            values = {v.name: v.value for v in snap.values}
            shown = "  ".join(f"{k}={_fmt(values[k])}" for k in SHOWN_KPIS if k in values)
            print(f"           {pb.Channel.Name(snap.channel)[8:]:8} {snap.window:5} {shown}")

    def print_intervals(self, interval: str = "30m") -> None:
        """Today's clock-aligned phone intervals, as the switch's interval report shows them."""
        try:
            resp = self.stub.GetKpiIntervals(pb.GetKpiIntervalsRequest(
                channels=[pb.CHANNEL_PHONE], scope="all", interval=interval), timeout=2,
                metadata=self.metadata)
        except grpc.RpcError as exc:
            print(f"           intervals unavailable: {exc.code().name} {exc.details()}")
            return
        print(f"           today's {interval} intervals (PHONE, all queues, business time zone)")
        for snap in resp.intervals[-6:]:
            values = {v.name: v.value for v in snap.values}
            shown = "  ".join(f"{k}={_fmt(values[k])}" for k in INTERVAL_KPIS if k in values)
            start = datetime.fromtimestamp(snap.window_start_ms / 1000,
                                           ZoneInfo(self.settings.business_tz)).strftime("%H:%M")
            print(f"           {start}  {shown}")

    def summary(self) -> None:
        """Show one customer's full context, as an agent desktop would receive it."""
        self.print_intervals()
        print_complaints(self.stub, self.metadata)
        self.alerts.summary()
        print("== a customer's context from GetCustomerContext (supervisor view, masked)")
        try:
            resp = self.stub.GetLiveKpis(pb.GetLiveKpisRequest(), timeout=2, metadata=self.metadata)
            print(f"           {len(resp.snapshots)} KPI snapshots live")
        except grpc.RpcError:
            pass
        # The simulator numbers its customers C00000000, C00000001, ...: show the busiest
        # of the first few, looked up by customer number as a branch advisor would.
        best = None
        for n in range(8):
            lookup = pb.CustomerLookup(identifier=pb.IdentifierKey(type="CUSTOMER_NUMBER",
                                                                    value=f"C{n:08d}"))
            try:
                found = self.stub.GetCustomerContext(
                    pb.GetCustomerContextRequest(lookup=lookup, purpose="demo",
                                                 timeline=pb.TimelineQuery(page_size=12)),
                    timeout=3, metadata=self.metadata).context
            except grpc.RpcError:
                continue
            if best is None or len(found.timeline) > len(best.timeline):
                best = found
        if best is None:
            print("           no simulated customer found in the context view")
            return
        ctx = best
        print(f"customer   {ctx.customer_id}  version {ctx.freshness.version}  "
              f"contacts 7d {ctx.counts.contacts_7d}")
        for ident in ctx.identities:
            print(f"  identity {ident.type:15} {ident.value}{'  (verified)' if ident.verified else ''}")
        for j in ctx.open_journeys:
            chans = ",".join(pb.Channel.Name(c)[8:] for c in j.channels)
            print(f"  journey  {j.reason or '-':20} {j.status:8} via {chans}  tried {list(j.tried)}")
        for e in ctx.timeline:
            print(f"  {time.strftime('%H:%M:%S', time.localtime(e.occurred_at_ms / 1000))} "
                  f"{pb.Channel.Name(e.channel)[8:]:8} {e.event_type:28} {e.summary}")


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.2f}"
