"""The live console's complaints and early warnings: alerts as WatchAlerts pushes them
(printed when they fire and clear), open complaints from ListComplaints, and the
complaint KPIs of today per channel (docs/alerts.md, docs/complaints.md)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import grpc

from backbone.context.v1 import context_pb2 as pb
from backbone.context.v1 import context_pb2_grpc as pb_grpc

COMPLAINT_KPIS = ("complaints_opened", "complaints_closed", "complaints_open",
                  "complaints_overdue", "complaint_sla", "complaint_resolution_rate",
                  "complaint_satisfaction")


class AlertTail(threading.Thread):
    """Follows WatchAlerts in a daemon thread and prints every transition."""

    def __init__(self, stub: pb_grpc.CustomerContextServiceStub,
                 metadata: tuple[tuple[str, str], ...]) -> None:
        super().__init__(name="alert-tail", daemon=True)
        self.stub = stub
        self.metadata = metadata
        self.fired: Counter[str] = Counter()
        self.cleared: Counter[str] = Counter()
        self.active: dict[str, pb.Alert] = {}
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                for update in self.stub.WatchAlerts(pb.WatchAlertsRequest(),
                                                    metadata=self.metadata):
                    if update.HasField("alert"):
                        self._show(update.alert, update.initial)
            except grpc.RpcError:
                self._stop.wait(2.0)  # the service is not up yet, or restarting

    def _show(self, a: pb.Alert, initial: bool) -> None:
        key = f"{a.alert}|{a.channel}|{a.scope}"
        if a.state == "firing":
            if key in self.active:
                return
            self.active[key] = a
            if not initial:
                self.fired[a.alert] += 1
        else:
            if self.active.pop(key, None) is None:
                return
            self.cleared[a.alert] += 1
        value = f"{a.value:.2f}" if a.has_value else "no data"
        stamp = time.strftime("%H:%M:%S", time.localtime(a.at_ms / 1000))
        print(f"  ALERT {stamp} {a.state.upper():8} {a.severity:8} {a.alert:28} "
              f"{a.channel}/{a.scope}  value {value}  {a.message}", flush=True)

    def summary(self) -> None:
        names = sorted(set(self.fired) | set(self.cleared) | {
            a.alert for a in self.active.values()})
        print("== early warnings in this run (fired / cleared / still firing)")
        for name in names:
            still = sum(1 for a in self.active.values() if a.alert == name)
            print(f"           {name:28} {self.fired[name]:3} / {self.cleared[name]:3} / {still}")
        if not names:
            print("           none")


def print_complaints(stub: pb_grpc.CustomerContextServiceStub,
                     metadata: tuple[tuple[str, str], ...]) -> None:
    """Open complaints by status and owner, and today's complaint KPIs per channel."""
    try:
        found = stub.ListComplaints(pb.ListComplaintsRequest(page_size=1000,
                                                             purpose="console"),
                                    metadata=metadata, timeout=2)
        kpis = stub.GetLiveKpis(pb.GetLiveKpisRequest(window="today"), metadata=metadata,
                                timeout=2)
    except grpc.RpcError as exc:
        print(f"           complaints unavailable: {exc.code().name} {exc.details()}")
        return
    by_status = Counter(c.status for c in found.complaints)
    overdue = sum(1 for c in found.complaints if c.overdue)
    owned = sum(1 for c in found.complaints if c.owner or c.team)
    print(f"           complaints open {found.total}  {dict(sorted(by_status.items()))}  "
          f"owned {owned}  overdue {overdue}")
    for snap in sorted(kpis.snapshots, key=lambda s: s.channel):
        values: dict[str, Any] = {v.name: v.value for v in snap.values}
        if snap.scope not in ("", "all") or not values.get("complaints_opened"):
            continue
        shown = "  ".join(f"{k}={values[k]:g}" for k in COMPLAINT_KPIS if k in values)
        print(f"           {pb.Channel.Name(snap.channel)[8:]:8} today {shown}")
